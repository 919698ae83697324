"""A small unmasked pre-norm transformer encoder: tokens -> (B, M, D) context for cross-attention.

The paper's tau_theta for text and layouts is such an encoder trained jointly with the UNet
(Sec. 3.3, "a domain specific encoder tau_theta"). Every token attends to every other (no mask):
padding tokens are ordinary learned tokens, as in LDM's BERTEmbedder.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SelfAttention(nn.Module):
    """Unmasked multi-head self-attention, softmax(q k^T / sqrt(d_head)) v. The inner width is
    the model width, or heads x dim_head when given (x-transformers / CompVis' BERTEmbedder)."""

    def __init__(self, dim: int, heads: int, dim_head: int | None = None) -> None:
        super().__init__()
        inner = heads * dim_head if dim_head else dim
        self.heads = heads
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, m, _ = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:  # (B, M, h*d) -> (B, h, M, d)
            return t.view(b, m, self.heads, -1).transpose(1, 2)

        q, k, v = split(self.to_q(x)), split(self.to_k(x)), split(self.to_v(x))
        # softmax(QK^T / sqrt(d)) V, computed in fp32 for stability under bf16
        out = F.scaled_dot_product_attention(q.float(), k.float(), v.float()).to(x.dtype)
        return self.to_out(out.transpose(1, 2).reshape(b, m, -1))


class Block(nn.Module):
    """x + Attn(LN(x)); x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Linear(dim * mlp_ratio, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ff(self.norm2(x))


class TokenTransformer(nn.Module):
    """Token ids (B, M) -> token + learned position embeddings -> depth blocks -> LN: (B, M, D)."""

    def __init__(
        self, vocab_size: int, max_len: int, dim: int, depth: int, heads: int, mlp_ratio: int
    ) -> None:
        super().__init__()
        self.token_emb = nn.Embedding(vocab_size, dim)
        self.pos_emb = nn.Parameter(torch.zeros(max_len, dim))
        nn.init.normal_(self.token_emb.weight, std=0.02)
        nn.init.normal_(self.pos_emb, std=0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.to(self.token_emb.weight.device)
        x = self.token_emb(ids) + self.pos_emb[: ids.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.norm(x)
