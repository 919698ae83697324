"""Model files that share a first stage with a card instead of embedding a copy.

A shipped model trained on `shapes-kl-f4` need not carry the autoencoder's weights again: its
.safetensors keeps only the LDM's own latent scale (`first_stage.scale_factor`/`shift_factor`,
paper Sec. 4.3.2) and names the first stage in its metadata, by card name and sha256:

    ldmcore.first_stage_ref = {"card": "shapes-kl-f4", "sha256": "..."}

The file stays self-describing: the header says what else it needs, and opening it finds that
card (beside the file first, then in the registry), checks the hash and merges the weights.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..checkpoint.native import read_metadata, read_tensors
from ..errors import CheckpointError

REF_KEY = "ldmcore.first_stage_ref"
PREFIX = "first_stage."
#: the LDM's own buffers: each model computes its latent scale on its own data
OWN = ("first_stage.scale_factor", "first_stage.shift_factor")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def reference(metadata: dict[str, str]) -> dict | None:
    """The {"card", "sha256"} a file's header names, or None when it embeds its first stage."""
    text = metadata.get(REF_KEY)
    return None if text is None else json.loads(text)


def first_stage_file(card: str, beside: Path) -> Path:
    """The weights file of first-stage card `card`, looked up beside `beside` first."""
    from .card import find_card, read_card

    path = beside / f"{card}.yaml"
    path = path if path.is_file() else find_card(card)
    if path is None:
        raise CheckpointError(f"{beside}: needs first-stage card '{card}', which is not "
                              f"there nor in the registry")
    weights = path.parent / read_card(path).get("weights", "")
    if not weights.is_file():
        raise CheckpointError(f"{path}: weights file {weights} is missing")
    return weights


def verified_file(ref: dict, owner: Path) -> Path:
    """The referenced first stage's file, its sha256 checked against the reference."""
    path = first_stage_file(ref["card"], owner.parent)
    if file_sha256(path) != ref["sha256"]:
        raise CheckpointError(f"{owner}: its first stage '{ref['card']}' ({path}) does not "
                              f"match the sha256 it was shipped with")
    return path


def attach(state: dict, metadata: dict[str, str], owner: Path) -> dict:
    """`state` with the referenced first stage's weights merged in (its own scale kept)."""
    ref = reference(metadata)
    if ref is None:
        return state
    shared = read_tensors(verified_file(ref, owner))
    merged = {PREFIX + k: v for k, v in shared.items() if PREFIX + k not in OWN}
    merged.update(state)
    return merged


def detach(state: dict, card: str, beside: Path) -> tuple[dict, dict[str, str]]:
    """(state without the first-stage weights, the metadata entry naming them).

    Refuses when the model's first stage is not that card's: sharing must not change a model.
    """
    path = first_stage_file(card, beside)
    if read_metadata(path).get("ldmcore.part") != "first_stage":
        raise CheckpointError(f"--first-stage {card}: {path} is not a first-stage export")
    shared = read_tensors(path)
    ours = {k[len(PREFIX):]: v for k, v in state.items() if k.startswith(PREFIX) and k not in OWN}
    if ours.keys() != {k for k in shared if PREFIX + k not in OWN}:
        raise CheckpointError(f"--first-stage {card}: the model's first-stage keys differ "
                              f"from {path}'s")
    for key, value in ours.items():
        if not value.to(shared[key].dtype).equal(shared[key]):
            raise CheckpointError(f"--first-stage {card}: the model's first stage differs from "
                                  f"{path} at '{key}' (was it trained on another one?)")
    kept = {k: v for k, v in state.items() if not k.startswith(PREFIX) or k in OWN}
    return kept, {REF_KEY: json.dumps({"card": card, "sha256": file_sha256(path)})}
