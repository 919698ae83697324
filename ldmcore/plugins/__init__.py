"""Plugin discovery (entry points, group `ldmcore`) and pluggy hooks."""

from .hookspecs import hookimpl
from .loader import default_registry, load_registry

__all__ = ["hookimpl", "default_registry", "load_registry"]
