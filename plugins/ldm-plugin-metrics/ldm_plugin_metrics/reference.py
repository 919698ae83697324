"""A second set of real images, disjoint from the evaluated ones, for real-vs-real floors.

A distribution metric at n samples is biased upward by the sampling noise of n (FID is O(d/n)
even between two sets of real images). Its floor is the same metric between the n real images
and n OTHER real images: a model cannot be told apart from the data below it.

`ldm eval` scores the first n items of training.val_dataset (else training.dataset); the
reference is then the first n items of training.dataset (a different seed stream), or items
n..2n of training.dataset when there is no val_dataset. An evaluator may also be handed
`reference=` directly (tests, the Python API).
"""

from __future__ import annotations

from typing import Any

import torch


class ReferenceSet:
    def __init__(self, ctx: Any = None):
        self.spec = getattr(ctx, "spec", None)
        self.registry = getattr(ctx, "registry", None)
        self._cache: dict[int, torch.Tensor] = {}

    def draw(self, n: int, like: torch.Tensor) -> tuple[torch.Tensor | None, str]:
        """(n real images shaped like `like`, or None; where they came from / why not)."""
        training = getattr(self.spec, "training", None)
        if training is None:
            return None, "no floor: no spec training.dataset to draw a second real set from"
        start = 0 if training.val_dataset is not None else n
        if n not in self._cache:
            from ldmcore.training.data import build_dataset

            registry = self.registry
            if registry is None:
                from ldmcore.plugins import default_registry

                registry = default_registry()
            ds = build_dataset(self.spec, registry, training.dataset, "training.dataset")
            if len(ds) < start + n:
                return None, (f"no floor: training.dataset has {len(ds)} items, "
                              f"{start + n} needed")
            self._cache[n] = torch.stack([ds[i]["image"] for i in range(start, start + n)])
        ref = self._cache[n]
        if ref.shape[1:] != like.shape[1:]:
            return None, (f"no floor: training.dataset images {tuple(ref.shape[1:])} differ "
                          f"from the evaluated {tuple(like.shape[1:])}")
        return ref.to(like), f"training.dataset items {start}..{start + n - 1}"
