"""boxes (B, K, 5) -> (B, num_classes, s, s): the fraction of each latent cell a box of that
class covers. A layout's spatial path: concat gives the UNet each object's place directly,
where cross-attention tokens would have to learn positions from scratch."""

from __future__ import annotations

from typing import Any

import torch

from ldmcore.interfaces import Conditioner

from .layout import check_boxes
from .params import BoxRasterParams


class BoxRaster(Conditioner):
    def __init__(self, params: BoxRasterParams, size: int, key: str) -> None:
        super().__init__()
        self.num_classes, self.size, self.key = params.num_classes, size, key
        self.supersample = params.supersample

    def forward(self, y: Any) -> torch.Tensor:
        boxes = check_boxes(y, self.num_classes, self.key).float()  # (B, K, 5)
        n = self.size * self.supersample
        centres = (torch.arange(n, device=boxes.device, dtype=boxes.dtype) + 0.5) / n
        cls, x0, y0, x1, y1 = boxes.unbind(-1)
        inside_x = (centres >= x0[..., None]) & (centres < x1[..., None])  # (B, K, n)
        inside_y = (centres >= y0[..., None]) & (centres < y1[..., None])
        inside = (inside_y[..., :, None] & inside_x[..., None, :]).float()  # (B, K, n, n)
        onehot = torch.nn.functional.one_hot(cls.clamp(min=0).long(), self.num_classes)
        onehot = onehot.float() * (cls >= 0).float()[..., None]  # padding rows draw nothing
        maps = torch.einsum("bkc,bkhw->bchw", onehot, inside).clamp(max=1)
        return torch.nn.functional.avg_pool2d(maps, self.supersample)

    def empty_input(self, batch_size: int) -> torch.Tensor:
        return torch.tensor([[-1.0, 0, 0, 0, 0]]).expand(batch_size, 1, 5)
