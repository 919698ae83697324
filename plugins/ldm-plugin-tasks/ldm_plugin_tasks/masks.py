"""Random inpainting masks (1 = region to fill): rectangles and free-form strokes.

Everything is drawn from the given torch.Generator on the CPU, so a seed fixes the masks on any
device. Strokes are polylines of random direction rasterised with a random width: a pixel is
inside when its centre lies within width/2 of a segment.
"""

from __future__ import annotations

import math

import torch


def _u(generator: torch.Generator | None, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=generator))


def box_mask(
    h: int, w: int, lo: float, hi: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(h, w) float mask of one axis-aligned rectangle, sides in [lo, hi] of the image sides."""
    bh = max(1, round(_u(generator, lo, hi) * h))
    bw = max(1, round(_u(generator, lo, hi) * w))
    y0 = int(torch.randint(0, h - bh + 1, (), generator=generator))
    x0 = int(torch.randint(0, w - bw + 1, (), generator=generator))
    m = torch.zeros(h, w)
    m[y0 : y0 + bh, x0 : x0 + bw] = 1.0
    return m


def _segment_distance(py, px, a, b) -> torch.Tensor:
    """Distance of pixel centres (py, px) to the segment a-b (points as (y, x))."""
    dy, dx = b[0] - a[0], b[1] - a[1]
    length2 = dy * dy + dx * dx
    t = ((py - a[0]) * dy + (px - a[1]) * dx) / max(length2, 1e-12)
    t = t.clamp(0, 1)
    return torch.hypot(py - (a[0] + t * dy), px - (a[1] + t * dx))


def stroke_mask(
    h: int,
    w: int,
    vertices: tuple[int, int],
    width: tuple[float, float],
    step: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(h, w) float mask of one random polyline brush stroke."""
    side = min(h, w)
    n = int(torch.randint(vertices[0], vertices[1] + 1, (), generator=generator))
    radius = max(0.5, _u(generator, *width) * side / 2)
    py = torch.arange(h, dtype=torch.float32)[:, None] + 0.5
    px = torch.arange(w, dtype=torch.float32)[None, :] + 0.5
    point = (_u(generator, 0, h), _u(generator, 0, w))
    m = torch.zeros(h, w, dtype=torch.bool)
    for _ in range(n - 1):
        angle = _u(generator, 0, 2 * math.pi)
        length = _u(generator, 0.5, 1.0) * step * side
        nxt = (
            min(max(point[0] + length * math.sin(angle), 0.0), float(h)),
            min(max(point[1] + length * math.cos(angle), 0.0), float(w)),
        )
        m |= _segment_distance(py, px, point, nxt) <= radius
        point = nxt
    return m.float()


def random_masks(
    n: int,
    h: int,
    w: int,
    kinds: list[str],
    *,
    box: tuple[float, float] = (0.2, 0.6),
    vertices: tuple[int, int] = (3, 8),
    width: tuple[float, float] = (0.05, 0.15),
    step: float = 0.25,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(n, 1, h, w) masks, each a box or a stroke (chosen uniformly among `kinds`)."""
    out = []
    for _ in range(n):
        kind = kinds[int(torch.randint(0, len(kinds), (), generator=generator))]
        if kind == "box":
            out.append(box_mask(h, w, *box, generator=generator))
        else:
            out.append(stroke_mask(h, w, vertices, width, step, generator=generator))
    return torch.stack(out)[:, None]
