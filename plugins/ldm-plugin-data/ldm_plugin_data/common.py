"""Helpers every dataset here shares: output geometry from the spec, splits, tensors."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from .params import ImageParams


def geometry(params: ImageParams, ctx) -> tuple[int, int]:
    """(size, channels): the params' own, else the spec's image_size / image_channels."""
    spec = getattr(ctx, "spec", None)
    size = params.size or getattr(spec, "image_size", None) or 32
    channels = params.channels or getattr(spec, "image_channels", None) or 3
    return int(size), min(int(channels), 3)


def split_mask(n: int, params: ImageParams) -> np.ndarray:
    """Boolean (n,): which of n fixed-order items belong to params.split (seeded permutation)."""
    if params.split == "all":
        return np.ones(n, bool)
    order = np.random.default_rng(params.seed).permutation(n)
    is_val = np.zeros(n, bool)
    is_val[order[: int(round(n * params.val_fraction))]] = True
    return is_val if params.split == "val" else ~is_val


def in_val_by_name(name: str, params: ImageParams) -> bool:
    """Hash split for files: stable when other files are added or removed."""
    digest = hashlib.sha1(f"{params.seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < params.val_fraction


def to_tensor(img: np.ndarray, channels: int) -> torch.Tensor:
    """(H, W) or (H, W, C) float in [0, 1] -> float32 (channels, H, W) in [-1, 1]."""
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1 and channels == 3:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 3 and channels == 1:
        img = img @ np.array([0.299, 0.587, 0.114])[:, None]  # luma (ITU-R 601)
    t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))
    return t * 2.0 - 1.0
