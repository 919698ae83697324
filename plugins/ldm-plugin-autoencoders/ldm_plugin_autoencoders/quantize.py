"""Vector quantisation of the VQ first stage (VQGAN; paper Sec. 3.1, VQ-reg.).

z_q = e_k, k = argmin_j ||z - e_j||; gradients pass straight through (z + sg[z_q - z]).
Loss in the order CompVis LDM trained with (VectorQuantizer2, legacy=True, also diffusers'
default): ||sg[z_q] - z||^2 + beta * ||z_q - sg[z]||^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Quantized:
    """What quantisation returns: the codes and the terms the VQ loss and logs need."""

    z_q: torch.Tensor  # (B, C, h, w), straight-through w.r.t. the input
    loss: torch.Tensor  # codebook + commitment loss (scalar)
    perplexity: torch.Tensor  # exp(entropy of code usage in this batch) (scalar)
    indices: torch.Tensor  # (B, h, w) int64


class VectorQuantizer(nn.Module):
    def __init__(self, n_embed: int, embed_dim: int, beta: float) -> None:
        super().__init__()
        self.n_embed, self.beta = n_embed, beta
        self.embedding = nn.Embedding(n_embed, embed_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / n_embed, 1.0 / n_embed)

    def forward(self, z: torch.Tensor) -> Quantized:
        b, c, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, c)
        e = self.embedding.weight.to(flat.dtype)
        # ||z - e||^2 = ||z||^2 + ||e||^2 - 2 z.e
        dist = flat.pow(2).sum(1, keepdim=True) + e.pow(2).sum(1) - 2.0 * flat @ e.t()
        idx = dist.argmin(dim=1)
        z_q = e[idx].reshape(b, h, w, c).permute(0, 3, 1, 2)
        loss = torch.mean((z_q.detach() - z) ** 2) + self.beta * torch.mean((z_q - z.detach()) ** 2)
        z_q = z + (z_q - z).detach()
        usage = torch.bincount(idx, minlength=self.n_embed).to(z.dtype) / idx.numel()
        perplexity = torch.exp(-torch.sum(usage * torch.log(usage + 1e-10)))
        return Quantized(z_q, loss, perplexity, idx.reshape(b, h, w))

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, h, w) code indices -> (B, C, h, w) codebook vectors."""
        return self.embedding(indices).permute(0, 3, 1, 2)
