"""`ldm convert`: read any model source, write it in any layout.

Layer: sources (it opens a model, then hands it to ldmcore.checkpoint.export to write).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..checkpoint.export import save_as
from ..checkpoint.report import LoadReport
from ..errors import CheckpointError
from .base import resolve


def convert(
    src: str | Path,
    dst: str | Path,
    *,
    spec: str | Path | Mapping[str, Any] | None = None,
    to: str | None = None,
    overrides: Iterable[str] = (),
    registry: Any = None,
    ema: bool = False,
    strict: bool = True,
    conditioner: str | None = None,
    parts: Iterable[str] | None = None,
) -> tuple[Path, LoadReport]:
    """Read `src` (any name `resolve` knows) into its model (strictly), write it to `dst`."""
    if Path(dst).resolve() == Path(src).resolve():
        raise CheckpointError(f"{dst}: destination is the source")
    source = resolve(src)
    if source.kind == "spec":
        raise CheckpointError(f"{src}: a spec holds no weights to convert (give a checkpoint; "
                              "--spec names its architecture)")
    model = source.open(list(overrides), spec=spec, registry=registry, ema=ema, strict=strict,
                        conditioner=conditioner, parts=parts)
    return save_as(model, dst, to, conditioner=conditioner), model.load_report
