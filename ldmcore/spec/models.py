"""Pydantic models of the graph spec, with per-kind unions discriminated on `type`.

The unions are rebuilt from the registry after plugins load (`spec_model(registry)`): each
registered component contributes one node model `{type: Literal[name], params: ItsParams, ...}`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, Field, create_model, model_validator

from ..registry import KINDS, Registry
from .strict import Strict
from .training import training_model


class DiffusionSpec(Strict):
    """The forward process q(z_t | z_0) and what the denoiser predicts (core maths).

    `preset` (sd, sd_v, ldm; ldmcore.diffusion.presets) fills the fields not written next to it;
    without a preset the field defaults below are the `ldm` preset.
    """

    preset: Optional[Literal["sd", "sd_v", "ldm"]] = None
    timesteps: int = Field(1000, gt=0)
    schedule: Literal["linear", "scaled_linear", "cosine", "sqrt_linear"] = "linear"
    linear_start: float = Field(0.0015, gt=0)
    linear_end: float = Field(0.0195, gt=0)
    cosine_s: float = 8e-3
    prediction: Literal["eps", "v", "x0"] = "eps"
    loss: Literal["l2", "l1"] = "l2"
    loss_weighting: Literal["none", "min_snr"] = "none"
    min_snr_gamma: float = Field(5.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset") is not None:
            from ..diffusion.presets import PRESETS

            if data["preset"] in PRESETS:  # an unknown name is reported by the Literal
                data = {**PRESETS[data["preset"]], **data}
        return data


class SamplingSpec(Strict):
    """How `sample()` runs, whatever the sampler (ldmcore/precision.py)."""

    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "fp32", description="denoiser dtype while sampling; auto = bf16 where the CPU/GPU has it"
    )
    compile: bool = Field(
        False, description="run the denoiser through torch.compile while sampling (compiled "
        "once per model; an error if this platform cannot compile)"
    )
    cuda_graph: bool = Field(
        True, description="on a CUDA device, replay the denoiser from CUDA graphs while "
        "sampling (bit-identical to eager, fewer kernel launches); ignored on CPU and with compile"
    )


# Fields every node of a kind carries besides `type` and `params`.
_NODE_FIELDS: dict[str, dict[str, Any]] = {
    "first_stage": {"checkpoint": (Optional[str], None)},
    # extend_inputs: `checkpoint` is a denoiser trained with fewer input channels (e.g. an
    # unconditional model, started from for inpainting): it fills the first channels, the
    # concat conditioning's start at zero
    "denoiser": {"checkpoint": (Optional[str], None), "extend_inputs": (bool, False)},
    "conditioner": {
        "input": (str, ...),
        "wiring": (Literal["crossattn", "concat", "vector"], "crossattn"),
        "null": (Literal["learned", "zeros", "empty-input"], "zeros"),
        "drop_rate": (float, Field(0.0, ge=0.0, le=1.0)),
        "trainable": (bool, True),
        "checkpoint": (Optional[str], None),
    },
}


def _node_model(kind: str, name: str, params_model: type[BaseModel]) -> type[BaseModel]:
    try:
        params_model()
        params_default: Any = Field(default_factory=params_model)
    except Exception:  # noqa: BLE001 - params with required fields must be given
        params_default = ...
    return create_model(
        f"{kind}:{name}",
        __base__=Strict,
        type=(Literal[name], ...),
        params=(params_model, params_default),
        **_NODE_FIELDS.get(kind, {}),
    )


def _kind_union(registry: Registry, kind: str) -> Any:
    models = [
        _node_model(kind, name, info.params_model)
        for name, info in sorted(registry.components[kind].items())
    ]
    if not models:
        # Nothing installed: accept nothing but say so (caught earlier with a clear message).
        return create_model(f"{kind}:none", __base__=Strict, type=(Literal["__none__"], ...))
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Field(discriminator="type")]


def _build(registry: Registry) -> type[BaseModel]:
    unions = {kind: _kind_union(registry, kind) for kind in KINDS}
    training = training_model(unions["dataset"])
    conditioner, evaluator = unions["conditioner"], unions["evaluator"]
    return create_model(
        "Spec",
        __base__=Strict,
        spec_version=(Literal[1], ...),
        image_size=(int, Field(32, gt=0)),
        image_channels=(int, Field(3, gt=0)),
        task=(unions["task"], ...),
        first_stage=(unions["first_stage"], ...),
        conditioners=(dict[str, conditioner], Field(default_factory=dict)),
        denoiser=(unions["denoiser"], ...),
        diffusion=(DiffusionSpec, Field(default_factory=DiffusionSpec)),
        sampler=(unions["scheduler"], ...),
        guider=(unions["guider"], ...),
        sampling=(SamplingSpec, Field(default_factory=SamplingSpec)),
        training=(Optional[training], None),
        evaluators=(dict[str, evaluator], Field(default_factory=dict)),
    )


def spec_model(registry: Registry) -> type[BaseModel]:
    """The Spec pydantic model for the components in `registry` (rebuilt when it changes)."""
    if registry.spec_cache is None:
        registry.spec_cache = _build(registry)
    return registry.spec_cache
