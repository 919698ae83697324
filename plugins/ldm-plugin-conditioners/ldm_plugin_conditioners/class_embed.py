"""class_embed: y in {0..K-1} -> a learned embedding (LDM's ClassEmbedder), token or vector."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ldmcore.errors import DataError
from ldmcore.interfaces import Conditioner

from .params import ClassEmbedParams


class ClassEmbed(Conditioner):
    def __init__(self, params: ClassEmbedParams, wiring: str, key: str = "class") -> None:
        super().__init__()
        self.num_classes = params.num_classes
        self.null_class = params.null_class
        self.tokens = wiring == "crossattn"  # Context(1, D) rather than Vector(D)
        self.key = key
        self.embedding = nn.Embedding(params.num_classes + int(params.null_class), params.dim)

    def forward(self, y: Any) -> torch.Tensor:
        device = self.embedding.weight.device
        labels = torch.as_tensor(y, device=device)
        if labels.ndim != 1 or labels.is_floating_point():
            raise DataError(
                f"'{self.key}': expected a 1-d integer tensor of class ids, got "
                f"{tuple(labels.shape)} {labels.dtype}"
            )
        top = self.num_classes + int(self.null_class)
        if labels.numel() and (labels.min() < 0 or labels.max() >= top):
            raise DataError(
                f"'{self.key}': class ids must be in [0, {top - 1}], got "
                f"{int(labels.min())}..{int(labels.max())}"
            )
        e = self.embedding(labels.long())
        return e[:, None] if self.tokens else e

    def empty_input(self, batch_size: int) -> torch.Tensor:
        """The extra 'no class' index, so CFG's unconditional branch is a learned class."""
        if not self.null_class:
            raise DataError(f"'{self.key}': class_embed has no null class (params.null_class)")
        return torch.full(
            (batch_size,), self.num_classes, dtype=torch.long, device=self.embedding.weight.device
        )
