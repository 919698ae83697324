"""Boxes -> taming-transformers' bbox conditional-builder tokens (LDM's layout2img input).

LDM's layout-to-image model (paper Sec. 4.3.1, OpenImages) reads a layout as the token sequence
taming's `ObjectsBoundingBoxConditionalBuilder` builds: per object (class, top-left, bottom-right)
with a position = round(y (S-1)) S + round(x (S-1)) on an S x S grid (S = floor(sqrt(no_tokens))),
padded with `none` = no_tokens - 1 triples up to max_objects, then (with encode_crop) the crop's
corners, here the full image (0, 0, 1, 1). A box's corners are clamped into the image first.

Text form (`--layout`): "Class name x0 y0 x1 y1; ..." with class names from the table, or ids.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from ldmcore.errors import DataError

from .layout import check_boxes
from .params import BBoxTokensParams

TABLES = {"openimages": Path(__file__).with_name("openimages_classes.txt")}
#: names taming folds into another class for OpenImages (Man, Woman, Boy, Girl -> Person ...)
ALIASES = {"openimages": Path(__file__).with_name("openimages_aliases.txt")}


@lru_cache(maxsize=8)
def class_table(source: str) -> tuple[str, ...]:
    """Class names by class number: a built-in table name or a file, one name a line."""
    path = TABLES.get(source, Path(source).expanduser())
    if not path.is_file():
        raise DataError(f"layout.class_names: no such table or file: {source}")
    names = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(n for n in names if n)


@lru_cache(maxsize=8)
def class_aliases(source: str) -> dict[str, str]:
    path = ALIASES.get(source)
    if path is None:
        return {}
    pairs = (line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line)
    return {a.lower(): t for a, t in pairs}


def parse_layout_text(text: str, names: tuple[str, ...] | None, key: str,
                      aliases: dict[str, str] | None = None) -> list[list[float]]:
    """'Man 0.1 0.2 0.5 0.9; Tree 0 0 0.3 1' -> rows (class, x0, y0, x1, y1)."""
    lookup = {n.lower(): i for i, n in enumerate(names or ())}
    lookup.update({a: lookup[t.lower()] for a, t in (aliases or {}).items() if t.lower() in lookup})
    rows = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        words = part.split()
        if len(words) < 5:
            raise DataError(f"'{key}': '{part}': expected 'class x0 y0 x1 y1'")
        label, coords = " ".join(words[:-4]), words[-4:]
        try:
            xy = [float(v) for v in coords]
        except ValueError:
            raise DataError(f"'{key}': '{part}': coordinates must be numbers") from None
        if label.lower() in lookup:
            cls = lookup[label.lower()]
        elif label.isdigit():
            cls = int(label)
        else:
            raise DataError(f"'{key}': unknown class '{label}'"
                            + (" (no class_names table)" if not names else ""))
        rows.append([float(cls), *xy])
    return rows


class BBoxTokenizer:
    def __init__(self, p: BBoxTokensParams, key: str = "boxes") -> None:
        self.p, self.key = p, key
        self.sections = int(math.sqrt(p.no_tokens))
        self.none = p.no_tokens - 1
        self.names = class_table(p.class_names) if p.class_names else None
        self.aliases = class_aliases(p.class_names) if p.class_names else {}
        if self.names is not None and len(self.names) != p.num_classes:
            raise DataError(f"layout.class_names '{p.class_names}' has {len(self.names)} names, "
                            f"num_classes is {p.num_classes}")

    def position(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        s = self.sections - 1
        return (y * s).round().long() * self.sections + (x * s).round().long()

    def as_boxes(self, y: Any) -> torch.Tensor:
        """Layout text (str or list of str) or a (B, K, 5) tensor -> (B, K, 5) float rows."""
        if isinstance(y, str):
            y = [y]
        if isinstance(y, (list, tuple)) and y and all(isinstance(t, str) for t in y):
            rows = [parse_layout_text(t, self.names, self.key, self.aliases) for t in y]
            k = max(1, max(len(r) for r in rows))
            out = torch.full((len(rows), k, 5), -1.0)
            for i, r in enumerate(rows):
                if r:
                    out[i, : len(r)] = torch.tensor(r)
            y = out
        return check_boxes(y, self.p.num_classes, self.key)

    def __call__(self, y: Any) -> torch.Tensor:
        boxes = self.as_boxes(y).cpu().double()
        real = boxes[..., 0] >= 0
        if real.numel() and int(real.sum(1).max()) > self.p.max_objects:
            raise DataError(f"'{self.key}': more than max_objects={self.p.max_objects} boxes")
        x0, y0, x1, y1 = (boxes[..., i].clamp(0, 1) for i in (1, 2, 3, 4))
        triples = torch.stack([boxes[..., 0].long().clamp(min=0), self.position(x0, y0),
                               self.position(x1, y1)], dim=-1)
        triples = torch.where(real[..., None], triples, torch.full_like(triples, self.none))
        order = torch.argsort((~real).int(), dim=1, stable=True)  # real objects first, in order
        triples = torch.gather(triples, 1, order[..., None].expand_as(triples))
        b = boxes.shape[0]
        ids = torch.full((b, self.p.max_objects, 3), self.none, dtype=torch.long)
        k = min(self.p.max_objects, triples.shape[1])
        ids[:, :k] = triples[:, :k]
        ids = ids.reshape(b, -1)
        if self.p.encode_crop:  # the full-image crop (0, 0, 1, 1)
            one, zero = torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
            crop = torch.cat([self.position(zero, zero), self.position(one, one)])
            ids = torch.cat([ids, crop.expand(b, 2)], dim=1)
        return ids
