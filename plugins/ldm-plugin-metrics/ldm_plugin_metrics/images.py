"""Checking evaluator inputs: image tensors (N, C, H, W) in [-1, 1]."""

from __future__ import annotations

from typing import Any

import torch

from ldmcore.errors import DataError


def image_batch(x: Any, name: str) -> torch.Tensor:
    """-> float tensor (N, C, H, W), C in {1, 3}; DataError naming the input otherwise."""
    if x is None:
        raise DataError(f"evaluator input '{name}' is missing (image tensor (N, C, H, W))")
    t = torch.as_tensor(x)
    if t.ndim != 4 or t.shape[1] not in (1, 3) or t.shape[0] == 0:
        raise DataError(f"evaluator input '{name}': expected (N, 1|3, H, W), got {tuple(t.shape)}")
    return t if t.is_floating_point() else t.float()


def paired(real: Any, fake: Any) -> tuple[torch.Tensor, torch.Tensor]:
    r, f = image_batch(real, "real"), image_batch(fake, "fake")
    if r.shape != f.shape:
        raise DataError(f"paired metric: 'real' {tuple(r.shape)} and 'fake' {tuple(f.shape)} "
                        "must have the same shape")
    return r, f.to(r.dtype)


def rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def to01(x: torch.Tensor) -> torch.Tensor:
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)
