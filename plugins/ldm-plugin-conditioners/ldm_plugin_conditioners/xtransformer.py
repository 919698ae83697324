"""The text/layout encoder of LDM's BERTEmbedder, in the module tree CompVis checkpoints use.

CompVis vendors lucidrains' x-transformers (`TransformerWrapper` + `Encoder`); LDM's txt2img and
layout2img tau_theta is that encoder trained from scratch (paper Sec. 3.3 / Appendix E.2):

    token_emb (V, D) + pos_emb.emb (M, D) -> depth x [x + Attn(LN(x)), x + FF(LN(x))] -> norm

`attn_layers.layers` alternates attention ('a') and feed-forward ('f') entries, each a
ModuleList (norm, block, residual) so the keys read `attn_layers.layers.{2i}.1.to_q.weight` and
`attn_layers.layers.{2i+1}.1.net.0.0.weight`. The attention inner width is heads x dim_head
(8 x 64 by default), not the model width. `to_logits` exists in every checkpoint although an
encoder never uses it.
"""

from __future__ import annotations

import torch
from torch import nn

from .transformer import SelfAttention


class PositionEmbedding(nn.Module):
    """Learned absolute positions (`pos_emb.emb.weight`)."""

    def __init__(self, dim: int, max_len: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(max_len, dim)
        nn.init.normal_(self.emb.weight, std=0.02)

    def forward(self, n: int) -> torch.Tensor:
        return self.emb.weight[:n][None]


class FeedForward(nn.Module):
    """Linear(D, mult*D) -> GELU -> Linear(mult*D, D) as `net.0.0` / `net.2` (net.1 dropout)."""

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Sequential(nn.Linear(dim, dim * mult), nn.GELU()),
                                 nn.Dropout(0.0), nn.Linear(dim * mult, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Residual(nn.Module):
    def forward(self, out: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return out + residual


class Encoder(nn.Module):
    """`attn_layers`: pre-norm blocks, layer types a, f, a, f, ..."""

    def __init__(self, dim: int, depth: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.dim = dim
        layers = []
        for _ in range(depth):
            layers.append(nn.ModuleList([nn.LayerNorm(dim), SelfAttention(dim, heads, dim_head),
                                         Residual()]))
            layers.append(nn.ModuleList([nn.LayerNorm(dim), FeedForward(dim), Residual()]))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for norm, block, residual in self.layers:
            x = residual(block(norm(x)), x)
        return x


class TransformerWrapper(nn.Module):
    """Token ids (B, M) -> (B, M, D) embeddings (`return_embeddings=True` in CompVis)."""

    def __init__(self, num_tokens: int, max_seq_len: int, dim: int, depth: int,
                 heads: int = 8, dim_head: int = 64) -> None:
        super().__init__()
        self.max_seq_len = max_seq_len
        self.token_emb = nn.Embedding(num_tokens, dim)
        nn.init.normal_(self.token_emb.weight, std=0.02)
        self.pos_emb = PositionEmbedding(dim, max_seq_len)
        self.attn_layers = Encoder(dim, depth, heads, dim_head)
        self.norm = nn.LayerNorm(dim)
        self.to_logits = nn.Linear(dim, num_tokens)  # unused by an encoder; kept for the keys

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.to(self.token_emb.weight.device)
        x = self.token_emb(ids) + self.pos_emb(ids.shape[1])
        return self.norm(self.attn_layers(x))
