"""Registers the image-quality evaluators (no torch at import time)."""

from __future__ import annotations

from ldmcore.plugins import hookimpl

from .params import (
    BicubicBaselineParams,
    FidParams,
    KidParams,
    KnownRegionParams,
    LpipsParams,
    PrecisionRecallParams,
    PsnrParams,
    SsimParams,
)


def _psnr(p: PsnrParams, ctx):
    from .evaluators import Psnr

    return Psnr()


def _ssim(p: SsimParams, ctx):
    from .evaluators import Ssim

    return Ssim(p.sigma, p.k1, p.k2)


def _lpips(p: LpipsParams, ctx):
    from .evaluators import LpipsMetric
    from .lpips import build_lpips

    return LpipsMetric(build_lpips(p.net, p.weights, p.backbone_weights), p.batch_size)


def _reference(ctx):
    from .reference import ReferenceSet

    return ReferenceSet(ctx) if getattr(ctx, "spec", None) is not None else None


def _fid(p: FidParams, ctx):
    from .evaluators import Fid
    from .features import build_features

    return Fid(build_features(p, ctx), _reference(ctx))


def _kid(p: KidParams, ctx):
    from .evaluators import Kid
    from .features import build_features

    return Kid(build_features(p, ctx), p.num_subsets, p.subset_size, p.seed, _reference(ctx))


def _pr(p: PrecisionRecallParams, ctx):
    from .evaluators import PrecisionRecall
    from .features import build_features

    return PrecisionRecall(build_features(p, ctx), p.k, _reference(ctx))


def _bicubic(p: BicubicBaselineParams, ctx):
    from .task_metrics import BicubicBaseline

    return BicubicBaseline(p.key, p.sigma)


def _known(p: KnownRegionParams, ctx):
    from .task_metrics import KnownRegion

    return KnownRegion(p.mask_key)


@hookimpl
def ldmcore_register_components(register):
    register("evaluator", "psnr", PsnrParams, _psnr, description="PSNR (dB), paired")
    register("evaluator", "ssim", SsimParams, _ssim, description="SSIM, paired")
    register("evaluator", "lpips", LpipsParams, _lpips,
             description="LPIPS (AlexNet/VGG) from local weights, paired")
    register("evaluator", "fid", FidParams, _fid,
             description="FID on Inception (local weights) or dataset-trained CNN features")
    register("evaluator", "kid", KidParams, _kid, description="KID (unbiased MMD^2, cubic kernel)")
    register("evaluator", "precision_recall", PrecisionRecallParams, _pr,
             description="improved precision/recall on k-NN feature manifolds, every level")
    register("evaluator", "bicubic_baseline", BicubicBaselineParams, _bicubic,
             description="super-resolution baseline: PSNR/SSIM of bicubic upsampling")
    register("evaluator", "known_region", KnownRegionParams, _known,
             description="inpainting: mean abs error outside the mask, [0, 1] units")
