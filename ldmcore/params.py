"""Base classes for component params models (pydantic, no torch).

A plugin subclasses the base of its kind; ports are methods on the params, so a graph can be
checked before anything is built. Every params model forbids unknown keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from .ports import Context, Latent, Port, Spatial, Vector

if TYPE_CHECKING:
    from .inputs import InputFormat


class Params(BaseModel):
    """Params of any component: strict, no extra keys."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class FirstStageParams(Params):
    def latent_port(self) -> Latent:
        raise NotImplementedError


class ConditionerParams(Params):
    def output_port(self, wiring: str, latent: Latent) -> Port:
        """The port this conditioner produces under `wiring` for a first stage giving `latent`."""
        raise NotImplementedError

    def input_format(self, key: str) -> InputFormat | None:
        """How a user gives this conditioner's input `key` (ldmcore.inputs). None: as text
        the dataset reads, or derived by the task."""
        return None


class DenoiserParams(Params):
    """Fields the builder derives from the wiring when left unset, and checks when set."""

    in_channels: int | None = None
    out_channels: int | None = None
    context_dim: int | None = None
    vector_dim: int | None = None

    def size_multiple(self) -> int:
        """The latent's sides must be multiples of this (a UNet's total downsampling)."""
        return 1


class SchedulerParams(Params):
    """Base of a sampler's params (the spec's `sampler:` node, registry kind `scheduler`).

    `ldm generate --steps N` is the override `sampler.params.steps=N`, and
    `model.sample(..., steps=N)` passes `steps=N` to `Scheduler.sample(**options)`: a sampler
    that honours them keeps this field.
    """

    steps: int = Field(50, gt=0, description="number of denoising steps")


class GuiderParams(Params):
    """Base of a guider's params. `ldm generate --scale W` is the override
    `guider.params.scale=W`: a guider with a guidance weight names that field `scale`."""


class TaskParams(Params):
    def required_keys(self) -> set[str]:
        """Batch keys the task reads from the dataset (besides those conditioners read)."""
        return {"image"}

    def added_keys(self) -> set[str]:
        """Batch keys the task derives itself (e.g. `lowres`, `mask`)."""
        return set()

    def input_formats(self) -> list[InputFormat]:
        """Inputs a user gives for the keys this task derives (inpainting: image and mask)."""
        return []


class DatasetParams(Params):
    def provided_keys(self) -> set[str]:
        """Keys every item of the dataset carries (e.g. image, class, caption, boxes)."""
        return {"image"}

    def palette(self) -> list[tuple[int, int, int]] | None:
        """8-bit RGB of each segmentation id (index = id), for maps given as colours."""
        return None

    def parse_input(self, key: str, text: str) -> Any:
        """One item's value for batch `key` from command-line text (`ldm generate --KEY`).

        A dataset with a vocabulary (class names, layouts) overrides this.
        """
        if key == "class":
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"--class expects an integer id, got '{text}'") from None
        if key == "caption":
            return text
        raise ValueError(f"this dataset cannot read '{key}' from text")


__all__ = [
    "Params",
    "TaskParams",
    "DatasetParams",
    "FirstStageParams",
    "ConditionerParams",
    "DenoiserParams",
    "SchedulerParams",
    "GuiderParams",
    "Latent",
    "Context",
    "Spatial",
    "Vector",
    "Port",
]
