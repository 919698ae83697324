"""Sampling precision: which dtype the denoiser runs in during one `sample()` call.

    fp32  float32 (exact; the default of the spec's `sampling.precision`)
    bf16  bfloat16 weights and activations
    fp16  float16
    auto  bf16 on a CPU with AVX-512 BF16 or AMX (read from /proc/cpuinfo), else fp32;
          on CUDA bf16 where the GPU supports it, else fp16; fp32 elsewhere

Only the denoiser is cast, for the duration of the call (its fp32 weights are restored bit for
bit afterwards); the sampler's ODE/SDE state stays in the latent's dtype, and each model output
is cast back to it. Inside the UNet, GroupNorm statistics and the attention softmax already run
in fp32 for half inputs (ldm_plugin_unet.layers / attention).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import lru_cache

import torch
from torch import nn

from .errors import SamplingError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where it does not exist)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16(flags: frozenset[str] | None = None) -> bool:
    """Native bf16 matrix instructions (AVX-512 BF16 or AMX-BF16) on this CPU."""
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in CPU_BF16_FLAGS)


def resolve_precision(
    name: str, device: torch.device | str, *, flags: frozenset[str] | None = None
) -> torch.dtype:
    """The dtype `name` (auto | fp32 | bf16 | fp16) means on `device`."""
    if name not in PRECISIONS:
        raise SamplingError(f"precision: unknown '{name}' (choose from {', '.join(PRECISIONS)})")
    if name != "auto":
        return _DTYPES[name]
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        return torch.bfloat16 if cpu_has_bf16(flags) else torch.float32
    return torch.float32


@contextmanager
def cast_module(module: nn.Module, dtype: torch.dtype) -> Iterator[None]:
    """Floating-point parameters and buffers of `module` in `dtype` inside the block only."""
    saved = [(t, t.data) for t in (*module.parameters(), *module.buffers())
             if t.is_floating_point() and t.dtype != dtype]
    for t, data in saved:
        t.data = data.to(dtype)
    try:
        yield
    finally:
        for t, data in saved:
            t.data = data


@contextmanager
def sampling_context(denoiser: nn.Module, dtype: torch.dtype) -> Iterator[None]:
    """What one `sample()` call runs inside: the denoiser cast to `dtype`, then every
    submodule's `sampling_cache()` (e.g. the UNet's cross-attention K/V cache), which is valid
    while the weights and the conditioning stay fixed."""
    with ExitStack() as stack:
        stack.enter_context(cast_module(denoiser, dtype))
        for module in denoiser.modules():
            hook = getattr(module, "sampling_cache", None)
            if callable(hook):
                stack.enter_context(hook())
        yield
