"""Registers the conditioners. Torch and the networks load inside the factories only."""

from __future__ import annotations

from typing import Any

from ldmcore.errors import SpecError
from ldmcore.plugins import hookimpl

from .params import (
    BertTransformerParams,
    BoxRasterParams,
    ClassEmbedParams,
    ClipTextParams,
    CompVisBertParams,
    HFTextParams,
    LayoutTokensParams,
    SpatialFirstStageParams,
    SpatialMaskParams,
    SpatialRescaleParams,
)


def _key(ctx: Any, default: str) -> str:
    node = getattr(ctx, "node", None)
    return getattr(node, "input", None) or default


def _factor(ctx: Any) -> int:
    return ctx.wiring.latent.factor


def class_embed(params: ClassEmbedParams, ctx: Any):
    from .class_embed import ClassEmbed

    if ctx.node.null == "empty-input" and not params.null_class:
        raise SpecError(f"conditioner '{ctx.node.input}': null 'empty-input' needs null_class")
    return ClassEmbed(params, ctx.node.wiring, _key(ctx, "class"))


def bert_transformer(params: BertTransformerParams, ctx: Any):
    from .text import BertTransformer

    try:
        return BertTransformer(params, _key(ctx, "caption"))
    except ValueError as exc:
        raise SpecError(f"conditioner bert_transformer: params.vocab: {exc}") from None


def compvis_bert(params: CompVisBertParams, ctx: Any):
    from .compvis_bert import CompVisBert

    default = "caption" if params.use_tokenizer else "boxes"
    try:
        return CompVisBert(params, _key(ctx, default))
    except ValueError as exc:
        raise SpecError(f"conditioner compvis_bert: params.vocab: {exc}") from None


def clip_text(params: ClipTextParams, ctx: Any):
    from .clip_text import ClipText

    return ClipText(params, _key(ctx, "caption"))


def hf_text(params: HFTextParams, ctx: Any):
    from .hf_text import HFText

    return HFText(params, _key(ctx, "caption"))


def layout_tokens(params: LayoutTokensParams, ctx: Any):
    from .layout import LayoutTokens

    return LayoutTokens(params, _key(ctx, "boxes"))


def spatial_rescale(params: SpatialRescaleParams, ctx: Any):
    from .spatial import SpatialRescale

    return SpatialRescale(params, _factor(ctx), _key(ctx, "lowres"))


def spatial_first_stage(params: SpatialFirstStageParams, ctx: Any):
    from .spatial import SpatialFirstStage

    if ctx.first_stage is None:
        raise SpecError("conditioner spatial_first_stage: the first stage must be built first")
    return SpatialFirstStage(params, ctx.first_stage, _key(ctx, "masked_image"), _factor(ctx))


def spatial_mask(params: SpatialMaskParams, ctx: Any):
    from .spatial import SpatialMask

    return SpatialMask(params, _factor(ctx), _key(ctx, "mask"))


def box_raster(params: BoxRasterParams, ctx: Any):
    from .box_raster import BoxRaster

    size = params.size or ctx.spec.image_size // _factor(ctx)
    return BoxRaster(params, size, _key(ctx, "boxes"))


@hookimpl
def ldmcore_register_components(register):
    register("conditioner", "class_embed", ClassEmbedParams, class_embed,
             description="learned class embedding (+ null class); Context(1, D) or Vector(D)")
    register("conditioner", "bert_transformer", BertTransformerParams, bert_transformer,
             description="BERT WordPiece tokens + transformer from scratch; Context(M, D)")
    register("conditioner", "compvis_bert", CompVisBertParams, compvis_bert,
             description="CompVis' BERTEmbedder key for key: WordPiece text or token ids / "
                         "taming bbox tokens -> x-transformers encoder; Context(M, D)")
    register("conditioner", "clip_text", ClipTextParams, clip_text,
             description="SD's CLIP text encoders key for key (v1: transformers layout, v2: "
                         "open_clip layout) from the architecture; Context(77, width)")
    register("conditioner", "hf_text", HFTextParams, hf_text,
             description="pretrained transformers text encoder from a local folder (MiniLM, CLIP)")
    register("conditioner", "layout_tokens", LayoutTokensParams, layout_tokens,
             description="boxes -> (c, l, b) grid tokens + transformer; Context(3K, D)")
    register("conditioner", "spatial_rescale", SpatialRescaleParams, spatial_rescale,
             description="image / one-hot map resized to the latent grid + 1x1 conv (concat)")
    register("conditioner", "spatial_first_stage", SpatialFirstStageParams, spatial_first_stage,
             description="an image encoded by the model's frozen first stage (concat)")
    register("conditioner", "spatial_mask", SpatialMaskParams, spatial_mask,
             description="a (B, 1, H, W) mask downsampled to the latent grid (concat)")
    register("conditioner", "box_raster", BoxRasterParams, box_raster,
             description="boxes as per-class coverage maps on the latent grid (concat)")
