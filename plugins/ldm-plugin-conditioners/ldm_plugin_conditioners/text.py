"""Captions: input checks, the BERT WordPiece tokenizer, and `bert_transformer` (the paper's tau).

LDM's text-to-image model tokenises with BERT's WordPiece tokenizer and encodes the ids with a
transformer trained from scratch jointly with the UNet: tau_theta(y) in R^{M x d_tau}.
"""

from __future__ import annotations

from typing import Any

import torch

from ldmcore.errors import DataError
from ldmcore.interfaces import Conditioner

from .params import BertTransformerParams
from .resources import read_vocab, vocab_file
from .transformer import TokenTransformer


def as_captions(y: Any, key: str) -> list[str]:
    """A batch of captions as a list of str; DataError naming `key` otherwise."""
    if isinstance(y, str):
        y = [y]
    if not isinstance(y, (list, tuple)):
        raise DataError(f"'{key}': expected a list of caption strings, got {type(y).__name__}")
    if not y:
        raise DataError(f"'{key}': empty caption list")
    bad = [type(c).__name__ for c in y if not isinstance(c, str)]
    if bad:
        raise DataError(f"'{key}': captions must be str, got {bad[0]}")
    return list(y)


def bert_tokenizer(vocab: str | None, lowercase: bool = True) -> Any:
    """transformers' fast BERT WordPiece tokenizer over a local vocab.txt, fully offline."""
    from transformers import BertTokenizerFast

    path = vocab_file(vocab)
    table = read_vocab(path)
    tok = BertTokenizerFast(vocab=table, do_lower_case=lowercase)  # transformers >= 5
    if len(tok) != len(table):  # transformers 4 reads the file itself
        tok = BertTokenizerFast(vocab_file=str(path), do_lower_case=lowercase)
    return tok


class BertTransformer(Conditioner):
    def __init__(self, params: BertTransformerParams, key: str = "caption") -> None:
        super().__init__()
        self.key = key
        self.max_length = params.max_length
        self.tokenizer = bert_tokenizer(params.vocab, params.lowercase)
        self.transformer = TokenTransformer(
            len(self.tokenizer), params.max_length, params.dim, params.depth, params.heads,
            params.mlp_ratio,
        )

    def tokenize(self, captions: list[str]) -> torch.Tensor:
        """(B, max_length) ids: [CLS] words [SEP] [PAD]..., truncated to max_length."""
        out = self.tokenizer(
            captions, padding="max_length", truncation=True, max_length=self.max_length,
            return_tensors="pt",
        )
        return out["input_ids"]

    def forward(self, y: Any) -> torch.Tensor:
        return self.transformer(self.tokenize(as_captions(y, self.key)))

    def empty_input(self, batch_size: int) -> list[str]:
        return [""] * batch_size
