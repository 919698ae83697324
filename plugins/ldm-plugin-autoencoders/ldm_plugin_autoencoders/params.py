"""Params of the first stages (pydantic only, no torch at import time).

Defaults of `kl` are the Stable Diffusion VAE (KL-f8, z=4); field names follow the CompVis
``ddconfig`` so an ``first_stage_config.params.ddconfig`` block can be copied over.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ldmcore.params import FirstStageParams, Latent, Params


class LossParams(Params):
    """The first-stage objective (Sec. 3.1 / Appendix G): L1 + LPIPS + PatchGAN + regulariser.

    Used only when training the first stage (`FirstStage.make_loss()`); ignored at inference.
    """

    #: weight of the pixel L1 term |x - x_rec|
    pixel_weight: float = Field(1.0, ge=0)
    #: weight of the perceptual term (LPIPS, or the weight-free substitute without weights)
    perceptual_weight: float = Field(1.0, ge=0)
    #: LPIPS-VGG16 weights (backbone + linear heads), .safetensors or .pth; null = substitute
    lpips_weights: str | None = None
    #: global step from which the adversarial terms are active (CompVis: 50001 for kl-f8)
    disc_start: int = Field(50001, ge=0)
    #: multiplies the adaptive weight lambda = |grad rec| / |grad adv| (CompVis disc_weight)
    disc_weight: float = Field(0.5, ge=0)
    #: multiplies both adversarial losses once active (CompVis disc_factor)
    disc_factor: float = Field(1.0, ge=0)
    #: PatchGAN depth (stride-2 layers after the first); 3 for 256 px, 2 for tiny images
    disc_layers: int = Field(3, ge=1)
    #: width of the first PatchGAN layer
    disc_channels: int = Field(64, ge=1)
    #: upper clamp of the adaptive weight
    adaptive_weight_max: float = Field(1e4, gt=0)
    #: KL weight (kl only); scaled exactly as in CompVis (see losses/objective.py)
    kl_weight: float = Field(1e-6, ge=0)
    #: weight of the codebook + commitment loss (vq only)
    codebook_weight: float = Field(1.0, ge=0)


class AutoencoderParams(FirstStageParams):
    """Encoder/decoder shape shared by `kl` and `vq` (CompVis ddconfig names)."""

    ch: int = Field(128, gt=0)
    ch_mult: list[int] = Field(default_factory=lambda: [1, 2, 4, 4], min_length=1)
    num_res_blocks: int = Field(2, ge=1)
    #: feature-map side lengths (at `resolution`) that get a self-attention block per resblock
    attn_resolutions: list[int] = Field(default_factory=list)
    #: nominal training resolution; only used to place `attn_resolutions`
    resolution: int = Field(256, gt=0)
    in_channels: int = Field(3, gt=0)
    out_ch: int = Field(3, gt=0)
    z_channels: int = Field(4, gt=0)
    embed_dim: int = Field(4, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    #: self-attention in the middle blocks (mid.attn_1); off in some small models
    mid_attention: bool = True
    #: GroupNorm groups (CompVis: 32); every channel count must divide by it
    norm_groups: int = Field(32, gt=0)
    #: optional check: the downsampling factor f = 2^(len(ch_mult)-1) must equal this
    f: int | None = None
    #: initial values of the FirstStage buffers (z_scaled = (z - shift) * scale)
    scale_factor: float = 1.0
    shift_factor: float = 0.0
    #: tiled encode/decode above this image side (pixels); null = never tile
    tile_size: int | None = Field(None, gt=0)
    #: overlap between neighbouring tiles, as a fraction of the tile side: a quarter of it on
    #: each side is discarded (zero-padding effects), the middle half cross-fades linearly.
    #: GroupNorm statistics are per tile, so tiled output is close to, not equal to, untiled.
    tile_overlap: float = Field(0.25, ge=0, lt=1)
    loss: LossParams = Field(default_factory=LossParams)

    @property
    def factor(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)

    @model_validator(mode="after")
    def _check(self) -> AutoencoderParams:
        if self.f is not None and self.f != self.factor:
            raise ValueError(
                f"f={self.f} but ch_mult {self.ch_mult} gives f={self.factor} "
                f"(f = 2^(len(ch_mult)-1))"
            )
        widths = {self.ch * m for m in self.ch_mult}
        bad = sorted(w for w in widths if w % self.norm_groups)
        if bad:
            raise ValueError(f"channel widths {bad} are not divisible by norm_groups "
                             f"{self.norm_groups} (ch * ch_mult)")
        if self.tile_size is not None and self.tile_size % self.factor:
            raise ValueError(f"tile_size {self.tile_size} must be a multiple of f={self.factor}")
        return self

    def latent_port(self) -> Latent:
        return Latent(self.embed_dim, self.factor)


class KLParams(AutoencoderParams):
    """KL-regularised autoencoder (`kl`): E(x) gives a diagonal Gaussian N(mean, exp(logvar))."""

    #: encoder outputs 2 * z_channels (mean and log-variance); CompVis always sets it for kl
    double_z: bool = True

    @model_validator(mode="after")
    def _double(self) -> KLParams:
        if not self.double_z:
            raise ValueError("kl needs double_z: true (the encoder outputs mean and logvar)")
        return self


class VQParams(AutoencoderParams):
    """Vector-quantised autoencoder (`vq`); diffusion runs on the pre-quantisation latent."""

    double_z: bool = False
    #: codebook size
    n_embed: int = Field(8192, gt=0)
    #: beta of the VQ loss ||sg[z_q] - z||^2 + beta ||z_q - sg[z]||^2 (CompVis legacy order)
    beta: float = Field(0.25, ge=0)
    #: quantise inside `decode` (the LDM default: quantisation is part of the decoder)
    decode_quantize: bool = True

    @model_validator(mode="after")
    def _single(self) -> VQParams:
        if self.double_z:
            raise ValueError("vq needs double_z: false")
        return self


class IdentityParams(FirstStageParams):
    """Pixel space (LDM-1): z = x."""

    channels: int = Field(3, gt=0)
    scale_factor: float = 1.0
    shift_factor: float = 0.0

    def latent_port(self) -> Latent:
        return Latent(self.channels, 1)
