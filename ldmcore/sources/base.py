"""A named model source, read once: what it is, where it lies, what it carries.

`resolve(name)` asks each registered kind, in order, whether the name is one of its own; the
first that says yes reads what it needs (a file header, a card, a training checkpoint) once and
returns a `Source`. `Source.open(overrides)` builds the model from that description, reusing
what was read. A name no kind claims gets one message listing what was tried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CheckpointError


@dataclass
class Source:
    """One typed description of what a user named."""

    name: str  # as the user wrote it
    kind: str  # the registered kind that read it: native, training, checkpoint, spec, ...
    path: Path  # the file or folder holding the weights (the spec file for a bare spec)
    part: str = "model"  # "first_stage": an autoencoder alone, no trained denoiser
    metadata: dict[str, str] = field(default_factory=dict)
    spec: dict | None = None  # the resolved spec it carries, as plain data (None: not known)
    card: dict | None = None  # the model card it was found through
    payload: Any = field(default=None, repr=False)  # what the kind read (e.g. a .pt's dict)
    untrained: bool = False  # opens with random weights (a spec alone)

    @property
    def trained_denoiser(self) -> bool:
        """Whether sampling it means anything: a first-stage export has no denoiser."""
        return self.part != "first_stage"

    @property
    def task(self) -> str | None:
        if self.card and self.card.get("task"):
            return str(self.card["task"])
        task = (self.spec or {}).get("task") or {}
        return task.get("type")

    @property
    def inputs(self) -> list[str]:
        """Batch keys its conditioners read (empty for an unconditional model or unknown)."""
        conditioners = (self.spec or {}).get("conditioners") or {}
        return [node.get("input", name) for name, node in conditioners.items()]

    def open(self, overrides: Sequence[str] = (), **options: Any):
        return KINDS[self.kind].open(self, list(overrides), **options)


@dataclass(frozen=True)
class SourceKind:
    """A way of naming a model. `probe(name)` returns a Source if the name is this kind's (and
    raises CheckpointError if it is, but broken), else None; `open(source, overrides)` builds."""

    name: str
    looks_like: str  # for "nothing matched" messages: what a name of this kind looks like
    probe: Callable[[str], Source | None]
    open: Callable[..., Any]
    absent: str = "no file '{name}'"  # what was not found, when nothing claims a name


#: kind name -> kind, in the order names are tried
KINDS: dict[str, SourceKind] = {}


def register_kind(kind: SourceKind) -> SourceKind:
    """Add a way of naming a model (a kind registered twice replaces nothing: it is an error)."""
    if kind.name in KINDS:
        raise ValueError(f"model source kind '{kind.name}' is registered twice")
    KINDS[kind.name] = kind
    return kind


def resolve(name: str | Path | Source) -> Source:
    """The first kind that claims `name`, read once; else an error saying what was tried.
    A Source resolves to itself."""
    if isinstance(name, Source):
        return name
    name = str(name)
    for kind in KINDS.values():
        source = kind.probe(name)
        if source is not None:
            return source
    path = Path(name)
    if path.exists():
        what = f"{'a folder' if path.is_dir() else 'a file'} of no kind ldmcore opens"
    else:
        what = ", ".join(dict.fromkeys(k.absent.format(name=name) for k in KINDS.values()))
    tried = "; ".join(k.looks_like for k in KINDS.values())
    raise CheckpointError(f"{name}: {what} (a model is one of: {tried})")
