"""The assembled latent diffusion model: first stage + conditioners + denoiser + schedule.

It knows the maths of one step (encode, condition, loss, sample); the training loop and the
samplers' internals live elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .conditioning import Conditioning
from .cuda_graphs import GraphedDenoiser
from .errors import DataError, SamplingError
from .ports import Context, Port
from .precision import clear_cast_cache, compiled, resolve_precision, sampling_context


class ConditionerSlot(nn.Module):
    """One named conditioner with its wiring, null conditioning and CFG dropout."""

    def __init__(self, conditioner: nn.Module, node: Any, port: Port) -> None:
        super().__init__()
        self.conditioner = conditioner
        self.input_key: str = node.input
        self.wiring: str = node.wiring
        self.null_mode: str = node.null
        self.drop_rate: float = node.drop_rate
        self.port = port
        if not node.trainable:
            self.conditioner.requires_grad_(False)
        if self.null_mode == "learned":
            shape = (port.tokens, port.dim) if isinstance(port, Context) else (port.dim,)
            self.null_embedding = nn.Parameter(torch.zeros(shape))

    def forward(self, batch: dict) -> torch.Tensor:
        if self.input_key not in batch:
            raise DataError(
                f"conditioner input '{self.input_key}' missing from batch "
                f"(keys: {', '.join(sorted(batch))})"
            )
        return self.conditioner(batch[self.input_key])

    def null(self, like: torch.Tensor) -> torch.Tensor:
        """The 'no conditioning' output, shaped like a real output `like`."""
        if self.null_mode == "zeros":
            return torch.zeros_like(like)
        if self.null_mode == "learned":
            return self.null_embedding.to(like.dtype).expand_as(like)
        return self.conditioner(self.conditioner.empty_input(like.shape[0])).to(like.dtype)

    def drop(self, out: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Classifier-free dropout: replace each sample's conditioning by null with p=drop_rate."""
        if self.drop_rate <= 0:
            return out
        keep = torch.rand(out.shape[0], generator=generator) >= self.drop_rate
        keep = keep.to(out.device).reshape(-1, *([1] * (out.ndim - 1)))
        return torch.where(keep, out, self.null(out))


def _stack(outputs: dict[str, tuple[ConditionerSlot, torch.Tensor]]) -> Conditioning:
    """Gather slot outputs by wiring: tokens concatenated along M, channels along C, vectors."""
    by = {"crossattn": [], "concat": [], "vector": []}
    for slot, out in outputs.values():
        by[slot.wiring].append(out)
    return Conditioning(
        context=torch.cat(by["crossattn"], dim=1) if by["crossattn"] else None,
        concat=torch.cat(by["concat"], dim=1) if by["concat"] else None,
        vector=torch.cat(by["vector"], dim=1) if by["vector"] else None,
    )


class LatentDiffusion(nn.Module):
    def __init__(
        self,
        *,
        spec: Any,
        first_stage: nn.Module,
        conditioners: dict[str, ConditionerSlot],
        denoiser: nn.Module,
        schedule: Any,
        sampler: Any,
        guider: Any,
        task: Any,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.first_stage = first_stage
        self.conditioners = nn.ModuleDict(conditioners)
        self.denoiser = denoiser
        self.schedule = schedule
        self.sampler = sampler
        self.guider = guider
        self.task = task

    # ----------------------------------------------------------------- first stage
    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(c, h, w) of z at the spec's image_size."""
        port = self.spec.first_stage.params.latent_port()
        side = self.spec.image_size // port.factor
        return (port.channels, side, side)

    def encode(
        self, x: torch.Tensor, *, sample: bool = True, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = (E(x) − shift) · scale_factor; the posterior is sampled during training."""
        fs = self.first_stage
        z = fs.encode(x, sample=sample, generator=generator)
        return (z - fs.shift_factor.to(z)) * fs.scale_factor.to(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        fs = self.first_stage
        return fs.decode(z / fs.scale_factor.to(z) + fs.shift_factor.to(z))

    # ----------------------------------------------------------------- conditioning
    def _outputs(self, batch: dict) -> dict[str, tuple[ConditionerSlot, torch.Tensor]]:
        return {name: (slot, slot(batch)) for name, slot in self.conditioners.items()}

    def condition(
        self, batch: dict, *, drop: bool = False, generator: torch.Generator | None = None
    ) -> Conditioning:
        """τ_θ(y) for every conditioner, with classifier-free dropout when `drop`."""
        outputs = self._outputs(batch)
        if drop:
            outputs = {n: (s, s.drop(o, generator)) for n, (s, o) in outputs.items()}
        return _stack(outputs)

    def condition_pair(self, batch: dict) -> tuple[Conditioning, Conditioning]:
        """(cond, uncond): the conditioning and every conditioner's null in its place."""
        outputs = self._outputs(batch)
        nulls = {n: (s, s.null(o)) for n, (s, o) in outputs.items()}
        return _stack(outputs), _stack(nulls)

    # ----------------------------------------------------------------- training
    def predict_eps(self, z: torch.Tensor, t: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        return self.schedule.to_eps(self.denoiser(z, t, **cond.kwargs()), z, t)

    def loss(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        """L_LDM = E_{E(x), y, ε, t} ‖ε − ε_θ(z_t, t, τ_θ(y))‖² (eq. 3 of the paper)."""
        batch = self.task.prepare(batch, generator)
        if "image" not in batch:
            raise DataError(f"batch has no 'image' key (keys: {', '.join(sorted(batch))})")
        x = batch["image"]
        with torch.no_grad():
            z0 = self.encode(x, sample=True, generator=generator)
        cond = self.condition(batch, drop=True, generator=generator)
        t = self.schedule.sample_t(z0.shape[0], z0.device, generator)
        noise = torch.randn(z0.shape, generator=generator, dtype=z0.dtype).to(z0.device)
        z_t = self.schedule.q_sample(z0, t, noise)
        out = self.denoiser(z_t, t, **cond.kwargs())
        return self.schedule.loss(out, z0, noise, t)

    # ----------------------------------------------------------------- sampling
    def _predict_in(self, dtype: torch.dtype, net: Callable[..., torch.Tensor]):
        """predict_eps with `net` (the denoiser or its compiled form) run in `dtype`, ε̂ formed
        in the latent's dtype."""
        def predict(z: torch.Tensor, t: torch.Tensor, cond: Conditioning) -> torch.Tensor:
            out = net(z.to(dtype), t, **cond.kwargs()).to(z.dtype)
            return self.schedule.to_eps(out, z, t)
        return predict

    def clear_sampling_cache(self) -> None:
        """Free the denoiser's low-precision weight copies kept between bf16/fp16 `sample()`
        calls (half the fp32 weights' bytes; ldmcore/precision.py)."""
        clear_cast_cache(self.denoiser)

    @torch.no_grad()
    def sample(
        self,
        batch: dict | None = None,
        *,
        num_samples: int | None = None,
        latent_size: tuple[int, int] | None = None,
        generator: torch.Generator | None = None,
        progress: bool = True,
        return_latents: bool = False,
        image: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        strength: float | None = None,
        guidance: dict | None = None,
        precision: str | None = None,
        cuda_graph: bool | None = None,
        callback: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None] | None = None,
        **sampler_options: Any,
    ) -> torch.Tensor:
        """Draw images (in [-1, 1]) given the conditioning inputs in `batch`.

        image (B, C, H, W) in [-1, 1] is encoded to the latent x0 for img2img (`strength` in
        (0, 1]: start from x0 noised to that fraction of the steps) and for inpainting (`mask`
        (B or 1, 1, H, W), 1 = region to generate, replaced by mask elsewhere at every step).
        `guidance` holds the guider's sampling-time inputs (classifier: log_prob, image_l2: y).
        `precision` (auto | fp32 | bf16 | fp16, default the spec's sampling.precision) is the
        denoiser's dtype during the call; its low-precision weights are cached for the next
        call (`clear_sampling_cache()` frees them). The spec's `sampling.compile` runs the
        denoiser through torch.compile (ldmcore/precision.py); on a GPU, `cuda_graph` (default
        the spec's sampling.cuda_graph) replays it from CUDA graphs (ldmcore/cuda_graphs.py).
        `callback(z_t, t, eps)` sees every evaluation of the guided ε̂ (live progress, x̂0
        previews); an exception it raises stops sampling (how `ldm serve` cancels a job).
        """
        batch = batch or {}
        if self.guider.needs_uncond and not len(self.conditioners):
            raise SamplingError(
                f"guider '{self.spec.guider.type}' needs conditioning but the model has none; "
                "use guider.type=none"
            )
        _check_image_inputs(image, mask, strength)
        guider = self.guider
        bind = getattr(guider, "bind", None)
        if bind is not None:
            guider = bind(decode=self.decode, **(guidance or {}))
        elif guidance:
            raise SamplingError(f"guider '{self.spec.guider.type}' takes no guidance inputs")
        cond, uncond = self.condition_pair(batch)
        ref = next(self.denoiser.parameters())
        options: dict[str, Any] = {}
        if image is not None:
            x0 = self.encode(image.to(device=ref.device, dtype=ref.dtype), sample=False)
            options["x0"] = x0
            if mask is not None:
                # a latent cell is generated if any pixel it covers is masked
                m = mask.to(device=ref.device, dtype=ref.dtype)
                options["mask"] = torch.nn.functional.adaptive_max_pool2d(m, x0.shape[-2:])
            if strength is not None:
                options["strength"] = strength
            no_cond = cond.empty and num_samples is None
            n = x0.shape[0] if no_cond else _batch_size(cond, num_samples)
            if x0.shape[0] not in (1, n):
                raise SamplingError(f"image has {x0.shape[0]} items but the batch has {n}")
            c, h, w = x0.shape[1:]
        else:
            n = _batch_size(cond, num_samples)
            c, h, w = self.latent_shape
            if latent_size is not None:
                h, w = latent_size
        noise = torch.randn((n, c, h, w), generator=generator, dtype=torch.float32)
        noise = noise.to(device=ref.device, dtype=ref.dtype)
        cond, uncond = _fit_concat(cond, (h, w)), _fit_concat(uncond, (h, w))
        dtype = resolve_precision(precision or self.spec.sampling.precision, ref.device)
        net = compiled(self.denoiser) if self.spec.sampling.compile else None
        if cuda_graph is None:
            cuda_graph = self.spec.sampling.cuda_graph
        if net is None and cuda_graph and ref.device.type == "cuda":
            net = GraphedDenoiser(self.denoiser)  # graphs for this call only
        predict = self.predict_eps
        if dtype != ref.dtype:  # the denoiser runs in dtype, the sampler's state stays in ref's
            cond, uncond = (c.map(lambda v: v.to(dtype) if v.is_floating_point() else v)
                            for c in (cond, uncond))
        if dtype != ref.dtype or net is not None:
            predict = self._predict_in(dtype, net or self.denoiser)

        def denoise(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            eps = guider(predict, z, t, cond, uncond, self.schedule)
            if callback is not None:
                callback(z, t, eps)
            return eps

        # + cached cross-attention K/V, unless compiled or graphed (its lookups sync the host)
        with sampling_context(self.denoiser, dtype, module_caches=net is None):
            z = self.sampler.sample(
                denoise, noise, self.schedule, generator=generator, progress=progress,
                **options, **sampler_options,
            )
        return z if return_latents else self.decode(z).clamp(-1, 1)


def _fit_concat(cond: Conditioning, size: tuple[int, int]) -> Conditioning:
    """Sampling at another size than trained: spatial conditioning is resized to z, once."""
    concat = cond.concat
    if concat is None or tuple(concat.shape[-2:]) == tuple(size):
        return cond
    concat = torch.nn.functional.interpolate(concat, size=size, mode="nearest")
    return Conditioning(context=cond.context, concat=concat, vector=cond.vector)


def _check_image_inputs(image, mask, strength) -> None:
    """Pixel-space img2img / inpainting inputs, checked before anything runs."""
    if strength is not None and not (isinstance(strength, (int, float)) and 0 < strength <= 1):
        raise SamplingError(f"strength must be in (0, 1], got {strength!r}")
    if image is None:
        if mask is not None or strength is not None:
            raise SamplingError("mask / strength need image=, the picture to start from")
        return
    if image.ndim != 4:
        raise SamplingError(f"image must be (B, C, H, W), got shape {tuple(image.shape)}")
    if mask is not None and (
        mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] not in (1, image.shape[0])
        or mask.shape[-2:] != image.shape[-2:]
    ):
        raise SamplingError(
            f"mask has shape {tuple(mask.shape)}; expected (B or 1, 1, "
            f"{image.shape[-2]}, {image.shape[-1]}) to match image {tuple(image.shape)}"
        )


def _batch_size(cond: Conditioning, num_samples: int | None) -> int:
    sizes = {v.shape[0] for v in cond.kwargs().values() if v is not None}
    if len(sizes) > 1:
        raise SamplingError(f"conditioning inputs disagree on batch size: {sorted(sizes)}")
    if sizes:
        size = sizes.pop()
        if num_samples is not None and num_samples != size:
            raise SamplingError(f"num_samples={num_samples} but the conditioning has {size} items")
        return size
    if num_samples is None or num_samples <= 0:
        raise SamplingError("num_samples must be a positive integer for an unconditional model")
    return num_samples


__all__ = ["LatentDiffusion", "ConditionerSlot"]
