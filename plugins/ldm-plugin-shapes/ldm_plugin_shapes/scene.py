"""Sampling a scene (which objects, where) from a numpy Generator. No rendering, no torch.

A scene is resolution-free: boxes are normalised, so one (seed, index) gives the same scene at
any size. Objects have square boxes (side = scale * image side); overlap is limited and two
objects of the same colour never touch, so every object stays a separate colour component.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .vocab import COLORS, SHAPES, LayoutObject, object_class


@dataclass(frozen=True)
class SceneConfig:
    shapes: tuple[str, ...] = SHAPES
    colors: tuple[str, ...] = COLORS
    min_objects: int = 1
    max_objects: int = 3
    min_scale: float = 0.25
    max_scale: float = 0.5
    max_overlap: float = 0.05  # intersection / smaller box area
    same_color_gap: float = 0.04  # minimum gap between boxes of the same colour
    tries: int = 30


def _inter(a: tuple[float, ...], b: tuple[float, ...], pad: float = 0.0) -> float:
    w = min(a[2], b[2]) + pad - max(a[0], b[0])
    h = min(a[3], b[3]) + pad - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def _area(a: tuple[float, ...]) -> float:
    return (a[2] - a[0]) * (a[3] - a[1])


def _fits(box: tuple[float, ...], color: str, placed: list[tuple[tuple[float, ...], str]],
          cfg: SceneConfig) -> bool:
    for other, other_color in placed:
        if _inter(box, other) > cfg.max_overlap * min(_area(box), _area(other)):
            return False
        if color == other_color and _inter(box, other, cfg.same_color_gap) > 0:
            return False
    return True


def sample_scene(rng: np.random.Generator, cfg: SceneConfig) -> list[LayoutObject]:
    """Between min_objects and max_objects objects (fewer only if placement keeps failing)."""
    n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    placed: list[tuple[tuple[float, ...], str]] = []
    objects: list[LayoutObject] = []
    for _ in range(n):
        shape = cfg.shapes[int(rng.integers(len(cfg.shapes)))]
        color = cfg.colors[int(rng.integers(len(cfg.colors)))]
        for _ in range(cfg.tries):
            s = float(rng.uniform(cfg.min_scale, cfg.max_scale))
            x0, y0 = (float(v) for v in rng.uniform(0.0, 1.0 - s, size=2))
            box = (x0, y0, x0 + s, y0 + s)
            if _fits(box, color, placed, cfg):
                placed.append((box, color))
                objects.append(LayoutObject(object_class(shape, color), box))
                break
    return objects
