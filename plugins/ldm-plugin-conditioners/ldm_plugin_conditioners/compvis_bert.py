"""compvis_bert: CompVis' BERTEmbedder, key for key and shape for shape.

LDM's txt2img model (use_tokenizer: true) tokenises captions with bert-base-uncased's WordPiece
tokenizer, padded/truncated to max_seq_len = 77; its layout2img model (use_tokenizer: false)
feeds token ids, here built from boxes by taming's bbox builder (bbox_tokens.py). Both run the
same x-transformers encoder (xtransformer.py) under `transformer.`, matching
`cond_stage_model.transformer.*` of the released checkpoints.
"""

from __future__ import annotations

from typing import Any

import torch

from ldmcore.errors import DataError
from ldmcore.interfaces import Conditioner

from .params import CompVisBertParams
from .xtransformer import TransformerWrapper


class CompVisBert(Conditioner):
    def __init__(self, params: CompVisBertParams, key: str = "caption") -> None:
        super().__init__()
        self.key, self.p = key, params
        self.tokenizer = None
        self.layout = None
        if params.use_tokenizer:
            from .text import bert_tokenizer

            self.tokenizer = bert_tokenizer(params.vocab, True)
            if len(self.tokenizer) > params.vocab_size:
                raise ValueError(f"the tokenizer has {len(self.tokenizer)} tokens, vocab_size "
                                 f"is {params.vocab_size}")
        elif params.layout is not None:
            from .bbox_tokens import BBoxTokenizer

            self.layout = BBoxTokenizer(params.layout, key)
        self.transformer = TransformerWrapper(params.vocab_size, params.max_seq_len,
                                              params.n_embed, params.n_layer, params.heads,
                                              params.dim_head)

    def tokenize(self, y: Any) -> torch.Tensor:
        if self.tokenizer is not None:
            from .text import as_captions

            return self.tokenizer(as_captions(y, self.key), padding="max_length", truncation=True,
                                  max_length=self.p.max_seq_len, return_tensors="pt")["input_ids"]
        if self.layout is not None and not (torch.is_tensor(y) and not y.is_floating_point()):
            return self.layout(y)
        ids = torch.as_tensor(y)
        if ids.ndim != 2 or ids.is_floating_point() or ids.shape[1] > self.p.max_seq_len:
            raise DataError(f"'{self.key}': expected int token ids (B, <= {self.p.max_seq_len}), "
                            f"got {tuple(ids.shape)} {ids.dtype}")
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.p.vocab_size):
            raise DataError(f"'{self.key}': token ids must be in [0, {self.p.vocab_size - 1}]")
        return ids.long()

    def forward(self, y: Any) -> torch.Tensor:
        return self.transformer(self.tokenize(y))

    def empty_input(self, batch_size: int) -> Any:
        """'' for text (CompVis' unconditional prompt); an empty layout for boxes."""
        if self.tokenizer is not None:
            return [""] * batch_size
        if self.layout is not None:
            return torch.zeros(batch_size, 0, 5)
        raise DataError(f"'{self.key}': token-id input has no empty form; use null: learned")
