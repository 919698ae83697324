"""The training loop shared by both stages: data, steps, logging, previews, checkpoints.

    result = train("configs/kl_f4_shapes.yaml", stage="first_stage")
    result = train("configs/class2img_shapes.yaml", resume="auto")

Randomness is keyed, not streamed: the micro-batch that is shard k of optimiser step s (see
data.py) gets a generator (and a global torch seed, for dropout) seeded by (seed, s, k). A run
resumed at step s therefore sees exactly the data and noise an uninterrupted run would, and the
same global batch gives the same update on any number of processes as long as world_size ×
grad_accum (the number of shards) is the same: 2 processes × 1 = 1 process × 2 accumulation steps.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import LdmError, SpecError
from ..spec.training import for_stage
from . import distributed as D
from .checkpointing import (
    find_resume,
    load_or_offer,
    load_resumable,
    save_checkpoint,
    spec_diff,
)
from .data import StepSampler, build_dataset, fixed_batch, mix_seed, step_batches, to_device
from .errors import TrainingError
from .lock import RunLock
from .metrics import Meter, MetricsWriter
from .objectives import (
    DiffusionObjective,
    FirstStageObjective,
    NonFinite,
    buffers,
    restore_buffers,
)
from .scale_factor import estimate_scale_factor
from .signals import StopRequest
from .stage import choose_stage, first_stage_weights, run_dir

#: spec paths compared on resume, per stage (None = the whole spec)
_COMPARED = {"first_stage": ("spec_version", "image_size", "image_channels", "first_stage",
                             "training"), "diffusion": None}
# keys a resume may change: they do not touch the optimisation (how the model is sampled and
# scored after training, where its first stage came from)
_IGNORED = ("first_stage.checkpoint", "training.stage", "evaluators", "sampler", "guider",
            "sampling")
MAX_NAN_SKIPS = 10


@dataclass
class TrainResult:
    stage: str
    run_dir: Path
    step: int
    status: str  # "done" or "interrupted"
    checkpoint: Path | None
    export: Path | None


def _note(env: D.DistEnv, msg: str) -> None:
    if env.is_main:
        print(f"ldm train: {msg}", file=sys.stderr)


def _rng_state() -> dict[str, Any]:
    import numpy as np

    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python": random.getstate(),
            "numpy": [name, keys.tolist(), pos, has_gauss, cached]}


def _set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np

    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def _section(data: dict, paths: Iterable[str] | None) -> dict:
    return data if paths is None else {k: data.get(k) for k in paths}


class Trainer:
    def __init__(self, source: Any, overrides: Iterable[str], *, stage: str | None,
                 resume: str | None, registry: Any, progress: bool, env: D.DistEnv,
                 callback: Callable[[int, Trainer], None] | None = None) -> None:
        from ..builder import BuildContext
        from ..spec.resolve import resolve_spec
        from ..spec.wiring import check_wiring

        if registry is None:
            from ..plugins import default_registry

            registry = default_registry()
        self.env, self.progress, self.callback = env, progress, callback
        self.registry = registry
        self.stop = StopRequest()
        spec = resolve_spec(source, overrides, registry=registry)
        if spec.training is None:
            raise SpecError(f"{source}: no `training:` section; `ldm train` needs one")
        self.spec = spec
        torch.manual_seed(mix_seed(spec.training.seed, 1))
        ctx = BuildContext(spec=spec, wiring=check_wiring(spec), registry=registry)
        fs = ctx.instantiate("first_stage", spec.first_stage, "first_stage")
        self.stage = choose_stage(spec, fs, stage)
        self.t = for_stage(spec.training, self.stage)
        self.run_dir = run_dir(spec, self.stage)
        self._setup(fs, resume)  # reads only: a bad input leaves nothing on disk
        # held by rank 0 (the only writer) for the whole run; taken before anything is written
        self.lock = RunLock(self.run_dir)
        self._collective("lock the run directory", self.lock.acquire)

    def close(self) -> None:
        self.lock.release()

    def _setup(self, fs: Any, resume: str | None) -> None:
        from ..builder import build_from_spec

        spec, env, registry = self.spec, self.env, self.registry
        self.dataset = build_dataset(spec, registry, self.t.dataset)
        if self.stage == "diffusion":
            weights = first_stage_weights(spec, fs)
            if weights is not None and not spec.first_stage.checkpoint:
                _note(env, f"diffusion stage: first stage from {weights}")
                spec.first_stage.checkpoint = str(weights)
            torch.manual_seed(mix_seed(self.t.seed, 2))
            model = build_from_spec(spec, registry)  # loads first_stage.checkpoint
            self.model = model.to(env.device)
            self.objective: Any = DiffusionObjective(self.model, self.t, env)
        else:
            self._load_first_stage(fs, spec.first_stage.checkpoint)
            self.model = fs.to(env.device)
            self.objective = FirstStageObjective(self.model, self.t, env)
        self.step = self.saved_step = 0
        self.checkpoint = None
        target = find_resume(resume, self.run_dir)
        if target is not None:
            self._resume(target)
        elif resume == "auto":
            _note(env, f"nothing to resume in {self.run_dir}; starting at step 0")
        t = self.t  # the batch order; its checks (batch size vs data, shards) come before writes
        self.sampler = StepSampler(len(self.dataset), t.batch_size, seed=t.seed, rank=env.rank,
                                   world_size=env.world_size, grad_accum=t.grad_accum,
                                   start_step=self.step)

    def _load_first_stage(self, first_stage: Any, path: Any) -> None:
        if path:
            from ..checkpoint.first_stage import load_first_stage

            load_first_stage(first_stage, path, self.spec)

    # ------------------------------------------------------------------ resume
    def _resume(self, target: Path) -> None:
        """Resume from a checkpoint file, or from a run directory's newest good checkpoint."""
        if target.is_dir():
            path, state = load_resumable(target, lambda msg: _note(self.env, msg))
        else:
            path, state = target, load_or_offer(target)
        if state.get("stage") != self.stage:
            raise TrainingError(f"--resume {path}: a {state.get('stage')} checkpoint, not "
                                f"{self.stage}")
        old = _section(self._normalised(json.loads(state["spec"])), _COMPARED[self.stage])
        new = _section(self.spec.model_dump(mode="json"), _COMPARED[self.stage])
        from ..spec.training import RESUMABLE_KEYS

        diff = spec_diff(old, new, ignore=RESUMABLE_KEYS + _IGNORED)
        if diff:
            raise TrainingError(f"--resume {path}: checkpoint was trained with another spec: "
                                + "; ".join(diff))
        self.objective.load_state(state)
        _set_rng_state(state["rng"])
        self.step = self.saved_step = int(state["step"])
        self.checkpoint = path
        _note(self.env, f"resumed from {path} at step {self.step}")

    def _normalised(self, spec_data: dict) -> dict:
        """A checkpoint's spec as this version reads it (fields added since get defaults)."""
        from ..spec.resolve import validate_data

        try:
            return validate_data(spec_data, self.registry, "checkpoint").model_dump(mode="json")
        except LdmError:
            return spec_data

    # ------------------------------------------------------------------ helpers
    def _autocast(self):
        if self.t.precision == "bf16":
            return torch.autocast(self.env.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _generators(self, step: int) -> list[torch.Generator]:
        first = self.env.rank * self.t.grad_accum
        return [torch.Generator().manual_seed(mix_seed(self.t.seed, step, first + m))
                for m in range(self.t.grad_accum)]

    def _set_scale_factor(self, sampler: StepSampler) -> None:
        fs, mode = self.model.first_stage, self.t.scale_factor
        if mode == "keep":
            return
        if mode == "auto":
            from torch.utils.data import default_collate

            n = min(self.t.scale_factor_batches, sampler.steps_per_epoch)
            first = self.env.rank * self.t.grad_accum  # this rank's first shard of a step

            def batches():  # each shard's posterior noise keyed to (step, shard), not to rank
                for s in range(n):
                    for m, idx in enumerate(sampler.step_indices(s)):
                        g = torch.Generator().manual_seed(mix_seed(self.t.seed, 3, s, first + m))
                        yield default_collate([self.dataset[i] for i in idx])["image"], g

            mode = estimate_scale_factor(fs, batches(), self.env)
        fs.scale_factor.fill_(float(mode))
        _note(self.env, f"scale_factor = {float(mode):.5g}")

    def _collective(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run `fn` on rank 0; every rank raises if it failed there."""
        result, error = None, None
        if self.env.is_main:
            try:
                result = fn()
            except LdmError as exc:
                error = exc
        if D.any_rank(error is not None, self.env):
            raise error if error is not None else TrainingError(f"rank 0 failed to {what}")
        return result

    def _save(self) -> Path | None:
        from ..checkpoint.native import spec_json

        state = {"stage": self.stage, "step": self.step, "spec": spec_json(self.spec),
                 **self.objective.state(), "rng": _rng_state()}
        path = self._collective("save a checkpoint", lambda: save_checkpoint(
            self.run_dir, self.step, state, self.t.keep_last))
        self.checkpoint = path or self.checkpoint  # (the path is only known on rank 0)
        self.saved_step = self.step
        return path

    def _preview(self, batch: dict) -> None:
        from .images import save_grid

        if not self.env.is_main:
            return
        g = torch.Generator().manual_seed(mix_seed(self.t.seed, 4))
        try:
            rows = self.objective.preview(to_device(batch, self.env.device), g)
        except LdmError as exc:  # a sampling misconfiguration must not kill the run
            _note(self.env, f"step {self.step}: no sample grid ({exc})")
            return
        save_grid(rows, self.run_dir / "samples" / f"step_{self.step:08d}.png")

    def _write_spec(self) -> None:
        import yaml

        self.run_dir.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(self.spec.model_dump(mode="json"), sort_keys=False)
        (self.run_dir / "spec.yaml").write_text(text)

    # ------------------------------------------------------------------ the loop
    def run(self) -> TrainResult:
        t, env = self.t, self.env
        sampler = self.sampler
        if self.stage == "diffusion" and self.step == 0:
            self._set_scale_factor(sampler)
        preview_batch = fixed_batch(self.dataset, t.num_samples) if env.is_main else None
        if env.is_main:
            self._write_spec()
        metrics = MetricsWriter(self.run_dir, enabled=env.is_main, tensorboard=t.tensorboard,
                                resume_step=self.step, note=lambda m: _note(env, m))
        from tqdm.auto import tqdm

        bar = tqdm(total=t.steps, initial=self.step, desc=self.stage, dynamic_ncols=True,
                   disable=not (self.progress and env.is_main))
        meter, nan_skips, status = Meter(), 0, "done"
        batches = step_batches(self.dataset, sampler, num_workers=t.num_workers,
                               pin_memory=env.device.type == "cuda")
        last_log, last_time = self.step, time.perf_counter()
        try:
            with self.stop:
                while self.step < t.steps:
                    micro = [to_device(b, env.device) for b in next(batches)]
                    # a skipped step must leave no trace: its forward already moved the
                    # BatchNorm running statistics (the discriminator's), so keep a copy
                    snapshot = buffers(self.objective) if t.on_nan == "skip" else None
                    try:
                        logs = self.objective.train_step(micro, self.step,
                                                         self._generators(self.step),
                                                         self._autocast)
                        nan_skips = 0
                    except NonFinite as exc:
                        nan_skips += 1
                        if t.on_nan == "stop" or nan_skips >= MAX_NAN_SKIPS:
                            kept = self.checkpoint or "none saved yet"
                            streak = (f" ({nan_skips} in a row)" if nan_skips > 1 else "")
                            raise TrainingError(
                                f"step {self.step + 1}: {exc}{streak}; training stopped, last "
                                f"good checkpoint: {kept}") from None
                        _note(env, f"step {self.step + 1}: {exc}; update skipped")
                        restore_buffers(self.objective, snapshot)
                        for opt in self.objective.optimizers:
                            opt.zero_grad(set_to_none=True)
                        logs = {"nan_skipped": 1.0}
                    self.step += 1
                    self.objective.after_step(self.step)
                    meter.add(logs)
                    bar.update(1)
                    if self.step % t.log_every == 0 or self.step == t.steps:
                        values = meter.reduce(env)
                        now = time.perf_counter()
                        values["lr"] = self.objective.schedules[0].get_last_lr()[0]
                        values["it_s"] = (self.step - last_log) / max(now - last_time, 1e-9)
                        last_log, last_time = self.step, now
                        metrics.write(self.step, values)
                        bar.set_postfix(loss=f"{values.get('loss', float('nan')):.4g}")
                    if self.callback is not None:
                        self.callback(self.step, self)
                    stop = D.any_rank(self.stop.requested is not None, env)
                    if self.step % t.sample_every == 0 or self.step == t.steps:
                        self._preview(preview_batch)
                    if self.step % t.checkpoint_every == 0 or stop or self.step == t.steps:
                        self._save()
                    if stop:
                        status = "interrupted"
                        _note(env, f"stopped at step {self.step}; resume with --resume "
                                   f"{self.run_dir}")
                        break
        finally:
            bar.close()
            metrics.close()
        export = None
        if status == "done" and nan_skips:
            steps = (f"step {self.step}" if nan_skips == 1 else
                     f"steps {self.step - nan_skips + 1}-{self.step}")
            raise TrainingError(
                f"{steps}: the last {nan_skips} update(s) "
                f"were skipped (non-finite loss), so the run did not finish training; weights "
                f"are those of step {self.step - nan_skips}, in {self.checkpoint}")
        if status == "done":
            if self.saved_step != self.step:
                self._save()
            export = self._collective("export the weights", lambda: self.objective.export(
                self.run_dir, self.spec, self.step))
        D.barrier(env)
        return TrainResult(self.stage, self.run_dir, self.step, status, self.checkpoint, export)


def train(source: str | Path | Mapping[str, Any], overrides: Iterable[str] = (), *,
          stage: str | None = None, resume: str | None = None, registry: Any = None,
          progress: bool = True, device: str | None = None,
          callback: Callable[[int, Trainer], None] | None = None) -> TrainResult:
    """Train one stage of the model a spec describes (see `ldm train --help`)."""
    import torch.distributed as dist

    owns_group = not (dist.is_available() and dist.is_initialized())
    env = D.init(device)
    try:
        trainer = Trainer(source, overrides, stage=stage, resume=resume, registry=registry,
                          progress=progress, env=env, callback=callback)
        try:
            return trainer.run()
        finally:
            trainer.close()
    finally:
        if owns_group:
            D.shutdown(env)
