"""Image guidance (LDM Appendix C): steer any sample towards a target image y.

    ε̂ = ε(z_t, c) − s √(1−ᾱ_t) ∇_{z_t} log p(y | z_t),   log p(y | z_t) = −½ ‖y − T(D(ẑ0(z_t)))‖²

with ẑ0 = (z_t − √(1−ᾱ_t) ε) / √ᾱ_t, D the first-stage decoder and T a fixed degradation from the
decoded size to y's size. The paper's use (Fig. 14) samples an unconditional model convolutionally
at 2× its training size and guides it with a 1× image, T = bicubic downsampling. T here:

    bicubic   antialiased bicubic resize to y's size (the paper's T; the default)
    area      average over the pixels each output pixel covers (= k×k average pooling at factor k)
    identity  y has the decoded size (guidance towards y itself)

The gradient flows through the denoiser and the decoder (autograd w.r.t. z_t).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch.nn import functional as F

from ldmcore.errors import SamplingError

from .guiders import GradientGuider

Transform = Literal["bicubic", "area", "identity"]
TRANSFORMS: tuple[str, ...] = ("bicubic", "area", "identity")


def degrade(image: torch.Tensor, size: tuple[int, int], transform: str) -> torch.Tensor:
    """T: the decoded image (B, C, H, W) mapped to `size` (h, w) ≤ (H, W)."""
    h, w = size
    H, W = image.shape[-2:]
    if transform == "identity":
        if (h, w) != (H, W):
            raise SamplingError(
                f"guider 'image_l2': transform=identity needs y at the sampled image size "
                f"{H}×{W}, got {h}×{w} (use guider.params.transform=bicubic to downsample)"
            )
        return image
    if transform not in TRANSFORMS:
        raise SamplingError(
            f"guider 'image_l2': unknown transform '{transform}' (one of {', '.join(TRANSFORMS)})"
        )
    if h > H or w > W:
        raise SamplingError(
            f"guider 'image_l2': y is {h}×{w}, larger than the sampled image {H}×{W}; T only "
            "downsamples (sample at y's size or larger, e.g. latent_size / --size)"
        )
    if (h, w) == (H, W):
        return image
    if transform == "area":
        return F.interpolate(image, size=(h, w), mode="area")
    return F.interpolate(image, size=(h, w), mode="bicubic", align_corners=False, antialias=True)


class ImageL2Guidance(GradientGuider):
    """guidance={'y': image in [-1, 1], (B or 1, C, h, w)}: pull T(D(ẑ0)) towards y."""

    name = "image_l2"
    inputs = required = ("y",)
    y: torch.Tensor | None = None

    def __init__(self, scale: float, transform: Transform = "bicubic") -> None:
        super().__init__(scale)
        if transform not in TRANSFORMS:
            raise SamplingError(
                f"guider 'image_l2': unknown transform '{transform}' "
                f"(one of {', '.join(TRANSFORMS)})"
            )
        self.transform = transform

    def bind(self, *, decode=None, **inputs):
        if decode is None:
            raise SamplingError("guider 'image_l2' needs the model's decode (use model.sample)")
        y = inputs.get("y")
        if y is not None and (not torch.is_tensor(y) or y.ndim != 4):
            raise SamplingError("guider 'image_l2': guidance y must be a (B, C, H, W) image tensor")
        return super().bind(decode=decode, **inputs)

    def degrade(self, image: torch.Tensor) -> torch.Tensor:
        """T(image) at y's size, after checking y's batch and channels against the image."""
        y = self.y
        if y.shape[1] != image.shape[1]:
            raise SamplingError(
                f"guider 'image_l2': y has {y.shape[1]} channels, the model's images have "
                f"{image.shape[1]}"
            )
        if y.shape[0] not in (1, image.shape[0]):
            raise SamplingError(
                f"guider 'image_l2': y has {y.shape[0]} images for a batch of {image.shape[0]} "
                "(give 1 or one per sample)"
            )
        return degrade(image, (y.shape[-2], y.shape[-1]), self.transform)

    def log_prob_of(self, z: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, schedule: Any):
        x0 = schedule.eps_to_x0(eps, z, t)  # ẑ0 = (z_t − √(1−ᾱ_t) ε̂) / √ᾱ_t
        image = self.degrade(self.decode(x0))
        y = self.y.to(image)
        return -0.5 * (y - image).pow(2).flatten(1).sum(1)
