"""Params of the metrics evaluators (pydantic, no torch).

Every evaluator is called as ``evaluator(real=..., fake=...)`` with image tensors (N, C, H, W)
in [-1, 1] (C = 1 or 3); paired metrics (psnr, ssim, lpips) need equal shapes, distribution
metrics (fid, kid, precision_recall) accept different N. Extra inputs (e.g. batch=) are ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ldmcore.params import Params


class PsnrParams(Params):
    """Peak signal-to-noise ratio on [0, 1] images, averaged over images (inf if identical)."""


class SsimParams(Params):
    """Structural similarity (Wang et al. 2004): Gaussian window, sigma 1.5, 11 taps."""

    sigma: float = Field(1.5, gt=0)
    k1: float = 0.01
    k2: float = 0.03


class LpipsParams(Params):
    """LPIPS (Zhang et al. 2018) with a VGG16 / AlexNet backbone; weights from local files."""

    net: Literal["alex", "vgg"] = "alex"
    weights: str | None = Field(
        None, description="the LPIPS linear-layer file (e.g. LPIPS v0.1 alex.pth), or a full "
        "LPIPS state dict holding the backbone too"
    )
    backbone_weights: str | None = Field(
        None, description="torchvision alexnet / vgg16 state dict (only features.* is used)"
    )
    batch_size: int = Field(32, gt=0)


class FeatureParams(Params):
    """Where distribution metrics get their features from.

    inception: torchvision Inception-v3 pool features (2048-d), weights from `weights`
        (a torchvision inception_v3 state dict; nothing is downloaded).
    dataset: a small CNN trained here on a dataset (default: the spec's training dataset, else
        the shapes world) to predict its labels, cached at `weights` (trained if the file is
        missing). Results are named dataset_feature_*: not comparable to Inception FID.
    """

    features: Literal["inception", "dataset"] = "dataset"
    weights: str | None = None
    dataset: str | None = Field(None, description="dataset component for dataset features")
    dataset_params: dict[str, Any] = Field(default_factory=dict)
    feature_size: int = Field(32, ge=16, description="image side the dataset CNN sees")
    train_steps: int = Field(400, gt=0)
    train_batch_size: int = Field(64, gt=0)
    seed: int = 0
    batch_size: int = Field(64, gt=0, description="batch size of feature extraction")
    progress: bool = True


class FidParams(FeatureParams):
    """Frechet distance between Gaussian fits of real and fake features (Heusel et al. 2017)."""


class KidParams(FeatureParams):
    """Kernel inception distance: unbiased MMD^2, cubic polynomial kernel, over subsets."""

    num_subsets: int = Field(50, gt=0)
    subset_size: int = Field(1000, gt=1)


class PrecisionRecallParams(FeatureParams):
    """Improved precision / recall (Kynkaanniemi et al. 2019): k-NN manifolds of features."""

    k: int = Field(3, gt=0)


class BicubicBaselineParams(Params):
    """Super-resolution baseline: PSNR / SSIM of bicubic upsampling of the task's low-res
    input against the real images (read from batch=)."""

    key: str = Field("lowres", description="batch key of the low-res input")
    sigma: float = Field(1.5, gt=0, description="SSIM Gaussian window sigma")


class KnownRegionParams(Params):
    """Inpainting: mean absolute error in [0, 1] units outside the mask (batch=)."""

    mask_key: str = Field("mask", description="batch key of the mask (1 = fill)")
