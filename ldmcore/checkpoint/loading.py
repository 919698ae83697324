"""Load any checkpoint (native, CompVis/SD .ckpt/.safetensors, diffusers folder) into a model.

    report = load_checkpoint(model, "v1-5-pruned.safetensors", ema=True)

Layer: checkpoint. Building a model for a checkpoint is ldmcore.sources (`from_checkpoint`).

Strict by default: every key of the selected parts must be present with its shape, nothing
unexpected may remain, or a CheckpointError names the file, the first offending keys and what the
shapes say the checkpoint is. Validation happens before any tensor is copied, so a failed load
leaves the model as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..dotted import under
from ..errors import CheckpointError
from .compvis import OPTIONAL_MODEL_KEYS, Mapped, compvis_to_model, default_conditioner
from .diffusers_folder import is_diffusers_folder, read_diffusers
from .native import SPEC_KEY
from .readers import read_file
from .report import LoadReport, compare
from .variants import explain_mismatch, inspect_checkpoint

MODEL_PARTS = ("first_stage.", "denoiser.", "conditioners.")


@dataclass
class Checkpoint:
    state: dict[str, Any]
    metadata: dict[str, str]
    format: str  # native | compvis | diffusers
    source: str

    @property
    def spec(self) -> dict | None:
        text = self.metadata.get(SPEC_KEY)
        return json.loads(text) if text else None


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a file or diffusers folder; say which layout it has."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        if not is_diffusers_folder(path):
            raise CheckpointError(
                f"{path}: a folder but not a diffusers model (no model_index.json, "
                "unet/config.json, vae/config.json or config.json)"
            )
        state, meta = read_diffusers(path)
        return Checkpoint(state, meta, "diffusers", str(path))
    state, meta = read_file(path)
    native = meta.get("format") == "ldmcore" or (
        SPEC_KEY in meta and all(k.startswith(MODEL_PARTS) for k in state))
    return Checkpoint(state, meta, "native" if native else "compvis", str(path))


def map_checkpoint(ckpt: Checkpoint, model: Any, *, ema: bool = False,
                   conditioner: str | None = None) -> Mapped:
    """The checkpoint in the model's own keys."""
    if ckpt.format == "native":
        if ema:
            raise CheckpointError(f"{ckpt.source}: native checkpoints hold one set of weights; "
                                  "drop --ema")
        parts = {_part(k) for k in ckpt.state}
        return Mapped(dict(ckpt.state), parts=parts)
    with_weights = default_conditioner(model)
    names = [with_weights] if with_weights and conditioner is None else list(model.conditioners)
    return compvis_to_model(ckpt.state, conditioners=names, conditioner=conditioner, ema=ema,
                            expected=model.state_dict().keys(), source=ckpt.source)


def _part(key: str) -> str:
    head, _, rest = key.partition(".")
    return f"{head}.{rest.partition('.')[0]}" if head == "conditioners" else head


def check(model: Any, mapped: Mapped, *,
          parts: Iterable[str] | None = None) -> tuple[LoadReport, dict[str, Any]]:
    """Compare without loading: (report, the tensors that would be loaded)."""
    own = model.state_dict()
    if parts is None:
        # A full checkpoint (UNet and first stage) must cover the whole model; a component
        # file (a VAE, a UNet) covers its own parts only.
        full = {"denoiser", "first_stage"} <= mapped.parts
        parts = {_part(k) for k in own} if full else set(mapped.parts)
    parts = sorted(parts)
    state = {k: v for k, v in mapped.state.items() if under(k, parts)
             or not k.startswith(MODEL_PARTS)}
    ours = {k: v for k, v in own.items() if under(k, parts)}
    skipped = sorted(k for k in mapped.state if k not in state)

    class _View:  # compare() works on anything with state_dict()
        def state_dict(self_inner):
            return ours

    report = compare(_View(), state)
    optional = [k for k in report.missing if k in OPTIONAL_MODEL_KEYS or k.endswith("position_ids")]
    report.missing = [k for k in report.missing if k not in optional]
    constant = [k for k in report.unexpected if k.endswith("position_ids")]  # text encoders
    report.unexpected = [k for k in report.unexpected if k not in constant]
    report.ignored = sorted(mapped.ignored + skipped + constant)
    report.notes = list(mapped.notes)
    if skipped:
        report.notes.append(f"{len(skipped)} checkpoint tensors outside {', '.join(parts)} "
                            "not loaded")
    for k in optional:
        if k in own and own[k].numel() == 1 and not (k.endswith("shift_factor")
                                                      and float(own[k]) == 0.0):
            report.notes.append(f"{k} not in checkpoint; kept {float(own[k]):g} from the spec")
    if not report.ok:
        theirs = inspect_checkpoint(state)
        report.hint = explain_mismatch(theirs, inspect_checkpoint(ours))
        if not report.hint and report.missing and not report.unexpected:
            report.hint = ("load only some parts with --only (e.g. --only first_stage,denoiser)"
                           if any(k.startswith("conditioners.") for k in report.missing) else None)
    bad = ({k for k, _, _ in report.mismatched} | set(report.unexpected)
           | {k for k, _, _ in report.wrong_dtype} | set(report.non_finite))
    return report, {k: v for k, v in state.items() if k not in bad}


def extend_denoiser_inputs(state: dict[str, Any], own: dict[str, Any], source: str) -> str:
    """Widen the denoiser's input layer in `state` (in place) to the model's channels: the
    checkpoint's weights on the first channels (z_t), zeros on the added ones (the concat
    conditioning). The model then starts out computing exactly what the checkpoint did, whatever
    its new inputs hold; SD's inpainting model was started from SD this way. The input layer is
    the one denoiser tensor whose shapes differ in dimension 1 only, narrower in the checkpoint."""
    import torch

    def widened(key: str) -> bool:
        theirs, ours = state[key].shape, own[key].shape
        return (key.startswith("denoiser.") and len(theirs) == len(ours) >= 2
                and theirs[1] < ours[1] and theirs[:1] + theirs[2:] == ours[:1] + ours[2:])

    keys = [k for k in state if k in own and widened(k)]
    if len(keys) != 1:
        found = ", ".join(keys) if keys else "none"
        raise CheckpointError(f"{source}: denoiser.extend_inputs needs exactly one denoiser "
                              f"input layer narrower than the model's (found: {found})")
    key = keys[0]
    old = state[key]
    new = torch.zeros(own[key].shape, dtype=old.dtype)
    new[:, : old.shape[1]] = old
    state[key] = new
    return (f"{key}: the checkpoint's {old.shape[1]} input channels extended to "
            f"{new.shape[1]}, the added ones zero")


def _schedule_note(ckpt: Checkpoint, model: Any) -> str | None:
    ac = ckpt.state.get("alphas_cumprod")
    schedule = getattr(model, "schedule", None)
    if ac is None or schedule is None:
        return None
    ours = schedule.alphas_cumprod
    if ac.shape != ours.shape or (ac.double() - ours).abs().max() > 1e-5:
        return ("checkpoint's noise schedule (alphas_cumprod) differs from the spec's diffusion "
                "section; sampling follows the spec")
    return None


def load_checkpoint(
    model: Any,
    source: str | Path | Checkpoint,
    *,
    ema: bool = False,
    strict: bool = True,
    conditioner: str | None = None,
    parts: Iterable[str] | None = None,
    extend_inputs: bool = False,
) -> LoadReport:
    """Load `source` into `model` (all or nothing when strict) and return the report. With
    `extend_inputs`, a denoiser trained on fewer input channels fills the first ones of the
    model's (extend_denoiser_inputs)."""
    ckpt = source if isinstance(source, Checkpoint) else read_checkpoint(source)
    mapped = map_checkpoint(ckpt, model, ema=ema, conditioner=conditioner)
    if extend_inputs:
        mapped.notes.append(extend_denoiser_inputs(mapped.state, model.state_dict(), ckpt.source))
    report, state = check(model, mapped, parts=parts)
    if strict and not report.ok:
        raise CheckpointError(f"{ckpt.source}: does not match the model: {report.summary()}")
    note = _schedule_note(ckpt, model)
    if note:
        report.notes.append(note)
    model.load_state_dict(state, strict=False)
    return report
