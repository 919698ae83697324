"""Checkpoint I/O: native safetensors (spec in metadata), CompVis/SD .ckpt, diffusers folders.

    from ldmcore.checkpoint import load_checkpoint, from_checkpoint, convert, inspect_checkpoint
"""

from .export import convert, save_as, save_compvis, save_diffusers
from .loading import check, from_checkpoint, load_checkpoint, read_checkpoint
from .native import load, read_metadata, save
from .report import LoadReport, compare, load_strict
from .variants import describe, inspect_checkpoint

__all__ = [
    "LoadReport", "check", "compare", "convert", "describe", "from_checkpoint",
    "inspect_checkpoint", "load", "load_checkpoint", "load_strict", "read_checkpoint",
    "read_metadata", "save", "save_as", "save_compvis", "save_diffusers",
]
