"""Attention kernels: softmax(QK^T / sqrt(d)) V through SDPA, and the CompVis AttentionBlock."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .layers import maybe_checkpoint, normalization, zero_module

#: dtypes whose attention runs upcast to fp32 (CompVis `ATTN_PRECISION = fp32`): fp16's QK^T
#: can overflow (max 65504). bf16 has fp32's range, and benchmarks/bf16_numerics.py measured the
#: same error either way; upcast, it would also keep a GPU off its bf16 flash-attention kernel
UPCAST: tuple[torch.dtype, ...] = (torch.float16,)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Scaled dot-product attention over (B, heads, N, d); the softmax runs in fp32 for half.

    Inputs of a dtype in UPCAST are upcast so QK^T cannot overflow, and cast back.
    """
    if q.dtype in UPCAST:
        out = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
        return out.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v)


class AttentionBlock(nn.Module):
    """Self-attention over all positions of a feature map, for models without a context.

    `qkv` is one 1x1 Conv1d. Legacy order (CompVis default) splits heads first, then q/k/v in
    each head; the new order splits q/k/v first, then heads.
    """

    def __init__(
        self,
        channels: int,
        num_heads: int,
        *,
        use_new_attention_order: bool = False,
        groups: int = 32,
        use_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"{channels} channels are not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.new_order = use_new_attention_order
        self.use_checkpoint = use_checkpoint
        self.norm = normalization(channels, groups)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return maybe_checkpoint(self.use_checkpoint, self._forward, x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x))  # (B, 3C, T)
        heads, d = self.num_heads, c // self.num_heads
        if self.new_order:
            q, k, v = qkv.view(b, 3, heads, d, -1).unbind(1)
        else:
            q, k, v = qkv.view(b, heads, 3, d, -1).unbind(2)
        h = attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        h = h.transpose(-1, -2).reshape(b, c, -1)
        return self.proj_out(h).add_(x).reshape(b, c, *spatial)
