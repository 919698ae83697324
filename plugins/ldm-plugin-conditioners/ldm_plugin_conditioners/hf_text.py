"""hf_text: a pretrained transformers text encoder from a local folder (offline), as tau_theta.

Stable Diffusion's FrozenCLIPEmbedder is this with a CLIPTextModel folder and layer=last (v1) or
layer=penultimate (v2, whose penultimate state then goes through the final LayerNorm). The model
is held as `transformer` (SD: `cond_stage_model.transformer.*`). Note transformers 5 names the
CLIPTextModel keys without the `text_model.` prefix that SD checkpoints and transformers 4 use.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from ldmcore.errors import CheckpointError
from ldmcore.interfaces import Conditioner

from .params import HFTextParams
from .resources import model_dir
from .text import as_captions


def _load(params: HFTextParams) -> tuple[Any, nn.Module]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig, AutoModel, AutoTokenizer, CLIPTextModel
    from transformers.utils import logging as hf_logging

    try:
        folder = model_dir(params.path)
        tok_folder = model_dir(params.tokenizer) if params.tokenizer else folder
    except ValueError as exc:
        raise CheckpointError(f"conditioner hf_text: {exc}") from None
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a local load is instant; keep the console clean
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        if config.model_type == "clip":  # a full CLIPModel folder: take its text tower
            model = CLIPTextModel.from_pretrained(folder, local_files_only=True)
        else:
            model = AutoModel.from_pretrained(folder, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(tok_folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"conditioner hf_text: cannot load {folder}: {msg}") from None
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    return tokenizer, model


class HFText(Conditioner):
    def __init__(self, params: HFTextParams, key: str = "caption") -> None:
        super().__init__()
        self.key = key
        self.max_length = params.max_length
        self.penultimate = params.layer == "penultimate"
        self.frozen = params.frozen
        self.tokenizer, self.transformer = _load(params)
        self.is_clip = "clip" in self.transformer.config.model_type
        width = self.transformer.config.hidden_size
        self.proj = nn.Linear(width, params.proj_dim) if params.proj_dim else nn.Identity()
        if self.frozen:
            self.transformer.requires_grad_(False)
            self.transformer.eval()

    def train(self, mode: bool = True) -> HFText:
        super().train(mode)
        if self.frozen:  # a frozen encoder stays deterministic (no dropout)
            self.transformer.eval()
        return self

    def forward(self, y: Any) -> torch.Tensor:
        captions = as_captions(y, self.key)
        tok = self.tokenizer(
            captions, padding="max_length", truncation=True, max_length=self.max_length,
            return_tensors="pt",
        )
        device = next(self.transformer.parameters()).device
        ids = tok["input_ids"].to(device)
        # SD feeds CLIP ids only (causal mask, EOS-padded); BERT-like encoders get their mask.
        mask = None if self.is_clip else tok["attention_mask"].to(device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            out = self.transformer(
                input_ids=ids, attention_mask=mask, output_hidden_states=self.penultimate
            )
            if self.penultimate:
                h = out.hidden_states[-2]
                norm = self._final_norm()
                h = norm(h) if norm is not None else h
            else:
                h = out.last_hidden_state
        return self.proj(h)

    def _final_norm(self) -> nn.Module | None:
        """CLIP's final LayerNorm (transformers 5 flattens CLIPTextModel; 4 nests text_model)."""
        if not self.is_clip:
            return None
        inner = getattr(self.transformer, "text_model", self.transformer)
        return getattr(inner, "final_layer_norm", None)

    def empty_input(self, batch_size: int) -> list[str]:
        return [""] * batch_size
