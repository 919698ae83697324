"""Evaluate a model: sample N images conditioned on N held-out items, score them with evaluators.

    model = ldmcore.load("runs/layout2img/model.safetensors")
    result = evaluate(model, num_samples=256, seed=0)
    print(format_table(result.metrics)); result.write_json("results.json")

The N items are the first N of the spec's `training.val_dataset` (else `training.dataset`, with a
note). The task derives its inputs once for all N (superres: lowres, inpainting: mask and masked
image), then the model samples batch by batch. Every evaluator of the spec's `evaluators:` section
(else the task's `evaluation` name with default params; or the names given in `evaluators=`) is
called once on all N images with real= (the dataset images), fake= / images= (the samples) and
batch= (the conditioning the samples were drawn with).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch.utils.data import default_collate

from .errors import DataError, LdmError, SpecError


@dataclass
class EvalResult:
    """Metrics (flat `evaluator.metric` -> value), notes, and the images they came from."""

    metrics: dict[str, float]
    notes: list[str]
    info: dict[str, Any]
    images: torch.Tensor  # the samples (N, C, H, W) in [-1, 1], on CPU
    real: torch.Tensor  # the dataset images they are compared with
    batch: dict = field(repr=False, default_factory=dict)  # the prepared conditioning, CPU
    inputs: list[str] = field(default_factory=list)  # batch keys the conditioners read
    reconstructed: bool = False  # images are D(E(real)), not samples
    palette: list | None = None  # 8-bit RGB per label id, to draw a segmentation input

    def to_dict(self) -> dict[str, Any]:
        return {**self.info, "metrics": {k: _json_number(v) for k, v in self.metrics.items()},
                "notes": list(self.notes)}

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path


def _json_number(v: float) -> float | str:
    """Strict JSON has no inf/nan (PSNR of identical images is inf): write them as strings."""
    return v if math.isfinite(v) else str(v)


# ----------------------------------------------------------------------------- data
def evaluation_dataset(spec: Any, registry: Any) -> tuple[Any, str, list[str]]:
    """(dataset, 'where (type)', notes): training.val_dataset, else training.dataset."""
    from .training.data import build_dataset

    training = spec.training
    if training is None:
        raise DataError("the spec has no training: section, so no dataset to evaluate on "
                        "(add training.val_dataset)")
    if training.val_dataset is not None:
        where, node, notes = "training.val_dataset", training.val_dataset, []
    else:
        where, node = "training.dataset", training.dataset
        notes = ["no training.val_dataset: evaluated on items of training.dataset"]
    return build_dataset(spec, registry, node, where), f"{where} ({node.type})", notes


def _slice(batch: Mapping[str, Any], start: int, stop: int) -> dict:
    return {k: v[start:stop] for k, v in batch.items()}


def _to(batch: Mapping[str, Any], device: torch.device) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


# ----------------------------------------------------------------------------- evaluators
def build_evaluators(spec: Any, task: Any, registry: Any, select: Sequence[str] | None = None,
                     *, progress: bool = True) -> dict[str, Any]:
    """name -> evaluator: the `select`ed names (entries of spec.evaluators, or evaluator types
    with default params), else every entry of spec.evaluators, else the task's `evaluation`.
    `progress=False` also turns off evaluators' own bars (a `progress` param, e.g. fid's)."""
    from .builder import BuildContext
    from .spec.wiring import check_wiring

    ctx = BuildContext(spec=spec, wiring=check_wiring(spec), registry=registry)
    entries = dict(spec.evaluators or {})
    if select:
        names, where = list(dict.fromkeys(select)), "--evaluator"
    elif entries:
        names, where = list(entries), "evaluators"
    else:
        names = getattr(task, "evaluation", None)
        names = [names] if isinstance(names, str) else list(names or [])
        where = f"task '{spec.task.type}' evaluation"
        if not names:
            raise SpecError(f"nothing to evaluate with: the spec has no evaluators: section and "
                            f"task '{spec.task.type}' names no evaluation (add e.g. "
                            "evaluators.psnr.type=psnr)")
    out = {}
    for name in names:
        if name in entries:
            node, at = entries[name], f"evaluators.{name}"
        else:
            info = registry.get("evaluator", name, where=where)
            try:
                node, at = SimpleNamespace(type=name, params=info.params_model()), where
            except Exception as exc:  # noqa: BLE001 - pydantic: required params not given
                raise SpecError(f"{where}: evaluator '{name}' needs params; add an evaluators: "
                                f"entry ({str(exc).splitlines()[0]})") from None
        if not progress and "progress" in type(node.params).model_fields:
            node = SimpleNamespace(
                type=node.type, params=node.params.model_copy(update={"progress": False}))
        out[name] = ctx.instantiate("evaluator", node, at)
    return out


def _metric_key(evaluator: str, metric: str) -> str:
    return metric if metric == evaluator else f"{evaluator}.{metric}"


# ----------------------------------------------------------------------------- the loop
def evaluate(
    model: Any,
    *,
    num_samples: int,
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = True,
    registry: Any = None,
    evaluators: Mapping[str, Any] | Sequence[str] | None = None,
    dataset: Any = None,
    notes: Iterable[str] = (),
    info: Mapping[str, Any] | None = None,
    reconstruct: bool = False,
) -> EvalResult:
    """Sample `num_samples` images conditioned on the first items of the evaluation dataset
    and score them with every evaluator (see the module docstring). With `reconstruct`, score
    the first stage instead: D(E(x)) against x, with psnr and ssim unless told otherwise."""
    if not isinstance(num_samples, int) or num_samples <= 0:
        raise DataError(f"num_samples must be a positive integer, got {num_samples!r}")
    if batch_size <= 0:
        raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
    if registry is None:
        from .plugins import default_registry

        registry = default_registry()
    spec = model.spec
    notes = list(notes)
    where = "dataset"
    if dataset is None:
        dataset, where, more = evaluation_dataset(spec, registry)
        notes += more
    if num_samples > len(dataset):
        raise DataError(f"num_samples {num_samples} is larger than {where} "
                        f"({len(dataset)} items)")
    if isinstance(evaluators, str):
        evaluators = [evaluators]
    if reconstruct:
        evaluators = evaluators or ["psnr", "ssim"]
        notes.append("first stage: scored reconstructions D(E(x)) of held-out images")
    if not isinstance(evaluators, Mapping):
        chosen = bool(evaluators)
        with torch.enable_grad():  # a dataset-feature FID trains its CNN on first use
            evaluators = build_evaluators(spec, model.task, registry, evaluators,
                                          progress=progress)
        if not chosen and not spec.evaluators:
            notes.append(f"the spec has no evaluators: section; scored with task "
                         f"'{spec.task.type}''s default ({', '.join(evaluators)})")

    with torch.no_grad():
        batch, fake = _draw(model, dataset, where, num_samples, batch_size, seed, progress,
                            reconstruct)
    real = batch["image"].float()

    metrics: dict[str, float] = {}
    for name, ev in evaluators.items():
        try:
            with torch.no_grad():
                out = ev(real=real, fake=fake, images=fake, batch=batch)
        except LdmError as exc:
            raise type(exc)(f"evaluator '{name}': {exc}") from None
        for metric, value in out.items():
            metrics[_metric_key(name, metric)] = float(value)
        for metric, text in (getattr(ev, "notes", None) or {}).items():
            notes.append(f"{_metric_key(name, metric)}: {text}")
    full_info = {
        **(info or {}),
        "num_samples": num_samples, "batch_size": batch_size, "seed": seed,
        "task": spec.task.type, "dataset": where, "image_size": list(fake.shape[-2:]),
        "sampler": spec.sampler.type, "steps": getattr(spec.sampler.params, "steps", None),
        "guider": spec.guider.type,
        "evaluators": {n: _describe(spec, n, e) for n, e in evaluators.items()},
    }
    inputs = sorted({slot.input_key for slot in model.conditioners.values()})
    from .inputs import label_palette

    return EvalResult(metrics, notes, full_info, fake, real, batch, inputs, reconstruct,
                      label_palette(spec))


def _draw(model: Any, dataset: Any, where: str, n: int, batch_size: int, seed: int,
          progress: bool, reconstruct: bool = False) -> tuple[dict, torch.Tensor]:
    """(the prepared batch of the first n items, on CPU; the n samples (n, C, H, W), CPU)."""
    from tqdm import tqdm

    from .training.data import mix_seed

    # the conditioning of all n items, derived once (masks do not depend on the batch size)
    batch = default_collate([dataset[i] for i in range(n)])
    batch = model.task.prepare(batch, torch.Generator().manual_seed(mix_seed(seed, 1)))
    if "image" not in batch:
        raise DataError(f"{where} items have no 'image' to compare samples with")
    model.eval()
    device = next(model.parameters()).device
    # items rendered at another size than trained (e.g. training.val_dataset.params.size=64)
    # are sampled at their size: convolutional sampling, scored at that size
    f = model.spec.first_stage.params.latent_port().factor
    latent_size = (batch["image"].shape[-2] // f, batch["image"].shape[-1] // f)
    samples = []
    for start in tqdm(range(0, n, batch_size), desc="sampling", unit="batch",
                      disable=not progress):
        part = _to(_slice(batch, start, start + batch_size), device)
        if reconstruct:
            out = model.decode(model.encode(part["image"], sample=False)).clamp(-1, 1)
        else:
            g = torch.Generator().manual_seed(mix_seed(seed, 2, start))
            out = model.sample(part, num_samples=len(part["image"]), generator=g,
                               latent_size=latent_size, progress=False)
        samples.append(out.float().cpu())
    return batch, torch.cat(samples)


def _describe(spec: Any, name: str, ev: Any) -> dict[str, Any]:
    node = spec.evaluators.get(name) if spec.evaluators else None
    params = getattr(ev, "params", None)
    return {"type": node.type if node is not None else name,
            "params": params.model_dump(mode="json") if hasattr(params, "model_dump") else {}}


# ----------------------------------------------------------------------------- output
def format_table(metrics: Mapping[str, float]) -> str:
    """A two-column text table (metric, value)."""
    rows = [(k, f"{v:.4f}" if math.isfinite(v) and v != int(v) else f"{v:g}")
            for k, v in metrics.items()]
    w = max([len("metric")] + [len(k) for k, _ in rows])
    v = max([len("value")] + [len(s) for _, s in rows])
    lines = [f"{'metric':<{w}}  {'value':>{v}}", f"{'-' * w}  {'-' * v}"]
    lines += [f"{k:<{w}}  {s:>{v}}" for k, s in rows]
    return "\n".join(lines)


def save_eval_grid(result: EvalResult, path: str | Path, max_images: int = 64) -> Path:
    """The first samples as a PNG grid with the conditioning they were drawn from: captions /
    class ids / boxes drawn on them, or, for image inputs (low-res, masked image, a label map
    in its palette colours), triples (input, sample, ground truth); reconstructions as pairs
    (image, reconstruction)."""
    from torch.nn import functional as F

    from .viz import label_picture, save_grid

    n = min(max_images, len(result.images))
    batch, used = result.batch, set(result.inputs)
    fake, side = result.images[:n], result.images.shape[-1]
    upscale = max(1, 128 // side)
    if result.reconstructed:
        cells = torch.stack([result.real[:n], fake], dim=1).flatten(0, 1)
        return save_grid(cells, path, nrow=2 * min(4, n), upscale=upscale)
    pictures = [k for k in ("lowres", "masked_image") if k in used]
    if "segmentation" in used and result.palette:
        cond = label_picture(batch["segmentation"][:n], result.palette)
    elif pictures:
        cond = batch[pictures[0]][:n].float()
    if pictures or "segmentation" in used and result.palette:
        cond = F.interpolate(cond, size=fake.shape[-2:], mode="nearest")
        cells = torch.stack([cond, fake, result.real[:n]], dim=1).flatten(0, 1)
        return save_grid(cells, path, nrow=3 * min(4, n), upscale=upscale)
    captions = list(batch["caption"][:n]) if "caption" in used else None
    if captions is None and "class" in used:
        captions = [f"class {int(c)}" for c in batch["class"][:n]]
    boxes = batch["boxes"][:n] if "boxes" in used else None
    return save_grid(fake, path, captions=captions, boxes=boxes, upscale=upscale)


__all__ = ["EvalResult", "evaluate", "build_evaluators", "evaluation_dataset",
           "format_table", "save_eval_grid"]
