"""Model cards: shipped weights in registry/models/ (fp16 safetensors) with a YAML card each.

A card records the spec, the exact training commands, the sha256 of the weights and the metrics
measured with `ldm eval`; `ldm registry check` verifies every card's file and hash. Finding a
card by name is ldmcore.sources.card (a card is one way of naming a model).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import CheckpointError
from .sources.card import CARDS, find_card, read_card
from .sources.shared_first_stage import detach, reference, verified_file
from .sources.shared_first_stage import file_sha256 as sha256

#: buffers kept in float32: the latent scale must not be rounded
_KEEP_FP32 = ("scale_factor", "shift_factor")


def _half(state: dict) -> dict:
    return {
        k: v.half() if v.is_floating_point() and not k.endswith(_KEEP_FP32) else v
        for k, v in state.items()
    }


def _fp16_error(full: Path, half: Path) -> float:
    """max |Δ| of one denoiser forward between the fp32 and the fp16-stored weights."""
    import torch

    from .sources import load

    outs = []
    for path in (full, half):
        model = load(path).eval()
        g = torch.Generator().manual_seed(0)
        c, h, w = model.latent_shape
        z = torch.randn(2, c, h, w, generator=g)
        t = torch.tensor([10, 500])
        p = model.spec.denoiser.params
        kwargs = {}
        if p.context_dim:
            slots = model.conditioners.values()
            tokens = sum(s.port.tokens for s in slots if s.wiring == "crossattn")
            kwargs["context"] = torch.randn(2, tokens, p.context_dim, generator=g)
        if p.in_channels > c:
            kwargs["concat"] = torch.randn(2, p.in_channels - c, h, w, generator=g)
        with torch.no_grad():
            outs.append(model.denoiser(z, t, **kwargs))
    return float((outs[0] - outs[1]).abs().max())


def export(weights: str | Path, name: str, *, task: str, commands: list[str],
           metrics: dict[str, Any] | None = None, description: str = "",
           first_stage: str | None = None, root: Path = CARDS) -> Path:
    """Write root/<name>.safetensors (fp16) and root/<name>.yaml; return the card path.

    `first_stage`: a first-stage card in `root` the model was trained on; the file then names
    it (sha256 included) instead of embedding its weights.
    """
    from .checkpoint.native import read_tensors
    from .sources import resolve

    source = resolve(str(weights))  # the header read once: its spec, which part it is
    if source.kind != "native":
        raise CheckpointError(f"{weights}: a model card ships an ldmcore .safetensors "
                              f"(ldm train's export), not a {source.kind} source")
    weights = source.path
    root.mkdir(parents=True, exist_ok=True)
    out = root / f"{name}.safetensors"
    state, metadata = _half(read_tensors(weights)), dict(source.metadata)
    if first_stage:
        state, ref = detach(state, first_stage, root)
        metadata.update(ref)
    _write_weights(state, metadata, out)
    spec = source.spec or {}
    first_stage_only = not source.trained_denoiser
    card = {
        "name": name,
        "task": task,
        "description": description,
        "weights": out.name,
        "sha256": sha256(out),
        "bytes": out.stat().st_size,
        "dtype": "float16 (scale_factor/shift_factor float32)",
        **({"first_stage": reference(metadata)} if first_stage else {}),
        "fp16_max_abs_diff": None if first_stage_only else _fp16_error(weights, out),
        "training": {"commands": commands},
        "metrics": metrics or {},
        "spec": spec,
    }
    return _write_card(card, root / f"{name}.yaml")


def share(name: str, first_stage: str, root: Path = CARDS) -> Path:
    """Rewrite card `name` so its file names first-stage card `first_stage` (by sha256) instead
    of embedding a copy; return the card path.

    The model does not change: `detach` refuses unless the embedded weights equal that card's.
    The card keeps its metrics and commands; its sha256, bytes and first_stage are updated.
    """
    from .checkpoint.native import read_metadata, read_tensors

    path, card = _open_card(name, root)
    if card.get("first_stage"):
        raise CheckpointError(f"{path}: already shares first stage '{card['first_stage']['card']}'")
    weights = root / card.get("weights", "")
    state, ref = detach(read_tensors(weights), first_stage, root)
    _write_weights(state, {**read_metadata(weights), **ref}, weights)
    updated = {}
    for key, value in card.items():  # the card's key order, the new entries after dtype
        updated[key] = value
        if key == "dtype":
            updated["first_stage"] = reference(ref)
    updated.update(sha256=sha256(weights), bytes=weights.stat().st_size)
    return _write_card(updated, path)


#: spec nodes a shipped model's defaults may change in (how it samples, not what it is)
SAMPLING_NODES = ("sampler", "guider", "sampling")


def set_defaults(name: str, overrides: list[str], measured: dict, root: Path = CARDS) -> Path:
    """Card `name` with new sampling defaults (e.g. the guidance scale a sweep found best)
    written into its file's spec and its card, and `measured` (`ldm eval NAME OVERRIDES --out`)
    as its metrics. The tensors are unchanged (the file is rewritten only when its spec
    changes); return the card path."""
    import json

    from .checkpoint.native import SPEC_KEY, read_metadata, read_tensors, spec_json
    from .spec import resolve_spec

    path, card = _open_card(name, root)
    for item in overrides:
        if item.split("=", 1)[0].split(".", 1)[0] not in SAMPLING_NODES:
            raise CheckpointError(f"{item}: a card's defaults change only under "
                                  f"{', '.join(SAMPLING_NODES)} (the weights stay as trained)")
    if measured.get("overrides") != list(overrides):
        raise CheckpointError(f"the metrics were measured with overrides "
                              f"{measured.get('overrides')}, not {list(overrides)}")
    weights = root / card.get("weights", "")
    metadata = read_metadata(weights)
    stored = json.loads(metadata[SPEC_KEY])
    spec = resolve_spec(stored, overrides, name=str(weights))
    if spec != resolve_spec(stored, name=str(weights)):  # same defaults: file and spec stay
        _write_weights(read_tensors(weights), {**metadata, SPEC_KEY: spec_json(spec)}, weights)
        card.update(sha256=sha256(weights), bytes=weights.stat().st_size,
                    spec=spec.model_dump(mode="json"))
    card["metrics"] = measured
    return _write_card(card, path)


#: what a card is: `record` never rewrites these
_CARD_CORE = ("name", "task", "weights", "sha256", "bytes", "dtype", "first_stage", "spec")


def record(name: str, key: str, value: Any, root: Path = CARDS) -> Path:
    """Write one more measurement (e.g. a guidance sweep) onto card `name` under `key`; the
    weights and the card's identity are untouched. Return the card path."""
    path, card = _open_card(name, root)
    if key in _CARD_CORE:
        raise CheckpointError(f"{path}: '{key}' is part of the card itself, not a measurement")
    card[key] = value
    return _write_card(card, path)


def _open_card(name: str, root: Path) -> tuple[Path, dict]:
    path = root / f"{name}.yaml"
    if not path.is_file():
        raise CheckpointError(f"no model card {path}")
    return path, read_card(path)


def _write_weights(state: dict, metadata: dict[str, str], out: Path) -> None:
    """`out` replaced atomically: a failed write leaves the previous file as it was."""
    from safetensors.torch import save_file

    tmp = out.with_name(f".{out.name}.tmp")
    try:
        save_file(state, str(tmp), metadata=metadata)
        tmp.chmod(0o644)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _write_card(card: dict, path: Path) -> Path:
    import yaml

    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(card, sort_keys=False, width=100))
    os.replace(tmp, path)
    return path


def read(name: str) -> dict:
    path = find_card(name)
    if path is None:
        raise CheckpointError(f"no model card {CARDS / name}.yaml")
    return read_card(path)


def verify(root: Path = CARDS) -> list[str]:
    """Problems with the shipped models (missing file, wrong hash); empty when all is well."""
    import yaml

    problems = []
    for card_path in sorted(root.glob("*.yaml")):
        card = yaml.safe_load(card_path.read_text())
        weights = root / card.get("weights", "")
        if not weights.is_file():
            problems.append(f"{card_path}: weights file {weights} is missing")
        elif sha256(weights) != card.get("sha256"):
            problems.append(f"{card_path}: sha256 of {weights} does not match the card")
        elif card.get("first_stage"):
            try:
                verified_file(card["first_stage"], weights)
            except CheckpointError as exc:
                problems.append(f"{card_path}: {exc}")
    return problems
