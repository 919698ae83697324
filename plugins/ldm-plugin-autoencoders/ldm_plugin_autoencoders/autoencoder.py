"""The `kl` and `vq` first stages: E, D, quant_conv / post_quant_conv (+ codebook for vq).

Interface used by ldmcore (FirstStage): ``encode(x, sample=, generator=) -> z`` (unscaled) and
``decode(z) -> x``; both switch to tiled processing above ``params.tile_size``.

Interface used by the first-stage trainer (issue 5):

- ``reconstruct(x, generator=None) -> (x_rec, aux)``: one training forward pass; ``aux`` is the
  posterior (`DiagonalGaussian`, kl) or the `Quantized` result (vq: ``.loss``, ``.perplexity``).
- ``last_layer() -> Parameter``: ``decoder.conv_out.weight``, for the adaptive GAN weight.
- ``make_loss() -> AutoencoderLoss``: the objective (see ``losses/objective.py``) holding the
  discriminator; ``generator_loss(x, x_rec, aux, step, last_layer)`` and
  ``discriminator_loss(x, x_rec, step)``, both returning ``(loss, logs)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ldmcore.interfaces import FirstStage

from .distributions import DiagonalGaussian
from .networks import Decoder, Encoder
from .params import AutoencoderParams, KLParams, VQParams
from .quantize import Quantized, VectorQuantizer
from .tiling import tiled_apply


class _Autoencoder(FirstStage):
    """Shared E/D with the CompVis names; subclasses define the latent in between."""

    def __init__(self, p: AutoencoderParams, double_z: bool, quant_in: int, quant_out: int) -> None:
        super().__init__()
        self.params = p
        self.factor = p.factor
        self.encoder = Encoder(p, double_z)
        self.decoder = Decoder(p)
        self.quant_conv = nn.Conv2d(quant_in, quant_out, 1)
        self.post_quant_conv = nn.Conv2d(p.embed_dim, p.z_channels, 1)
        self.scale_factor.fill_(p.scale_factor)
        self.shift_factor.fill_(p.shift_factor)

    # ------------------------------------------------------------------ tiling
    def _tiles(self, side_px: int) -> bool:
        return self.params.tile_size is not None and side_px > self.params.tile_size

    def _encode_raw(self, x: torch.Tensor) -> torch.Tensor:
        """quant_conv(E(x)), tiled over the image when it exceeds tile_size."""
        def run(t: torch.Tensor) -> torch.Tensor:
            return self.quant_conv(self.encoder(t))

        if not self._tiles(max(x.shape[-2:])):
            return run(x)
        tile, f = self.params.tile_size, self.factor
        overlap = int(tile * self.params.tile_overlap) // f * f
        return tiled_apply(run, x, tile, overlap, 1.0 / f, align=f)

    def _decode_raw(self, z: torch.Tensor, run: Any) -> torch.Tensor:
        """run(z) -> image, tiled over the latent when the image would exceed tile_size."""
        if not self._tiles(max(z.shape[-2:]) * self.factor):
            return run(z)
        tile = self.params.tile_size // self.factor
        overlap = int(tile * self.params.tile_overlap)
        return tiled_apply(run, z, tile, overlap, float(self.factor))

    # ------------------------------------------------------------------ training API
    def last_layer(self) -> nn.Parameter:
        """The decoder's last weight, where the adaptive GAN weight compares gradients."""
        return self.decoder.conv_out.weight

    def make_loss(self) -> nn.Module:
        """A fresh first-stage objective (with its discriminator) from ``params.loss``."""
        from .losses.objective import AutoencoderLoss

        return AutoencoderLoss(self.params.loss, regulariser=self.regulariser,
                               image_channels=self.params.out_ch)

    regulariser = "none"


class KLAutoencoder(_Autoencoder):
    """KL-regularised autoencoder: E(x) -> q(z|x) = N(mean, diag(var)), z = mean or a sample."""

    regulariser = "kl"

    def __init__(self, p: KLParams) -> None:
        super().__init__(p, True, 2 * p.z_channels, 2 * p.embed_dim)

    def encode_posterior(self, x: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian(self._encode_raw(x))

    def encode(
        self, x: torch.Tensor, *, sample: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        posterior = self.encode_posterior(x)
        return posterior.sample(generator) if sample else posterior.mode()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self._decode_raw(z, lambda t: self.decoder(self.post_quant_conv(t)))

    def reconstruct(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, DiagonalGaussian]:
        """x_rec = D(z), z ~ q(z|x) (sampled, as in training); aux = the posterior."""
        posterior = DiagonalGaussian(self.quant_conv(self.encoder(x)))
        return self.decoder(self.post_quant_conv(posterior.sample(generator))), posterior


class VQAutoencoder(_Autoencoder):
    """VQ autoencoder; `encode` gives the pre-quantisation latent, `decode` quantises first."""

    regulariser = "vq"

    def __init__(self, p: VQParams) -> None:
        super().__init__(p, False, p.z_channels, p.embed_dim)
        self.quantize = VectorQuantizer(p.n_embed, p.embed_dim, p.beta)

    def encode(
        self, x: torch.Tensor, *, sample: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The continuous latent quant_conv(E(x)); diffusion runs here (no randomness)."""
        return self._encode_raw(x)

    def decode(self, z: torch.Tensor, *, force_not_quantize: bool | None = None) -> torch.Tensor:
        """D(post_quant_conv(q(z))); q is skipped if `force_not_quantize` (default: params)."""
        skip = force_not_quantize
        if skip is None:
            skip = not self.params.decode_quantize

        def run(t: torch.Tensor) -> torch.Tensor:
            return self.decoder(self.post_quant_conv(t if skip else self.quantize(t).z_q))

        return self._decode_raw(z, run)

    def reconstruct(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, Quantized]:
        """x_rec = D(q(E(x))); aux = the `Quantized` result (codebook loss, perplexity)."""
        q = self.quantize(self.quant_conv(self.encoder(x)))
        return self.decoder(self.post_quant_conv(q.z_q)), q
