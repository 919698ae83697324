"""CompVis / Stable Diffusion key layout <-> ldmcore model keys (DESIGN.md §6).

    model.diffusion_model.K   <-> denoiser.K
    first_stage_model.K       <-> first_stage.K
    cond_stage_model.K        <-> conditioners.<name>.conditioner.K  (one conditioner, or named)
    scale_factor              <-> first_stage.scale_factor
    model_ema.<K without dots> -> denoiser.K when EMA weights are requested
    ldmcore.<model key>       <-> <model key>   (what CompVis has no place for: learned nulls...)

Bare autoencoder (encoder./decoder./quant_conv...) and bare UNet (input_blocks...) files map to
first_stage. / denoiser. alone. Lightning/CompVis bookkeeping (loss.*, schedule buffers,
model_ema.decay/num_updates, *position_ids) is set aside as "ignored".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import CheckpointError

UNET = "model.diffusion_model."
VAE = "first_stage_model."
COND = "cond_stage_model."
EMA = "model_ema."
EXTRA = "ldmcore."

#: buffers of CompVis' DDPM/LatentDiffusion that the NoiseSchedule recomputes from the spec
SCHEDULE_BUFFERS = frozenset({
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
    "posterior_mean_coef1", "posterior_mean_coef2", "lvlb_weights", "logvar",
})
_BARE_VAE = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.", "quantize.")
_BARE_UNET = ("input_blocks.", "middle_block.", "output_blocks.", "time_embed.", "out.")
#: model keys a checkpoint may lack without being incomplete (kept as the spec built them)
OPTIONAL_MODEL_KEYS = ("first_stage.scale_factor", "first_stage.shift_factor")


def is_ignorable(key: str) -> bool:
    return (key.startswith("loss.") or key.endswith("position_ids") or key in SCHEDULE_BUFFERS
            or key in (EMA + "decay", EMA + "num_updates"))


@dataclass
class Mapped:
    """A checkpoint in ldmcore model keys, plus what was set aside and why."""

    state: dict[str, Any]
    ignored: list[str] = field(default_factory=list)
    parts: set[str] = field(default_factory=set)  # first_stage / denoiser / conditioners.<n>
    notes: list[str] = field(default_factory=list)


def _part_of(model_key: str) -> str:
    head, _, rest = model_key.partition(".")
    return f"{head}.{rest.partition('.')[0]}" if head == "conditioners" else head


def _conditioner_target(state: Mapping[str, Any], conditioner: str | None,
                        names: list[str], source: str) -> str | None:
    if not any(k.startswith(COND) for k in state):
        return None
    if conditioner is not None:
        if conditioner not in names:
            raise CheckpointError(
                f"{source}: conditioner '{conditioner}' is not in the spec "
                f"(conditioners: {', '.join(names) or 'none'})"
            )
        return conditioner
    if len(names) == 1:
        return names[0]
    if not names:
        return None  # cond_stage_model.* will show up as unexpected
    raise CheckpointError(
        f"{source}: has cond_stage_model.* weights but the spec has conditioners "
        f"{', '.join(names)}; say which one receives them (--conditioner NAME)"
    )


def first_stage_mirror(state: Mapping[str, Any]) -> list[str]:
    """cond_stage_model.* keys when they repeat first_stage_model.* exactly (same names,
    shapes and values), else []."""
    cond = [k for k in state if k.startswith(COND)]
    if not cond:
        return []
    for k in cond:
        twin = state.get(VAE + k[len(COND):])
        if twin is None or twin.shape != state[k].shape or not _same(twin, state[k]):
            return []
    return cond


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool((a == b).all())
    except (RuntimeError, TypeError):  # meta tensors carry no values: names and shapes decide
        return True


def _ema_flat(unet_key: str) -> str:
    return EMA + "diffusion_model" + unet_key.replace(".", "")


def compvis_to_model(
    state: Mapping[str, Any],
    *,
    conditioners: Iterable[str] = (),
    conditioner: str | None = None,
    ema: bool = False,
    expected: Iterable[str] = (),
    source: str = "<checkpoint>",
) -> Mapped:
    """Rename a CompVis / SD (or bare VAE / UNet) state dict to ldmcore model keys."""
    names = list(conditioners)
    mirror = conditioner is None and first_stage_mirror(state)
    if mirror:  # CompVis' __is_first_stage__ (inpainting): cond_stage_model IS the first stage
        state = {k: v for k, v in state.items() if not k.startswith(COND)}
    target = _conditioner_target(state, conditioner, names, source)
    prefixed = any(k.startswith((UNET, VAE, COND, EXTRA)) for k in state)
    out: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in state.items():
        if key.startswith(EXTRA):
            out[key[len(EXTRA):]] = value
        elif key.startswith(UNET):
            out["denoiser." + key[len(UNET):]] = value
        elif key.startswith(VAE):
            out["first_stage." + key[len(VAE):]] = value
        elif key.startswith(COND) and target is not None:
            out[f"conditioners.{target}.conditioner.{key[len(COND):]}"] = value
        elif key == "scale_factor":
            out["first_stage.scale_factor"] = value.reshape(())
        elif key.startswith(EMA) or is_ignorable(key):
            ignored.append(key)
        elif not prefixed and key.startswith(_BARE_VAE):
            out["first_stage." + key] = value
        elif not prefixed and key.startswith(_BARE_UNET):
            out["denoiser." + key] = value
        else:
            out[key] = value  # reported as unexpected
    mapped = Mapped(out, ignored)
    if mirror:
        mapped.ignored += sorted(mirror)
        mapped.notes.append(f"cond_stage_model.* ({len(mirror)} tensors) is the first stage "
                            "again (CompVis __is_first_stage__); loaded once, as first_stage")
    if ema:
        _use_ema(mapped, state, expected, source)
    mapped.parts = {_part_of(k) for k in out if k.startswith(("first_stage.", "denoiser.",
                                                            "conditioners."))}
    return mapped


def _use_ema(mapped: Mapped, state: Mapping[str, Any], expected: Iterable[str],
             source: str) -> None:
    """Replace the UNet's weights by their EMA (model_ema.diffusion_model<key without dots>)."""
    ema = {k for k in state if k.startswith(EMA) and k not in (EMA + "decay", EMA + "num_updates")}
    if not ema:
        raise CheckpointError(f"{source}: has no EMA weights (model_ema.*); drop --ema")
    unet_keys = {k[len("denoiser."):] for k in [*mapped.state, *expected]
                 if k.startswith("denoiser.")}
    used = set()
    for key in sorted(unet_keys):
        flat = _ema_flat(key)
        if flat in state:
            mapped.state["denoiser." + key] = state[flat]
            used.add(flat)
    mapped.ignored = [k for k in mapped.ignored if k not in used]
    for k in sorted(ema - used):  # EMA of something the model does not have
        mapped.ignored.remove(k)
        mapped.state[k] = state[k]
    mapped.notes.append(f"EMA weights used for {len(used)} denoiser tensors")


def model_to_compvis(state: Mapping[str, Any], conditioner: str | None = None) -> dict[str, Any]:
    """ldmcore model keys -> CompVis names; `conditioner` becomes cond_stage_model.*."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key.startswith("denoiser."):
            out[UNET + key[len("denoiser."):]] = value
        elif key == "first_stage.scale_factor":
            out["scale_factor"] = value
        elif key == "first_stage.shift_factor":
            if value.device.type != "meta" and float(value) != 0.0:
                out[EXTRA + key] = value
        elif key.startswith("first_stage."):
            out[VAE + key[len("first_stage."):]] = value
        elif conditioner and key.startswith(f"conditioners.{conditioner}.conditioner."):
            out[COND + key[len(f"conditioners.{conditioner}.conditioner."):]] = value
        else:
            out[EXTRA + key] = value
    return out


def default_conditioner(model: Any) -> str | None:
    """The conditioner CompVis' cond_stage_model stands for: the only one that has weights."""
    with_weights = [n for n, slot in model.conditioners.items()
                    if any(True for _ in slot.conditioner.state_dict())]
    return with_weights[0] if len(with_weights) == 1 else None


# ---------------------------------------------------------------------- export extras
_SCHEDULE_ORDER = (
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
    "posterior_mean_coef1", "posterior_mean_coef2",
)


def schedule_buffers(betas: Any) -> dict[str, Any]:
    """The 12 persistent buffers of CompVis' DDPM.register_schedule (v_posterior 0), from the
    float64 betas, stored float32 as CompVis stores them."""
    import torch

    if betas.device.type == "meta":  # shapes only (a model built on the meta device)
        return {k: torch.empty(betas.shape, device="meta") for k in _SCHEDULE_ORDER}
    b = betas.double().cpu()
    a = 1.0 - b
    ac = torch.cumprod(a, 0)
    ac_prev = torch.cat([torch.ones(1, dtype=torch.float64), ac[:-1]])
    post_var = b * (1.0 - ac_prev) / (1.0 - ac)
    out = {
        "betas": b, "alphas_cumprod": ac, "alphas_cumprod_prev": ac_prev,
        "sqrt_alphas_cumprod": ac.sqrt(), "sqrt_one_minus_alphas_cumprod": (1.0 - ac).sqrt(),
        "log_one_minus_alphas_cumprod": (1.0 - ac).log(),
        "sqrt_recip_alphas_cumprod": (1.0 / ac).sqrt(),
        "sqrt_recipm1_alphas_cumprod": (1.0 / ac - 1).sqrt(),
        "posterior_variance": post_var,
        "posterior_log_variance_clipped": post_var.clamp(min=1e-20).log(),
        "posterior_mean_coef1": b * ac_prev.sqrt() / (1.0 - ac),
        "posterior_mean_coef2": (1.0 - ac_prev) * a.sqrt() / (1.0 - ac),
    }
    return {k: v.float() for k, v in out.items()}


def ema_entries(denoiser_state: Mapping[str, Any], ema: Mapping[str, Any] | None = None,
                decay: float = 0.9999, num_updates: int = 0) -> dict[str, Any]:
    """`model_ema.*` as CompVis' LitEma holds it over `model.diffusion_model`: the given EMA
    (CompVis flat keys, or UNet keys) where present, else the weights themselves (a fresh
    LitEma is a copy), plus its `decay` / `num_updates` buffers."""
    import torch

    ema = dict(ema or {})
    out: dict[str, Any] = {}
    for key, value in denoiser_state.items():
        flat = _ema_flat(key)
        src = ema.get(flat, ema.get(key))
        out[flat] = (src if src is not None else value).detach().clone()
    out[EMA + "decay"] = ema.get(EMA + "decay", torch.tensor(decay, dtype=torch.float32))
    out[EMA + "num_updates"] = ema.get(EMA + "num_updates",
                                       torch.tensor(num_updates, dtype=torch.int32))
    return out


def read_compvis_ema(state: Mapping[str, Any]) -> dict[str, Any]:
    """The model_ema.* entries of a CompVis state dict ({} when it has none)."""
    return {k: v for k, v in state.items() if k.startswith(EMA)}
