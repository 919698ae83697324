"""clip_text: Stable Diffusion's CLIP text encoders in their checkpoint key layouts.

A causal pre-norm transformer over BPE ids (Radford et al. 2021) gives tau_theta(y) in
R^{77 x width} (SD: the last hidden state, v1; the penultimate one through the final
LayerNorm, v2). Two module trees, the same maths:

    hf         transformer.text_model.{embeddings.{token,position}_embedding, encoder.layers.N.
               {self_attn.{q,k,v,out}_proj, layer_norm1, mlp.fc1, mlp.fc2, layer_norm2},
               final_layer_norm}                       (SD v1, transformers' CLIPTextModel)
    open_clip  model.{token_embedding, positional_embedding, transformer.resblocks.N.{ln_1,
               attn.{in_proj_weight, in_proj_bias, out_proj}, ln_2, mlp.{c_fc, c_proj}},
               ln_final, text_projection, logit_scale}  (SD v2, FrozenOpenCLIPEmbedder)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ldmcore.errors import DataError
from ldmcore.interfaces import Conditioner

from .params import ClipTextParams


def _act(name: str, x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x) if name == "quick_gelu" else F.gelu(x)


def _causal_attention(q, k, v, heads: int) -> torch.Tensor:
    b, n, d = q.shape

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(b, n, heads, d // heads).transpose(1, 2).float()

    out = F.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=True)
    return out.to(q.dtype).transpose(1, 2).reshape(b, n, d)


# ----------------------------------------------------------------------------- hf layout
class _HFAttention(nn.Module):
    def __init__(self, w: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(w, w), nn.Linear(w, w), nn.Linear(w, w)
        self.out_proj = nn.Linear(w, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_proj(_causal_attention(self.q_proj(x), self.k_proj(x), self.v_proj(x),
                                               self.heads))


class _HFMLP(nn.Module):
    def __init__(self, w: int, hidden: int, act: str) -> None:
        super().__init__()
        self.act = act
        self.fc1, self.fc2 = nn.Linear(w, hidden), nn.Linear(hidden, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(_act(self.act, self.fc1(x)))


class _HFLayer(nn.Module):
    def __init__(self, p: ClipTextParams) -> None:
        super().__init__()
        w = p.width
        self.self_attn = _HFAttention(w, p.heads)
        self.layer_norm1 = nn.LayerNorm(w)
        self.mlp = _HFMLP(w, w * p.mlp_ratio, p.activation)
        self.layer_norm2 = nn.LayerNorm(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class _HFEmbeddings(nn.Module):
    def __init__(self, p: ClipTextParams) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(p.vocab_size, p.width)
        self.position_embedding = nn.Embedding(p.max_length, p.width)


class _HFEncoder(nn.Module):
    def __init__(self, p: ClipTextParams) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_HFLayer(p) for _ in range(p.layers))


class _HFTextModel(nn.Module):
    def __init__(self, p: ClipTextParams) -> None:
        super().__init__()
        self.embeddings = _HFEmbeddings(p)
        self.encoder = _HFEncoder(p)
        self.final_layer_norm = nn.LayerNorm(p.width)
        self.skip = 1 if p.layer == "penultimate" else 0

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        e = self.embeddings
        x = e.token_embedding(ids) + e.position_embedding.weight[: ids.shape[1]]
        for layer in self.encoder.layers[: len(self.encoder.layers) - self.skip]:
            x = layer(x)
        return self.final_layer_norm(x)


class _HFWrapper(nn.Module):  # `transformer.text_model.*`
    def __init__(self, p: ClipTextParams) -> None:
        super().__init__()
        self.text_model = _HFTextModel(p)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.text_model(ids)


# ----------------------------------------------------------------------------- open_clip layout
class _OCAttention(nn.Module):
    """nn.MultiheadAttention's parameter names (in_proj packs q, k, v)."""

    def __init__(self, w: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * w, w))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * w))
        self.out_proj = nn.Linear(w, w)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        return self.out_proj(_causal_attention(q, k, v, self.heads))


class _OCMLP(nn.Module):
    def __init__(self, w: int, hidden: int, act: str) -> None:
        super().__init__()
        self.act = act
        self.c_fc, self.c_proj = nn.Linear(w, hidden), nn.Linear(hidden, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(_act(self.act, self.c_fc(x)))


class _OCBlock(nn.Module):
    def __init__(self, p: ClipTextParams) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(p.width)
        self.attn = _OCAttention(p.width, p.heads)
        self.ln_2 = nn.LayerNorm(p.width)
        self.mlp = _OCMLP(p.width, p.width * p.mlp_ratio, p.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class _OCTransformer(nn.Module):
    def __init__(self, p: ClipTextParams) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(_OCBlock(p) for _ in range(p.layers))


class _OCModel(nn.Module):  # `model.*`
    def __init__(self, p: ClipTextParams) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(p.vocab_size, p.width)
        self.positional_embedding = nn.Parameter(torch.empty(p.max_length, p.width))
        nn.init.normal_(self.positional_embedding, std=0.01)
        self.transformer = _OCTransformer(p)
        self.ln_final = nn.LayerNorm(p.width)
        self.text_projection = nn.Parameter(torch.empty(p.width, p.projection_dim or p.width))
        nn.init.normal_(self.text_projection, std=p.width**-0.5)
        self.logit_scale = nn.Parameter(torch.tensor(4.6052))  # log(100), CLIP's init
        self.skip = 1 if p.layer == "penultimate" else 0

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(ids) + self.positional_embedding[: ids.shape[1]]
        blocks = self.transformer.resblocks
        for block in blocks[: len(blocks) - self.skip]:
            x = block(x)
        return self.ln_final(x)


# ----------------------------------------------------------------------------- conditioner
class ClipText(Conditioner):
    def __init__(self, params: ClipTextParams, key: str = "caption") -> None:
        super().__init__()
        self.key, self.p = key, params
        self._tokenize = _tokenizer(params)
        if params.flavour == "hf":
            self.transformer = _HFWrapper(params)
        else:
            self.model = _OCModel(params)
        if params.frozen:
            self.requires_grad_(False)

    @property
    def encoder(self) -> nn.Module:
        return self.transformer if self.p.flavour == "hf" else self.model

    def tokenize(self, y: Any) -> torch.Tensor:
        if torch.is_tensor(y) and not y.is_floating_point():
            ids = y
        elif self._tokenize is None:
            raise DataError(f"'{self.key}': clip_text has no tokenizer (params.tokenizer); give "
                            f"int token ids (B, {self.p.max_length})")
        else:
            from .text import as_captions

            ids = self._tokenize(as_captions(y, self.key))
        if ids.ndim != 2 or ids.shape[1] > self.p.max_length:
            raise DataError(f"'{self.key}': expected token ids (B, <= {self.p.max_length}), got "
                            f"{tuple(ids.shape)}")
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.p.vocab_size):
            raise DataError(f"'{self.key}': token ids must be in [0, {self.p.vocab_size - 1}]")
        return ids.long()

    def forward(self, y: Any) -> torch.Tensor:
        ids = self.tokenize(y).to(self.encoder.parameters().__next__().device)
        return self.encoder(ids)

    def empty_input(self, batch_size: int) -> list[str]:
        return [""] * batch_size


def _tokenizer(p: ClipTextParams):
    """captions -> (B, max_length) ids: <start> text <end> then padding (hf: the end token
    again, as openai's CLIP tokenizer pads; open_clip: 0)."""
    if p.tokenizer is not None:
        from transformers import CLIPTokenizerFast

        try:
            tok = CLIPTokenizerFast.from_pretrained(p.tokenizer, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise DataError(f"clip_text: params.tokenizer {p.tokenizer}: {exc}") from None

        def run(texts: list[str]) -> torch.Tensor:
            ids = tok(texts, truncation=True, max_length=p.max_length, padding="max_length",
                      return_tensors="pt")["input_ids"]
            if p.flavour == "open_clip":  # open_clip pads with 0 after <end>
                eot = tok.eos_token_id
                after = (ids == eot).int().cumsum(1) > 1
                ids = ids.masked_fill(after, 0)
            return ids

        return run
    if p.flavour == "open_clip":
        try:
            import open_clip
        except ImportError:
            return None
        return lambda texts: open_clip.tokenize(texts, context_length=p.max_length)
    return None
