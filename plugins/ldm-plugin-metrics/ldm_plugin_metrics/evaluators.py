"""The metric evaluators. Call: evaluator(real=..., fake=...) with images (N, C, H, W) in
[-1, 1]; other inputs are ignored. Each returns {metric name: value}; `notes` describes keys."""

from __future__ import annotations

from typing import Any

import torch

from ldmcore.errors import DataError
from ldmcore.interfaces import Evaluator

from . import stats
from .features import Features
from .images import image_batch, paired, rgb, to01
from .pixel import psnr, ssim


class Psnr(Evaluator):
    notes = {"psnr": "PSNR in dB on [0, 1] images, mean over images (inf if identical)"}

    def __call__(self, **inputs: Any) -> dict[str, float]:
        r, f = paired(inputs.get("real"), inputs.get("fake"))
        return {"psnr": float(psnr(to01(r), to01(f)).mean())}


class Ssim(Evaluator):
    notes = {"ssim": "SSIM (Gaussian window, sigma 1.5) on [0, 1] images, mean over images"}

    def __init__(self, sigma: float, k1: float, k2: float):
        self.sigma, self.k1, self.k2 = sigma, k1, k2

    def __call__(self, **inputs: Any) -> dict[str, float]:
        r, f = paired(inputs.get("real"), inputs.get("fake"))
        return {"ssim": float(ssim(to01(r), to01(f), self.sigma, self.k1, self.k2).mean())}


class LpipsMetric(Evaluator):
    def __init__(self, net: torch.nn.Module, batch_size: int):
        self.net, self.batch_size = net, batch_size
        self.notes = {"lpips": f"LPIPS ({net.net_name}) distance, mean over image pairs"}

    @torch.no_grad()
    def __call__(self, **inputs: Any) -> dict[str, float]:
        r, f = paired(inputs.get("real"), inputs.get("fake"))
        self.net.to(r.device)
        r, f = rgb(r.float()), rgb(f.float())
        d = [self.net(a, b) for a, b in zip(r.split(self.batch_size), f.split(self.batch_size))]
        return {"lpips": float(torch.cat(d).mean())}


class _FeatureMetric(Evaluator):
    metric = ""

    def __init__(self, features: Features):
        self.features = features
        self.notes = {features.key(self.metric): features.note(self.metric)}

    def feats(self, inputs: dict) -> tuple[torch.Tensor, torch.Tensor]:
        real = image_batch(inputs.get("real"), "real")
        fake = image_batch(inputs.get("fake"), "fake")
        return self.features(real), self.features(fake)


class Fid(_FeatureMetric):
    metric = "fid"

    def __call__(self, **inputs: Any) -> dict[str, float]:
        a, b = self.feats(inputs)
        if len(a) < 2 or len(b) < 2:
            raise DataError("fid: needs at least 2 images in 'real' and in 'fake'")
        return {self.features.key("fid"): stats.fid(a, b)}


class Kid(_FeatureMetric):
    metric = "kid"

    def __init__(self, features: Features, num_subsets: int, subset_size: int, seed: int):
        super().__init__(features)
        self.num_subsets, self.subset_size, self.seed = num_subsets, subset_size, seed

    def __call__(self, **inputs: Any) -> dict[str, float]:
        a, b = self.feats(inputs)
        if len(a) < 2 or len(b) < 2:
            raise DataError("kid: needs at least 2 images in 'real' and in 'fake'")
        g = torch.Generator().manual_seed(self.seed)
        mean, std = stats.kid(a, b, self.num_subsets, self.subset_size, g)
        return {self.features.key("kid"): mean, self.features.key("kid_std"): std}


class PrecisionRecall(_FeatureMetric):
    metric = "precision"

    def __init__(self, features: Features, k: int):
        super().__init__(features)
        self.k = k
        self.notes[features.key("recall")] = features.note("recall")

    def __call__(self, **inputs: Any) -> dict[str, float]:
        a, b = self.feats(inputs)
        if min(len(a), len(b)) <= self.k:
            raise DataError(f"precision_recall: needs more than k={self.k} images per set")
        p, r = stats.precision_recall(a, b, self.k)
        return {self.features.key("precision"): p, self.features.key("recall"): r}


__all__ = ["Psnr", "Ssim", "LpipsMetric", "Fid", "Kid", "PrecisionRecall"]
