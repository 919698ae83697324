"""The two things `ldm train` can optimise, behind one small interface the loop drives.

- DiffusionObjective: L_LDM = E‖ε − ε_θ(z_t, t, τ_θ(y))‖² through `LatentDiffusion.loss` with the
  first stage frozen; EMA of the denoiser and trainable conditioners.
- FirstStageObjective: the autoencoder's own loss (`first_stage.make_loss()`: reconstruction +
  perceptual + PatchGAN + KL/VQ), alternating an autoencoder and a discriminator optimiser.

Each wraps what it differentiates in DistributedDataParallel (identity in one process).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from ..checkpoint.first_stage import EXPORT_NAME, export_first_stage
from ..checkpoint.native import save
from ..dotted import under
from .distributed import DistEnv, any_rank, wrap_ddp
from .ema import Ema, ema_target
from .errors import TrainingError
from .optim import load_schedule, make_optimizer, make_schedule

Autocast = Callable[[], Any]


def self_contained(spec: Any) -> Any:
    """The spec stored in an export: its weights are all inside, so no node names a checkpoint
    to start from (loading the export would otherwise read those files again, or fail without
    them)."""
    spec = spec.model_copy(deep=True)
    spec.first_stage.checkpoint = None
    spec.denoiser.checkpoint = None
    spec.denoiser.extend_inputs = False
    for node in spec.conditioners.values():
        node.checkpoint = None
    return spec


def freeze(module: nn.Module, prefixes: list[str], root: str) -> None:
    """`training.freeze`: no gradient for parameters named `prefix` or `prefix.*` (names as
    in `root`'s state dict); a prefix that names nothing is a spec error, not a silent no-op."""
    params = dict(module.named_parameters())
    for prefix in prefixes:
        hits = [n for n in params if under(n, [prefix])]
        if not hits:
            tops = sorted({n.split(".")[0] for n in params})
            raise TrainingError(f"training.freeze: {prefix!r} names no parameter of {root} "
                                f"(its top-level parts: {', '.join(tops)})")
        for name in hits:
            params[name].requires_grad_(False)


class NonFinite(Exception):
    def __init__(self, what: str, value: float) -> None:
        super().__init__(f"{what} is {value}")
        self.what, self.value = what, value


def check_finite(loss: torch.Tensor, what: str, env: DistEnv) -> None:
    """Raise NonFinite on every rank if the loss is NaN/inf on any rank (before backward)."""
    value = float(loss.detach().float().item())
    if any_rank(not torch.isfinite(torch.tensor(value)).item(), env):
        raise NonFinite(what, value)


def _trained_modules(objective: Any) -> list[nn.Module]:
    if isinstance(objective, FirstStageObjective):
        return [objective.fs, objective.loss]
    return [objective.model]


def buffers(objective: Any) -> list[torch.Tensor]:
    """Copies of the floating-point buffers a training step may update (BatchNorm running
    mean/var in train mode), to undo a skipped step."""
    return [b.detach().clone() for m in _trained_modules(objective) for b in m.buffers()
            if b.is_floating_point() or b.dtype == torch.long]


def restore_buffers(objective: Any, snapshot: list[torch.Tensor] | None) -> None:
    if snapshot is None:
        return
    live = [b for m in _trained_modules(objective) for b in m.buffers()
            if b.is_floating_point() or b.dtype == torch.long]
    with torch.no_grad():
        for b, saved in zip(live, snapshot):
            b.copy_(saved)


def _reseed(generator: torch.Generator) -> None:
    """Key the global RNG (dropout inside networks) to the micro-batch, like its generator."""
    torch.manual_seed(generator.initial_seed() ^ 0x5DEECE66D)


def _sync(module: nn.Module, last: bool):
    """DDP all-reduces gradients only on the last accumulation micro-step."""
    return nullcontext() if last or not hasattr(module, "no_sync") else module.no_sync()


def _clip(params: list[nn.Parameter], max_norm: float | None) -> torch.Tensor | None:
    if max_norm is None:
        return None
    return torch.nn.utils.clip_grad_norm_(params, max_norm)


def _load_optimisation(objective: Any, state: dict[str, Any]) -> None:
    """Optimiser moments and schedule positions; the schedule follows this run's steps."""
    for opt, s in zip(objective.optimizers, state["optimizers"]):
        opt.load_state_dict(s)
    for sched, s in zip(objective.schedules, state["schedules"]):
        load_schedule(sched, s, objective.t)


def _add(logs: dict[str, Any], new: dict[str, Any], weight: float) -> None:
    for k, v in new.items():
        v = v.detach().float() if isinstance(v, torch.Tensor) else float(v)
        logs[k] = logs.get(k, 0.0) + v * weight


# ----------------------------------------------------------------------------- diffusion
class _DiffusionForward(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict, generator: torch.Generator) -> torch.Tensor:
        return self.model.loss(batch, generator)


class DiffusionObjective:
    stage = "diffusion"

    def __init__(self, model: nn.Module, t: Any, env: DistEnv) -> None:
        self.model, self.t, self.env = model, t, env
        model.first_stage.requires_grad_(False)
        freeze(model, t.freeze, "the model")
        for slot in model.conditioners.values():
            if getattr(slot, "null_embedding", None) is not None and slot.drop_rate <= 0:
                slot.null_embedding.requires_grad_(False)  # never used without CFG dropout
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise TrainingError("diffusion stage: the model has no trainable parameters")
        self.forward = wrap_ddp(_DiffusionForward(model), env)
        opt = make_optimizer(self.params, t, lr=t.lr, betas=t.betas)
        self.optimizers, self.schedules = [opt], [make_schedule(opt, t)]
        self.ema = (Ema(ema_target(model), t.ema_decay, warmup=t.ema_warmup,
                        power=t.ema_warmup_power) if t.ema_decay else None)
        self.train_mode()

    def train_mode(self) -> None:
        self.model.train()
        self.model.first_stage.eval()
        for slot in self.model.conditioners.values():
            if not any(p.requires_grad for p in slot.conditioner.parameters()):
                slot.conditioner.eval()

    def train_step(self, micro: list[dict], step: int, gens: list[torch.Generator],
                   autocast: Autocast) -> dict[str, Any]:
        (opt,), (sched,) = self.optimizers, self.schedules
        opt.zero_grad(set_to_none=True)
        logs: dict[str, Any] = {}
        for m, (batch, g) in enumerate(zip(micro, gens)):
            _reseed(g)
            with _sync(self.forward, m == len(micro) - 1), autocast():
                loss = self.forward(batch, g)
            check_finite(loss, "diffusion loss", self.env)
            (loss / len(micro)).backward()
            _add(logs, {"loss": loss}, 1 / len(micro))
        norm = _clip(self.params, self.t.grad_clip)
        if norm is not None:
            logs["grad_norm"] = norm
        opt.step()
        sched.step()
        return logs

    def after_step(self, step: int) -> None:
        if self.ema is not None:
            self.ema.update(step)

    def state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(),
                "ema": self.ema.state_dict() if self.ema else None,
                "optimizers": [o.state_dict() for o in self.optimizers],
                "schedules": [s.state_dict() for s in self.schedules]}

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        _load_optimisation(self, state)

    @torch.no_grad()
    def preview(self, batch: dict, generator: torch.Generator) -> list[torch.Tensor]:
        """[data, samples]: samples (EMA weights) conditioned on the data's labels."""
        model = self.model
        model.eval()
        try:
            batch = model.task.prepare(dict(batch), generator)
            n = batch["image"].shape[0]
            with self.ema.applied() if self.ema else nullcontext():
                samples = model.sample(batch, num_samples=n, generator=generator, progress=False)
        finally:
            self.train_mode()
        return [batch["image"], samples]

    def export(self, run_dir: Path, spec: Any, step: int) -> Path:
        """run_dir/model.safetensors: the whole model (EMA weights by default) for ldmcore.load."""
        state = self.ema.merged_state(self.model) if self.ema else self.model.state_dict()
        holder = SimpleNamespace(spec=self_contained(spec))
        return save(holder, run_dir / "model.safetensors", state_dict=state,
                    extra_metadata={"ldmcore.step": str(step),
                                    "ldmcore.ema": "true" if self.ema else "false"})


# ----------------------------------------------------------------------------- first stage
class _AutoencoderForward(nn.Module):
    """x -> (generator-side loss, logs, x_rec); the loss module is held outside the DDP params."""

    def __init__(self, first_stage: nn.Module, loss: nn.Module) -> None:
        super().__init__()
        self.first_stage = first_stage
        self._loss = [loss]  # a list, so the discriminator is not a submodule here

    def forward(self, x: torch.Tensor, generator: torch.Generator, step: int):
        fs = self.first_stage
        x_rec, aux = fs.reconstruct(x, generator=generator)
        loss, logs = self._loss[0].generator_loss(x, x_rec, aux, step, fs.last_layer())
        return loss, logs, x_rec


class _DiscriminatorForward(nn.Module):
    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, x: torch.Tensor, x_rec: torch.Tensor, step: int):
        return self.loss.discriminator_loss(x, x_rec, step)


class FirstStageObjective:
    stage = "first_stage"

    def __init__(self, first_stage: nn.Module, t: Any, env: DistEnv) -> None:
        self.fs, self.t, self.env = first_stage, t, env
        self.loss = first_stage.make_loss().to(env.device)
        freeze(first_stage, t.freeze, "the first stage")
        self.ae_params = [p for p in first_stage.parameters() if p.requires_grad]
        if not self.ae_params:
            raise TrainingError("first stage: training.freeze leaves nothing to train")
        self.disc_params = [p for p in self.loss.parameters() if p.requires_grad]
        # frozen parts of the loss (LPIPS backbone) are rebuilt, never checkpointed
        self.frozen = {n for n, p in self.loss.named_parameters() if not p.requires_grad}
        self.ae = wrap_ddp(_AutoencoderForward(first_stage, self.loss), env)
        self.disc = wrap_ddp(_DiscriminatorForward(self.loss), env) if self.disc_params else None
        self.optimizers = [make_optimizer(self.ae_params, t, lr=t.lr, betas=t.betas)]
        if self.disc_params:
            self.optimizers.append(make_optimizer(self.disc_params, t, lr=t.disc_lr or t.lr,
                                                  betas=t.disc_betas))
        self.schedules = [make_schedule(o, t) for o in self.optimizers]
        self.ema = None
        self.train_mode()

    def train_mode(self) -> None:
        self.fs.train()
        self.loss.train()

    def _disc_grad(self, on: bool) -> None:
        for p in self.disc_params:
            p.requires_grad_(on)

    def train_step(self, micro: list[dict], step: int, gens: list[torch.Generator],
                   autocast: Autocast) -> dict[str, Any]:
        n = len(micro)
        logs: dict[str, Any] = {}
        opt_ae, sched_ae = self.optimizers[0], self.schedules[0]
        opt_ae.zero_grad(set_to_none=True)
        self._disc_grad(False)  # the generator step must not touch the discriminator
        recs = []
        try:
            for m, (batch, g) in enumerate(zip(micro, gens)):
                _reseed(g)
                with _sync(self.ae, m == n - 1), autocast():
                    loss, glogs, x_rec = self.ae(batch["image"], g, step)
                check_finite(loss, "autoencoder loss", self.env)
                (loss / n).backward()
                recs.append(x_rec.detach())
                _add(logs, {"loss": loss, **glogs}, 1 / n)
        finally:
            self._disc_grad(True)
        norm = _clip(self.ae_params, self.t.grad_clip)
        if norm is not None:
            logs["grad_norm"] = norm
        opt_ae.step()
        sched_ae.step()
        if self.disc is None:
            return logs
        opt_d, sched_d = self.optimizers[1], self.schedules[1]
        opt_d.zero_grad(set_to_none=True)
        stepped = False
        for m, (batch, x_rec) in enumerate(zip(micro, recs)):
            with _sync(self.disc, m == n - 1), autocast():
                d_loss, dlogs = self.disc(batch["image"], x_rec, step)
            check_finite(d_loss, "discriminator loss", self.env)
            if d_loss.requires_grad:  # inactive before disc_start
                (d_loss / n).backward()
                stepped = True
            _add(logs, {"disc_loss": d_loss, **dlogs}, 1 / n)
        if stepped:
            _clip(self.disc_params, self.t.grad_clip)
            opt_d.step()
        with warnings.catch_warnings():  # before disc_start the schedule runs without steps
            warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*")
            sched_d.step()
        return logs

    def after_step(self, step: int) -> None:
        pass

    def state(self) -> dict[str, Any]:
        loss_state = {k: v for k, v in self.loss.state_dict().items() if k not in self.frozen}
        return {"model": self.fs.state_dict(), "loss": loss_state, "ema": None,
                "optimizers": [o.state_dict() for o in self.optimizers],
                "schedules": [s.state_dict() for s in self.schedules]}

    def load_state(self, state: dict[str, Any]) -> None:
        self.fs.load_state_dict(state["model"])
        result = self.loss.load_state_dict(state.get("loss", {}), strict=False)
        missing = set(result.missing_keys) - self.frozen
        if missing or result.unexpected_keys:
            raise TrainingError(f"checkpoint's first-stage loss does not match: missing "
                                f"{sorted(missing)[:3]}, unexpected {result.unexpected_keys[:3]}")
        _load_optimisation(self, state)

    @torch.no_grad()
    def preview(self, batch: dict, generator: torch.Generator) -> list[torch.Tensor]:
        """[inputs, reconstructions D(E(x)) with the posterior mode]."""
        self.fs.eval()
        try:
            x = batch["image"]
            x_rec = self.fs.decode(self.fs.encode(x)).clamp(-1, 1)
        finally:
            self.train_mode()
        return [x, x_rec]

    def export(self, run_dir: Path, spec: Any, step: int) -> Path:
        return export_first_stage(self.fs, self_contained(spec), run_dir / EXPORT_NAME,
                                  {"ldmcore.step": str(step)})
