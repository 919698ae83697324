"""The graph spec: YAML (OmegaConf) -> plain dict -> pydantic models -> port check."""

from .load import load_raw
from .resolve import resolve_spec

__all__ = ["load_raw", "resolve_spec"]
