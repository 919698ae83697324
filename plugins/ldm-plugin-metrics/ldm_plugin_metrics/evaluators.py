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
from .reference import ReferenceSet


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


REF_NOTE = ("{metric} of the samples against the same independent real reference the floor "
            "uses: a model matching the data scores the floor here (fake vs real can sit below "
            "it when samples share their items' conditioning)")


class _FeatureMetric(Evaluator):
    """A distribution metric on features, reported with its real-vs-real floor at the same n
    (see reference.py) and a note when n is too small to separate a model from the data."""

    metric = ""

    def __init__(self, features: Features, reference: ReferenceSet | None = None):
        self.features = features
        self.reference = reference
        self.base_notes = {features.key(self.metric): features.note(self.metric)}
        self.notes = dict(self.base_notes)

    def feats(self, inputs: dict) -> tuple[torch.Tensor, torch.Tensor]:
        real = image_batch(inputs.get("real"), "real")
        fake = image_batch(inputs.get("fake"), "fake")
        return self.features(real), self.features(fake)

    def reference_images(self, inputs: dict, real: torch.Tensor) -> torch.Tensor | None:
        """n real images disjoint from `real`: inputs['reference'], else from the spec."""
        self.notes = dict(self.base_notes)
        if inputs.get("reference") is not None:
            return image_batch(inputs["reference"], "reference")
        if self.reference is None:
            self.notes[self.floor_key] = "no floor: no reference= images and no spec"
            return None
        ref, where = self.reference.draw(len(real), real)
        self.notes[self.floor_key] = (f"real-vs-real {self.metric.upper()} at the same n "
                                      f"(reference: {where})" if ref is not None else where)
        return ref

    @property
    def floor_key(self) -> str:
        return self.features.key(self.metric) + "_floor"

    @property
    def ref_key(self) -> str:
        return self.features.key(self.metric) + "_vs_reference"


class Fid(_FeatureMetric):
    metric = "fid"

    def __call__(self, **inputs: Any) -> dict[str, float]:
        real = image_batch(inputs.get("real"), "real")
        a, b = self.feats(inputs)
        if len(a) < 2 or len(b) < 2:
            raise DataError("fid: needs at least 2 images in 'real' and in 'fake'")
        value = stats.fid(a, b)
        out = {self.features.key("fid"): value}
        ref = self.reference_images(inputs, real)
        if ref is None:
            return out
        r = self.features(ref)
        floor, vs_ref = stats.fid(a, r), stats.fid(b, r)
        out[self.floor_key] = floor
        # conditional samples share their items' conditioning, so fid(real, fake) can sit
        # below the floor; fake vs the independent reference is scored like the floor is
        out[self.ref_key] = vs_ref
        self.notes[self.ref_key] = REF_NOTE.format(metric="FID")
        n, d = min(len(a), len(b)), a.shape[1]
        why = []
        if n <= d:
            why.append(f"n={n} <= feature dim {d}: the covariances are singular")
        if vs_ref < 2 * floor:
            why.append(f"FID vs reference {vs_ref:.3g} is under twice the real-vs-real "
                       f"floor {floor:.3g}")
        if why:
            self.notes[self.features.key("fid") + "_warning"] = (
                "n too small to separate models: " + "; ".join(why)
                + " (use more samples, or KID, unbiased at small n)")
        return out


class Kid(_FeatureMetric):
    metric = "kid"

    def __init__(self, features: Features, num_subsets: int, subset_size: int, seed: int,
                 reference: ReferenceSet | None = None):
        super().__init__(features, reference)
        self.num_subsets, self.subset_size, self.seed = num_subsets, subset_size, seed

    def _kid(self, a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
        g = torch.Generator().manual_seed(self.seed)
        return stats.kid(a, b, self.num_subsets, self.subset_size, g)

    def __call__(self, **inputs: Any) -> dict[str, float]:
        real = image_batch(inputs.get("real"), "real")
        a, b = self.feats(inputs)
        if len(a) < 4 or len(b) < 4:
            raise DataError("kid: needs at least 4 images in 'real' and in 'fake'")
        mean, std = self._kid(a, b)
        out = {self.features.key("kid"): mean, self.features.key("kid_std"): std}
        ref = self.reference_images(inputs, real)
        if ref is None:
            return out
        r = self.features(ref)
        floor, floor_std = self._kid(a, r)
        vs_ref, ref_std = self._kid(b, r)
        out[self.floor_key], out[self.ref_key] = floor, vs_ref
        self.notes[self.ref_key] = REF_NOTE.format(metric="KID")
        # unbiased: the floor is ~0 +- its spread; closer than 2 spreads cannot be told apart
        spread = max(ref_std, floor_std)
        if vs_ref - floor < 2 * spread:
            self.notes[self.features.key("kid") + "_warning"] = (
                f"n too small to separate models: KID vs reference {vs_ref:.3g} is within 2 "
                f"std ({spread:.2g}) of its real-vs-real floor {floor:.3g}")
        return out


class PrecisionRecall(_FeatureMetric):
    """k-NN manifold precision / recall, a sample counted on a manifold only if it is on it at
    every feature level (stats.precision_recall_levels), with the real-vs-real values."""

    metric = "precision"

    def __init__(self, features: Features, k: int, reference: ReferenceSet | None = None):
        super().__init__(features, reference)
        self.k = k
        self.base_notes[features.key("recall")] = features.note("recall")
        self.notes = dict(self.base_notes)

    def _pr(self, a: list, b: list) -> tuple[float, float, list]:
        return stats.precision_recall_levels(a, b, self.k)

    def __call__(self, **inputs: Any) -> dict[str, float]:
        real = image_batch(inputs.get("real"), "real")
        fake = image_batch(inputs.get("fake"), "fake")
        if min(len(real), len(fake)) <= self.k:
            raise DataError(f"precision_recall: needs more than k={self.k} images per set")
        a = self.features.levels(real)
        p, r, levels = self._pr(a, self.features.levels(fake))
        key = self.features.key
        out = {key("precision"): p, key("recall"): r}
        if len(levels) > 1:
            for i, (pl, rl) in enumerate(levels):
                out[key(f"precision_level{i + 1}")] = pl
                out[key(f"recall_level{i + 1}")] = rl
        ref = self.reference_images(inputs, real)
        if ref is not None:
            pf, rf, _ = self._pr(a, self.features.levels(ref))
            out[key("precision_real")], out[key("recall_real")] = pf, rf
            self.notes[key("precision_real")] = ("precision / recall of real vs real images at "
                                                 "the same n: the best a model can score")
        self.notes.pop(self.floor_key, None)
        return out


__all__ = ["Psnr", "Ssim", "LpipsMetric", "Fid", "Kid", "PrecisionRecall"]
