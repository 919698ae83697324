"""Finding the objects in a shapes-world image: colour segmentation + shape geometry (numpy).

1. The background colour is the median of the border pixels (plain or textured backgrounds).
2. Each pixel goes to the nearest of {background, palette colours}; pixels farther than
   `max_color_distance` from all of them are left unassigned (noise, muddy colours).
3. Connected components (8-connectivity) per colour, smaller than `min_area` dropped.
4. Shape: the component's fill profile inside its bounding box (fill of 4 horizontal and 4
   vertical bands, plus total fill) is compared to each shape's ideal profile; the nearest wins,
   or 'unknown' if none is close (also for boxes far from square: every shape has a square box,
   and for components whose pixels are, on median, far from the palette colour: noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import ndimage

from .render import coverage
from .vocab import COLORS, NUM_COLORS, PALETTE, SHAPES, LayoutObject, object_class

_BANDS = 4
_MAX_PROFILE_DISTANCE = 0.22  # beyond this a component matches no shape (real: <= 0.15)
_MAX_MEDIAN_COLOR_DISTANCE = 0.25  # a real object's pixels sit close to its palette colour
_MAX_ASPECT = 1.6  # bounding boxes of real objects are square


@dataclass(frozen=True)
class Detection:
    color: str
    shape: str  # a SHAPES entry or "unknown"
    box: tuple[float, float, float, float]  # normalised x0, y0, x1, y1 (pixel edges)
    area: float  # fraction of the image

    @property
    def cls(self) -> int:
        return object_class(self.shape, self.color) if self.shape in SHAPES else -1


def _profile(mask: np.ndarray) -> np.ndarray:
    """Fill fraction of horizontal and vertical bands of a cropped mask, and the total fill."""
    h, w = mask.shape
    rows = [mask[int(i * h / _BANDS): max(int((i + 1) * h / _BANDS), int(i * h / _BANDS) + 1)]
            for i in range(_BANDS)]
    cols = [mask[:, int(i * w / _BANDS): max(int((i + 1) * w / _BANDS), int(i * w / _BANDS) + 1)]
            for i in range(_BANDS)]
    return np.array([r.mean() for r in rows] + [c.mean() for c in cols] + [mask.mean()])


@cache
def prototypes() -> dict[str, np.ndarray]:
    """Each shape's ideal profile, measured on a large rendering."""
    out = {}
    for shape in SHAPES:
        cov = coverage(LayoutObject(object_class(shape, COLORS[0]), (0.0, 0.0, 1.0, 1.0)), 96, 2)
        out[shape] = _profile(cov >= 0.5)
    return out


def classify_shape(mask: np.ndarray) -> str:
    """A cropped binary mask (its bounding box) -> shape name or 'unknown'."""
    h, w = mask.shape
    if max(h, w) / max(min(h, w), 1) > _MAX_ASPECT:
        return "unknown"
    prof = _profile(mask.astype(np.float64))
    dist = {s: float(np.sqrt(np.mean((prof - p) ** 2))) for s, p in prototypes().items()}
    best = min(dist, key=dist.get)  # type: ignore[arg-type]
    return best if dist[best] <= _MAX_PROFILE_DISTANCE else "unknown"


def color_labels(img: np.ndarray, max_distance: float) -> np.ndarray:
    """(H, W, 3) in [0, 1] -> (H, W) int: -1 unassigned, 0 background, k + 1 palette colour k."""
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    bg = np.median(border, axis=0)
    refs = np.stack([bg] + [np.asarray(PALETTE[c]) for c in COLORS])  # (1 + C, 3)
    d = np.linalg.norm(img[..., None, :] - refs, axis=-1)  # (H, W, 1 + C)
    labels = d.argmin(-1)
    labels[d.min(-1) > max_distance] = -1
    return labels


def _components(img: np.ndarray, min_area: float, max_color_distance: float):
    """Yield (colour index, slice, crop mask, Detection) for each colour component."""
    h, w = img.shape[:2]
    labels = color_labels(img.astype(np.float64), max_color_distance)
    eight = np.ones((3, 3), bool)
    for k in range(NUM_COLORS):
        comp, n = ndimage.label(labels == k + 1, structure=eight)
        if n == 0:
            continue
        for i, sl in enumerate(ndimage.find_objects(comp), start=1):
            crop = comp[sl] == i
            area = float(crop.sum()) / (h * w)
            if area < min_area:
                continue
            ys, xs = sl
            box = (xs.start / w, ys.start / h, xs.stop / w, ys.stop / h)
            ref = np.asarray(PALETTE[COLORS[k]])
            off = float(np.median(np.linalg.norm(img[sl][crop] - ref, axis=-1)))
            shape = classify_shape(crop) if off <= _MAX_MEDIAN_COLOR_DISTANCE else "unknown"
            yield k, sl, crop, Detection(COLORS[k], shape, box, area)


def detect(img: np.ndarray, *, min_area: float = 0.008,
           max_color_distance: float = 0.45) -> list[Detection]:
    """All coloured objects in one (H, W, 3) image in [0, 1]."""
    return [d for *_, d in _components(img, min_area, max_color_distance)]


def segment(img: np.ndarray, *, min_area: float = 0.008,
            max_color_distance: float = 0.45) -> np.ndarray:
    """(H, W, 3) in [0, 1] -> (H, W) int64 segmentation in the dataset's encoding: each pixel
    of a recognised object (colour component classified as a shape) gets object_class + 1,
    everything else (background, unrecognised blobs, noise) 0."""
    seg = np.zeros(img.shape[:2], np.int64)
    for _, sl, crop, d in _components(img, min_area, max_color_distance):
        if d.cls >= 0:
            seg[sl][crop] = d.cls + 1
    return seg


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
