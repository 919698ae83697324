"""layout_tokens: bounding boxes -> discrete (c, l, b) tokens -> transformer (paper Sec. 4.3.1).

The paper encodes each box as a tuple of its class c, its top-left position l and its
bottom-right position b, both discretised on a spatial grid. Here a position is the nearest
vertex of a (grid x grid) lattice over [0, 1]^2, index y * grid + x, so one shared vocabulary is

    [0, grid^2)                      positions
    [grid^2, grid^2 + num_classes)   classes
    grid^2 + num_classes             pad (absent object)

and a layout of up to K = max_objects boxes is the sequence c_1 l_1 b_1 c_2 l_2 b_2 ... (M = 3K).
"""

from __future__ import annotations

from typing import Any

import torch

from ldmcore.errors import DataError
from ldmcore.interfaces import Conditioner

from .params import LayoutTokensParams
from .transformer import TokenTransformer


def check_boxes(boxes: Any, num_classes: int, key: str = "boxes") -> torch.Tensor:
    """(B, K, 5) rows (class, x0, y0, x1, y1); class -1 marks padding. DataError names `key`."""
    b = torch.as_tensor(boxes)
    if b.ndim != 3 or b.shape[-1] != 5:
        raise DataError(f"'{key}': expected shape (B, K, 5), got {tuple(b.shape)}")
    b = b.float()
    cls, xy = b[..., 0], b[..., 1:]
    real = cls >= 0
    if (cls[real] != cls[real].round()).any() or (cls[real] >= num_classes).any():
        raise DataError(f"'{key}': object classes must be integers in [0, {num_classes - 1}]")
    xy = xy[real]
    if not torch.isfinite(xy).all() or (xy < 0).any() or (xy > 1).any():
        raise DataError(f"'{key}': box coordinates must lie in [0, 1]")
    if (xy[:, 2] < xy[:, 0]).any() or (xy[:, 3] < xy[:, 1]).any():
        raise DataError(f"'{key}': boxes need x1 >= x0 and y1 >= y0")
    return b


def layout_token_ids(
    boxes: torch.Tensor, num_classes: int, grid: int, max_objects: int, key: str = "boxes"
) -> torch.Tensor:
    """Valid (B, K, 5) boxes -> (B, 3 * max_objects) token ids (real objects first, then pads)."""
    bsz = boxes.shape[0]
    pad = grid * grid + num_classes
    real = boxes[..., 0] >= 0
    if real.numel() and int(real.sum(1).max()) > max_objects:
        raise DataError(f"'{key}': more than max_objects={max_objects} boxes in one layout")
    vert = (boxes[..., 1:] * (grid - 1)).round().long().clamp(0, grid - 1)  # nearest vertex
    l_tok = vert[..., 1] * grid + vert[..., 0]  # top-left (x0, y0)
    b_tok = vert[..., 3] * grid + vert[..., 2]  # bottom-right (x1, y1)
    c_tok = grid * grid + boxes[..., 0].long().clamp(min=0)
    triples = torch.stack([c_tok, l_tok, b_tok], dim=-1)  # (B, K, 3)
    triples = torch.where(real[..., None], triples, torch.full_like(triples, pad))
    # stable sort: real objects keep their order and come first, pads last
    order = torch.argsort((~real).int(), dim=1, stable=True)
    triples = torch.gather(triples, 1, order[..., None].expand_as(triples))
    ids = torch.full((bsz, max_objects, 3), pad, dtype=torch.long)
    k = min(max_objects, triples.shape[1])
    ids[:, :k] = triples[:, :k]
    return ids.reshape(bsz, 3 * max_objects)


class LayoutTokens(Conditioner):
    def __init__(self, params: LayoutTokensParams, key: str = "boxes") -> None:
        super().__init__()
        self.key = key
        self.num_classes, self.grid, self.max_objects = (
            params.num_classes, params.grid, params.max_objects
        )
        vocab = params.grid**2 + params.num_classes + 1
        self.transformer = TokenTransformer(
            vocab, 3 * params.max_objects, params.dim, params.depth, params.heads,
            params.mlp_ratio,
        )

    def tokenize(self, boxes: Any) -> torch.Tensor:
        b = check_boxes(boxes, self.num_classes, self.key).cpu()
        return layout_token_ids(b, self.num_classes, self.grid, self.max_objects, self.key)

    def forward(self, y: Any) -> torch.Tensor:
        return self.transformer(self.tokenize(y))

    def empty_input(self, batch_size: int) -> torch.Tensor:
        """An empty layout: every slot a pad token."""
        return torch.zeros(batch_size, 0, 5)
