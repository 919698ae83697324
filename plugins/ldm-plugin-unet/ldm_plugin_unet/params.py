"""Params of the `unet` denoiser (no torch here: `ldm validate` must stay fast).

Names and meanings follow CompVis `openaimodel.UNetModel`, so a CompVis / SD config's
`unet_config.params` translate one to one (in/out_channels and context_dim come from the wiring).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ldmcore.params import DenoiserParams


class UNetParams(DenoiserParams):
    """eps_theta(z_t, t, tau_theta(y)): the time-conditional UNet of the LDM paper (Sec. 3.3)."""

    model_channels: int = Field(64, gt=0, description="width of the first level")
    channel_mult: list[int] = Field(
        default_factory=lambda: [1, 2, 2], description="width multiplier per level"
    )
    num_res_blocks: int = Field(2, gt=0, description="ResBlocks per level (down path)")
    attention_resolutions: list[int] = Field(
        default_factory=lambda: [2, 4],
        description="downsample rates ds (1, 2, 4, ...) at which attention layers are placed; "
                    "rates deeper than the last level are ignored (as CompVis)",
    )
    num_heads: int = Field(8, description="heads per attention layer (unless num_head_channels)")
    num_head_channels: int = Field(-1, description="channels per head; -1: use num_heads")
    num_heads_upsample: int = Field(-1, description="heads on the up path; -1: num_heads")
    legacy: bool = Field(
        True, description="CompVis head rule flag (same split whenever heads divide channels)"
    )
    use_new_attention_order: bool = Field(
        False, description="AttentionBlock qkv layout: split q/k/v then heads (new) or heads first"
    )
    transformer_depth: int | list[int] = Field(
        1, description="BasicTransformerBlocks per SpatialTransformer (or one per level)"
    )
    use_linear_in_transformer: bool = Field(
        False, description="Linear proj_in/proj_out (SD2) instead of 1x1 convs (SD1)"
    )
    use_scale_shift_norm: bool = Field(False, description="FiLM the time embedding (h*(1+s)+b)")
    resblock_updown: bool = Field(False, description="ResBlocks do the down/upsampling")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    num_classes: int | None = Field(
        None, gt=0, description="class-conditional label_emb (class ids passed as `vector`)"
    )
    norm_groups: int = Field(32, gt=0, description="GroupNorm groups (CompVis: 32)")
    use_checkpoint: bool = Field(False, description="gradient checkpointing (saves memory)")

    # ------------------------------------------------------------------ derived facts
    @property
    def levels(self) -> int:
        return len(self.channel_mult)

    def size_multiple(self) -> int:
        return 2 ** (self.levels - 1)  # one stride-2 downsample between levels

    def depth_at(self, level: int) -> int:
        d = self.transformer_depth
        return d if isinstance(d, int) else d[level]

    def heads_at(self, ch: int, upsample: bool = False) -> tuple[int, int]:
        """(heads, channels per head) of an attention layer on `ch` channels (CompVis rule)."""
        num_heads = self.num_heads
        if upsample and self.num_heads_upsample != -1:
            num_heads = self.num_heads_upsample
        if self.num_head_channels != -1:
            return ch // self.num_head_channels, self.num_head_channels
        return num_heads, ch // num_heads

    def attention_widths(self) -> list[tuple[int, bool]]:
        """(channels, upsample?) of every attention layer, the middle block included."""
        mc = self.model_channels
        widths = [(mc * m, False) for lvl, m in enumerate(self.channel_mult)
                  if 2**lvl in self.attention_resolutions]
        widths.append((mc * self.channel_mult[-1], False))
        widths += [(mc * m, True) for lvl, m in enumerate(self.channel_mult)
                   if 2**lvl in self.attention_resolutions]
        return widths

    # ------------------------------------------------------------------ validation
    @model_validator(mode="after")
    def _check(self) -> UNetParams:
        if not self.channel_mult or any(m <= 0 for m in self.channel_mult):
            raise ValueError(f"channel_mult must be a non-empty list of positive ints, "
                             f"got {self.channel_mult}")
        # A rate deeper than the last level is ignored, as CompVis' UNetModel does (bsr_sr
        # ships [16, 8] on 4 levels); a value that is no downsample rate at all is a typo.
        bad = [r for r in self.attention_resolutions if r < 1 or r & (r - 1)]
        if bad:
            raise ValueError(f"attention_resolutions {bad} are not downsample rates "
                             f"(powers of two: 1, 2, 4, ...)")
        if isinstance(self.transformer_depth, list):
            if len(self.transformer_depth) != self.levels:
                raise ValueError(f"transformer_depth list has {len(self.transformer_depth)} "
                                 f"entries, channel_mult has {self.levels} levels")
        if any(self.depth_at(lvl) <= 0 for lvl in range(self.levels)):
            raise ValueError("transformer_depth must be positive")
        for m in self.channel_mult:
            ch = self.model_channels * m
            if ch % self.norm_groups:
                raise ValueError(f"width {ch} (model_channels*{m}) is not divisible by "
                                 f"norm_groups {self.norm_groups}")
        if self.num_head_channels == -1:
            for n, field in ((self.num_heads, "num_heads"),
                             (self.num_heads_upsample, "num_heads_upsample")):
                if n <= 0 and not (field == "num_heads_upsample" and n == -1):
                    raise ValueError(f"{field} must be positive (or set num_head_channels)")
        elif self.num_head_channels <= 0:
            raise ValueError(f"num_head_channels must be positive or -1, "
                             f"got {self.num_head_channels}")
        for ch, up in self.attention_widths():
            heads, dim = self.heads_at(ch, up)
            if heads * dim != ch:
                what = (f"num_head_channels {self.num_head_channels}"
                        if self.num_head_channels != -1 else f"{heads} heads")
                raise ValueError(f"attention width {ch} is not divisible by {what}")
        if self.num_classes is not None and self.vector_dim not in (None, 1):
            raise ValueError(f"num_classes {self.num_classes} takes class ids (vector_dim 1), "
                             f"got vector_dim {self.vector_dim}")
        return self
