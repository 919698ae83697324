"""Checkpoint I/O: native safetensors (spec in metadata), CompVis/SD .ckpt, diffusers folders.

    from ldmcore.checkpoint import load_checkpoint, read_checkpoint, save_as, inspect_checkpoint

This layer reads and writes files and maps keys; it never builds a model. Opening a model from
a file (`ldmcore.load`, `from_checkpoint`, `convert`) is ldmcore.sources.
"""

from .export import save_as, save_compvis, save_diffusers
from .loading import check, load_checkpoint, read_checkpoint
from .native import read_metadata, save
from .report import LoadReport, compare, load_strict
from .variants import describe, inspect_checkpoint

__all__ = [
    "LoadReport", "check", "compare", "describe", "inspect_checkpoint", "load_checkpoint",
    "load_strict", "read_checkpoint", "read_metadata", "save", "save_as", "save_compvis",
    "save_diffusers",
]
