"""Abstract component kinds (DESIGN.md §3). Concrete components live in plugins.

Ports are declared by the params models (ldmcore.params), not here, so that checking a graph
needs no torch and no weights.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .conditioning import Conditioning

if TYPE_CHECKING:
    from .diffusion.schedule import NoiseSchedule

#: A closure the samplers call: (z_t, t) -> eps-hat, guidance already applied.
Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: What a guider calls: (z_t, t, cond) -> eps-hat for one conditioning.
Predict = Callable[[torch.Tensor, torch.Tensor, Conditioning], torch.Tensor]


class Component:
    """Mixin: every component keeps the params it was built from."""

    params: Any


class FirstStage(nn.Module, Component, ABC):
    """E / D. `encode` returns the unscaled latent; the model applies scale_factor/shift."""

    def __init__(self) -> None:
        super().__init__()
        # z_scaled = (z - shift_factor) * scale_factor; estimated from data (1/std) and saved.
        self.register_buffer("scale_factor", torch.tensor(1.0))
        self.register_buffer("shift_factor", torch.tensor(0.0))

    @abstractmethod
    def encode(
        self, x: torch.Tensor, *, sample: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor: ...

    @abstractmethod
    def decode(self, z: torch.Tensor) -> torch.Tensor: ...


class Conditioner(nn.Module, Component, ABC):
    """tau_theta: a batch value y -> a conditioning tensor for its wiring."""

    @abstractmethod
    def forward(self, y: Any) -> torch.Tensor: ...

    def empty_input(self, batch_size: int) -> Any:
        """The 'no conditioning' input (e.g. empty captions) for `null: empty-input`."""
        raise NotImplementedError(f"{type(self).__name__} has no empty input")


class Denoiser(nn.Module, Component, ABC):
    """eps_theta(z_t, t, c) (or v / x0 per the diffusion's prediction type)."""

    @abstractmethod
    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        context: torch.Tensor | None = None,
        concat: torch.Tensor | None = None,
        vector: torch.Tensor | None = None,
    ) -> torch.Tensor: ...


class Scheduler(Component, ABC):
    """A sampler over a noise schedule; it sees a denoise closure, never the model."""

    @abstractmethod
    def sample(
        self,
        denoise: Denoise,
        noise: torch.Tensor,
        schedule: NoiseSchedule,
        *,
        generator: torch.Generator | None = None,
        progress: bool = True,
        **options: Any,
    ) -> torch.Tensor: ...


class Guider(Component, ABC):
    """Combines conditional and unconditional predictions into one eps-hat."""

    #: whether the guider needs the null conditioning (CFG does, `none` does not)
    needs_uncond: bool = False

    @abstractmethod
    def __call__(
        self,
        predict: Predict,
        z: torch.Tensor,
        t: torch.Tensor,
        cond: Conditioning,
        uncond: Conditioning | None,
        schedule: NoiseSchedule,
    ) -> torch.Tensor: ...


class Task(Component, ABC):
    """Turns a dataset batch into the model's inputs (adds degraded/derived keys)."""

    #: name of the evaluator this task is judged by, if any
    evaluation: str | None = None

    def prepare(self, batch: dict, generator: torch.Generator | None = None) -> dict:
        return batch


class Dataset(torch.utils.data.Dataset, Component, ABC):
    """Items are dicts: `image` in [-1, 1], CHW float; plus labels the params declare."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __getitem__(self, index: int) -> dict: ...


class Evaluator(Component, ABC):
    """Computes metrics; returns a flat {name: value} dict."""

    @abstractmethod
    def __call__(self, **inputs: Any) -> dict[str, float]: ...


#: kind name -> the base class its factories must return
KIND_BASES: dict[str, type] = {
    "first_stage": FirstStage,
    "conditioner": Conditioner,
    "denoiser": Denoiser,
    "scheduler": Scheduler,
    "guider": Guider,
    "task": Task,
    "dataset": Dataset,
    "evaluator": Evaluator,
}
