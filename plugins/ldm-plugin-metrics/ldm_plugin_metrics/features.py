"""Feature extractors for FID / KID / precision-recall, chosen by FeatureParams.

`inception` -> keys fid, kid, ...; `dataset` -> keys dataset_feature_fid, ... (a CNN trained on
the dataset: dataset-feature FID, not comparable to Inception FID).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .dataset_features import cache_path, load_or_train
from .params import FeatureParams

DATASET_NOTE = "dataset-feature {metric}, not comparable to Inception {metric}"


class Features:
    """Callable: images (N, C, H, W) in [-1, 1] -> features (N, D) float64 on CPU."""

    def __init__(self, net: nn.Module, kind: str, batch_size: int):
        self.net, self.kind, self.batch_size = net, kind, batch_size
        self.prefix = "" if kind == "inception" else "dataset_feature_"

    def key(self, metric: str) -> str:
        return self.prefix + metric

    def note(self, metric: str) -> str:
        if self.kind == "inception":
            return f"{metric.upper()} on torchvision Inception-v3 pool features"
        return DATASET_NOTE.format(metric=metric.upper())

    def _channels(self, x: torch.Tensor) -> torch.Tensor:
        want = getattr(self.net, "in_channels", 3)
        if x.shape[1] == want:
            return x
        return x.expand(-1, 3, -1, -1) if want == 3 else x.mean(1, keepdim=True)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.net.to(images.device)  # follow the input's device; compute in the net's dtype
        param = next(self.net.parameters())
        out = [self.net(self._channels(b.to(param.dtype))).double().cpu()
               for b in images.split(self.batch_size)]
        return torch.cat(out)

    @torch.no_grad()
    def levels(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Features at every level the network exposes (dataset CNN: its three blocks;
        Inception: the pool features only), each (N, D_l) float64 on CPU."""
        if not hasattr(self.net, "levels"):
            return [self(images)]
        self.net.to(images.device)
        param = next(self.net.parameters())
        parts = [[f.double().cpu() for f in self.net.levels(self._channels(b.to(param.dtype)))]
                 for b in images.split(self.batch_size)]
        return [torch.cat(level) for level in zip(*parts)]


def _dataset_factory(p: FeatureParams, ctx: Any):
    """(name, params dict, thunk building the dataset) for the dataset-feature CNN."""
    registry = getattr(ctx, "registry", None)
    if registry is None:
        from ldmcore.plugins import default_registry

        registry = default_registry()
    training = getattr(getattr(ctx, "spec", None), "training", None)
    if p.dataset is None and training is not None:
        node = training.dataset
        name, params = node.type, node.params
    else:
        name = p.dataset or "shapes"
        info = registry.get("dataset", name, where="evaluator dataset features")
        params = info.params_model(**p.dataset_params)
    info = registry.get("dataset", name, where="evaluator dataset features")
    return name, params.model_dump(), (lambda: info.factory(params, ctx))


def build_features(p: FeatureParams, ctx: Any = None) -> Features:
    if p.features == "inception":
        from .inception import build_inception

        net = build_inception(p.weights)
        net.in_channels = 3  # type: ignore[attr-defined]
        return Features(net, "inception", p.batch_size)
    name, params, make = _dataset_factory(p, ctx)
    key = {"dataset": name, "params": params, "size": p.feature_size, "steps": p.train_steps,
           "batch": p.train_batch_size, "seed": p.seed}
    net = load_or_train(cache_path(p.weights, key), make, size=p.feature_size,
                        steps=p.train_steps, batch_size=p.train_batch_size, seed=p.seed,
                        progress=p.progress)
    net.in_channels = net.body[0][0].in_channels  # type: ignore[attr-defined]
    return Features(net, "dataset", p.batch_size)
