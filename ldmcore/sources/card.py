"""A model card name (`shapes-txt2img`): registry/models/<name>.yaml names its weights file,
which is then opened as that file's kind."""

from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError
from .base import Source, SourceKind, resolve

CARDS = Path("registry/models")


def find_card(name: str) -> Path | None:
    """registry/models/<name>.yaml under the working directory, else beside this checkout."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    for root in (CARDS, Path(__file__).resolve().parents[2] / CARDS):
        if (root / f"{name}.yaml").is_file():
            return root / f"{name}.yaml"
    return None


def read_card(path: Path) -> dict:
    import yaml

    try:
        card = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CheckpointError(f"{path}: unreadable model card ({exc})".splitlines()[0]) from None
    if not isinstance(card, dict):
        raise CheckpointError(f"{path}: a model card must be a mapping")
    return card


def probe(name: str) -> Source | None:
    path = find_card(name)
    if path is None:
        return None
    card = read_card(path)
    if not card.get("weights"):
        raise CheckpointError(f"{path}: no 'weights' entry")
    source = resolve(str(path.parent / card["weights"]))
    source.name, source.card = name, card
    return source


def _never(source, overrides, **options):  # a card always opens as its weights' kind
    raise AssertionError("card sources open as their weights file's kind")


KIND = SourceKind("card", f"a model card name in {CARDS} (shapes-txt2img)", probe, _never,
                  absent=f"no card '{{name}}' in {CARDS}")
