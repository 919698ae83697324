"""Rendering a scene at any resolution: antialiased RGB image + segmentation map (numpy/PIL).

Each object is drawn as a coverage mask at `supersample`x resolution with PIL and box-filtered
down (Image.reduce), so edges are antialiased; colours are alpha-composited in scene order
(later objects on top). A pixel's segmentation label is the topmost object covering >= 50% of it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .vocab import BACKGROUND, PALETTE, LayoutObject


def coverage(obj: LayoutObject, size: int, supersample: int = 4) -> np.ndarray:
    """(size, size) float32 in [0, 1]: the fraction of each pixel the object covers."""
    big = size * supersample
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    x0, y0, x1, y1 = (v * big for v in obj.box)
    # PIL treats the far edge as inclusive; pull it in by one sub-pixel so area matches the box.
    x1, y1 = x1 - 1, y1 - 1
    if obj.shape == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=255)
    elif obj.shape == "square":
        draw.rectangle((x0, y0, x1, y1), fill=255)
    elif obj.shape == "triangle":  # upright isosceles, apex at the top centre
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=255)
    else:  # pragma: no cover - vocab guarantees the shape
        raise ValueError(obj.shape)
    return np.asarray(mask.reduce(supersample), dtype=np.float32) / 255.0


def background(size: int, rng: np.random.Generator | None, textured: bool) -> np.ndarray:
    """(size, size, 3) float32: plain grey, or grey with a faint low-frequency texture."""
    img = np.empty((size, size, 3), np.float32)
    img[...] = BACKGROUND
    if textured and rng is not None:
        coarse = rng.uniform(-0.05, 0.05, size=(4, 4)).astype(np.float32)
        smooth = Image.fromarray(coarse, mode="F").resize((size, size), Image.BICUBIC)
        img += np.asarray(smooth, np.float32)[..., None]
        img += rng.normal(0.0, 0.008, size=(size, size, 1)).astype(np.float32)
    return img


def render(
    objects: list[LayoutObject],
    size: int,
    *,
    rng: np.random.Generator | None = None,
    textured: bool = False,
    supersample: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """-> image (size, size, 3) float32 in [0, 1], segmentation (size, size) int64."""
    img = background(size, rng, textured)
    seg = np.zeros((size, size), np.int64)
    for obj in objects:
        a = coverage(obj, size, supersample)
        color = np.asarray(PALETTE[obj.color], np.float32)
        img = img * (1.0 - a[..., None]) + color * a[..., None]
        seg[a >= 0.5] = obj.cls + 1
    return np.clip(img, 0.0, 1.0), seg
