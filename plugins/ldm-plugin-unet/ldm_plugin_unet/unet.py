"""The UNet eps_theta(z_t, t, tau_theta(y)) with the CompVis `openaimodel.UNetModel` tree.

input_blocks.0 is the stem conv; each level adds `num_res_blocks` x [ResBlock (+ attention)]
and a Downsample; middle_block = ResBlock, attention, ResBlock; output_blocks mirror the input
blocks (num_res_blocks + 1 per level, each fed the matching skip), with an Upsample closing a
level; `out` = GN, SiLU, conv. Attention is a SpatialTransformer (cross-attention to the
context, paper eq. 3) when context_dim is set, else a self-attention AttentionBlock.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ldmcore.interfaces import Denoiser

from .attention import AttentionBlock
from .layers import Downsample, Upsample, normalization, timestep_embedding, zero_module
from .params import UNetParams
from .resblock import ResBlock
from .transformer import SpatialTransformer


class TimestepEmbedSequential(nn.Sequential):
    """A sequence of layers; each gets what it needs (time embedding, context, output size)."""

    def forward(  # type: ignore[override]
        self,
        x: torch.Tensor,
        emb: torch.Tensor,
        context: torch.Tensor | None = None,
        size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb, size)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context)
            elif isinstance(layer, Upsample):
                x = layer(x, size)
            else:
                x = layer(x)
        return x


class UNetModel(Denoiser):
    def __init__(self, p: UNetParams) -> None:
        super().__init__()
        if p.in_channels is None or p.out_channels is None:
            raise ValueError("unet needs in_channels and out_channels (derived from the wiring)")
        self.p = p
        mc, groups = p.model_channels, p.norm_groups
        emb_dim = mc * 4
        self.model_channels = mc
        self.time_embed = nn.Sequential(
            nn.Linear(mc, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.num_classes = p.num_classes
        self.vector_dim = None if p.num_classes is not None else p.vector_dim
        if p.num_classes is not None:  # class-conditional (CompVis `label_emb` Embedding)
            self.label_emb: nn.Module = nn.Embedding(p.num_classes, emb_dim)
        elif p.vector_dim is not None:  # adm / "sequential": Linear-SiLU-Linear
            self.label_emb = nn.Sequential(nn.Sequential(
                nn.Linear(p.vector_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
            ))

        def res(ch_in: int, ch_out: int, **kw) -> ResBlock:
            return ResBlock(ch_in, emb_dim, p.dropout, ch_out, groups=groups,
                            use_scale_shift_norm=p.use_scale_shift_norm,
                            use_checkpoint=p.use_checkpoint, **kw)

        def attn(ch: int, level: int, up: bool = False) -> nn.Module:
            heads, dim_head = p.heads_at(ch, up)
            if p.context_dim is not None:
                return SpatialTransformer(ch, heads, dim_head, p.context_dim,
                                          depth=p.depth_at(level), dropout=p.dropout,
                                          use_linear=p.use_linear_in_transformer, groups=groups,
                                          use_checkpoint=p.use_checkpoint)
            return AttentionBlock(ch, heads, use_new_attention_order=p.use_new_attention_order,
                                  groups=groups, use_checkpoint=p.use_checkpoint)

        self.input_blocks = nn.ModuleList(
            [TimestepEmbedSequential(nn.Conv2d(p.in_channels, mc, 3, padding=1))]
        )
        skip_chans, ch, ds = [mc], mc, 1
        for level, mult in enumerate(p.channel_mult):
            for _ in range(p.num_res_blocks):
                layers: list[nn.Module] = [res(ch, mult * mc)]
                ch = mult * mc
                if ds in p.attention_resolutions:
                    layers.append(attn(ch, level))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skip_chans.append(ch)
            if level != p.levels - 1:
                down = res(ch, ch, down=True) if p.resblock_updown else Downsample(ch)
                self.input_blocks.append(TimestepEmbedSequential(down))
                skip_chans.append(ch)
                ds *= 2

        self.middle_block = TimestepEmbedSequential(
            res(ch, ch), attn(ch, p.levels - 1), res(ch, ch)
        )

        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(p.channel_mult))):
            for i in range(p.num_res_blocks + 1):
                layers = [res(ch + skip_chans.pop(), mc * mult)]
                ch = mc * mult
                if ds in p.attention_resolutions:
                    layers.append(attn(ch, level, up=True))
                if level and i == p.num_res_blocks:
                    layers.append(res(ch, ch, up=True) if p.resblock_updown else Upsample(ch))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))

        self.out = nn.Sequential(
            normalization(ch, groups), nn.SiLU(),
            zero_module(nn.Conv2d(mc, p.out_channels, 3, padding=1)),
        )

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        context: torch.Tensor | None = None,
        concat: torch.Tensor | None = None,
        vector: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict eps (or v / x0) for z_t = x at steps t (B,); concat joins x on channels."""
        if concat is not None:
            x = torch.cat([x, concat], dim=1)
        if (context is None) != (self.p.context_dim is None):
            raise ValueError(f"unet: context_dim is {self.p.context_dim} but context is "
                             f"{'missing' if context is None else 'given'}")
        has_label = self.num_classes is not None or self.vector_dim is not None
        if (vector is None) == has_label:
            raise ValueError("unet: `vector` must be given exactly when the model has label_emb "
                             f"(num_classes={self.num_classes}, vector_dim={self.vector_dim})")
        t = t.reshape(-1).expand(x.shape[0]) if t.numel() == 1 else t
        emb = self.time_embed(timestep_embedding(t, self.model_channels).to(x.dtype))
        if self.num_classes is not None:
            emb = emb + self.label_emb(vector.reshape(x.shape[0]).long())
        elif self.vector_dim is not None:
            emb = emb + self.label_emb(vector.to(emb.dtype))
        if context is not None:
            context = context.to(x.dtype)

        h, skips = x, []
        for block in self.input_blocks:
            h = block(h, emb, context)
            skips.append(h)
        h = self.middle_block(h, emb, context)
        for block in self.output_blocks:
            h = torch.cat([h, skips.pop()], dim=1)
            size = tuple(skips[-1].shape[-2:]) if skips else None
            h = block(h, emb, context, size)
        norm, _, conv = self.out
        return conv(F.silu(norm(h), inplace=True))
