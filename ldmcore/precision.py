"""How the denoiser runs during one `sample()` call: its dtype (precision), the cached cast to
it, and optionally torch.compile.

    fp32  float32 (exact; the default of the spec's `sampling.precision`)
    bf16  bfloat16 weights and activations
    fp16  float16
    auto  bf16 on a CPU with AVX-512 BF16 or AMX (read from /proc/cpuinfo), else fp32;
          on CUDA bf16 where the GPU supports it, else fp16; fp32 elsewhere

Only the denoiser is cast, for the duration of the call (its fp32 weights are restored bit for
bit afterwards); the sampler's ODE/SDE state stays in the latent's dtype, and each model output
is cast back to it. Inside the UNet, GroupNorm statistics and the attention softmax already run
in fp32 for half inputs (ldm_plugin_unet.layers / attention).

The low-precision copies are cached on the module between calls (`CastCache`): a call reuses a
tensor's copy while its fp32 source is unchanged, so repeated bf16 sampling does not re-read
the fp32 weights (3.4 GB per call at SD-1.5 scale). Memory: the cache keeps one copy in the
low dtype, i.e. half the fp32 weights' bytes for bf16/fp16, alive between calls. It is freed
by a call at the module's own dtype (fp32) and by `clear_cast_cache` (`model.
clear_sampling_cache()`). A copy is stale when its source's version counter (bumped by every
in-place update: optimisers, `load_state_dict`, EMA copies), data pointer, dtype, shape or
device changed, or when any of `PROBES` evenly spaced elements differs (writes that bypass the
version counter: `p.data.copy_`, fused optimisers). Only a write that bypasses the counter and
misses every probed element goes unseen; call `clear_cast_cache` after such a write.

`sampling.compile` runs the denoiser through `torch.compile` (`compiled`): wrapped once per
module and kept on it (copies of the module drop it), compiled at its first call; a compiled
denoiser samples without the submodules' `sampling_cache()` (the UNet's K/V cache), whose
data-dependent lookups would break the graph. A platform where compilation fails (no C++
compiler for inductor, an unsupported Python) raises a one-line SamplingError naming the
option rather than falling back silently: the user asked for it, and a silent eager fallback
would hide a slow path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import lru_cache
from typing import Any

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


def _floating(module: nn.Module, dtype: torch.dtype) -> list[torch.Tensor]:
    """The floating-point parameters and buffers of `module` that are not in `dtype` yet."""
    return [t for t in (*module.parameters(), *module.buffers())
            if t.is_floating_point() and t.dtype != dtype]


class _Transient:
    """A value kept on a module for sampling only: deep copies and pickles of the module drop
    it (it is rebuilt on first use), so `deepcopy(model)` never shares or duplicates it."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __deepcopy__(self, memo: dict) -> None:
        return None

    def __reduce__(self) -> tuple:
        return (_none, ())


def _none() -> None:
    return None


def _get(module: nn.Module, name: str) -> Any:
    slot = module.__dict__.get(name)
    return slot.value if isinstance(slot, _Transient) else None


def _set(module: nn.Module, name: str, value: Any) -> None:
    module.__dict__[name] = _Transient(value)


PROBES = 64  # elements per tensor compared bit for bit before a cached copy is reused
_CAST = "_ldm_cast_cache"


def _probe(t: torch.Tensor) -> torch.Tensor:
    """About PROBES evenly spaced elements of `t` (a view for contiguous tensors)."""
    flat = t.detach().reshape(-1)
    return flat[:: max(1, flat.numel() // PROBES)]


def _key(t: torch.Tensor) -> tuple:
    """What changes with any write through autograd's version counter or any new storage."""
    return (t.data_ptr(), t._version, t.dtype, t.shape, t.stride(), t.device)


_NO_ENTRY: tuple = ((), torch.empty(0), torch.empty(0))


class CastCache:
    """Low-precision copies of one module's floating tensors, each with the key and probe of
    the fp32 source it was made from."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self.entries: list[tuple[tuple, torch.Tensor, torch.Tensor]] = []  # key, probe, copy
        self.casts = 0  # copies made (what tests and benchmarks count)

    def copies(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        """`tensors` in self.dtype: cached copies where still valid, fresh casts elsewhere."""
        if len(self.entries) != len(tensors):  # another module layout: start over
            self.entries = [_NO_ENTRY] * len(tensors)
        for i, t in enumerate(tensors):
            if not self._valid(self.entries[i], t):
                self.entries[i] = _NO_ENTRY  # free the stale copy before making the new one
                self.entries[i] = (_key(t), _probe(t).clone(), t.detach().to(self.dtype))
                self.casts += 1
        return [copy for _, _, copy in self.entries]

    @staticmethod
    def _valid(entry: tuple, t: torch.Tensor) -> bool:
        key, probe, _ = entry
        return key == _key(t) and torch.equal(probe, _probe(t))


def clear_cast_cache(module: nn.Module) -> None:
    """Free the low-precision copies cached on `module` (they are rebuilt on the next call)."""
    module.__dict__.pop(_CAST, None)


def cast_cache_bytes(module: nn.Module) -> int:
    """Bytes of low-precision copies cached on `module` (0 when none)."""
    cache = _get(module, _CAST)
    entries = cache.entries if cache is not None else []
    return sum(copy.numel() * copy.element_size() for _, _, copy in entries)


def cast_cache(module: nn.Module, dtype: torch.dtype) -> CastCache:
    """The cache of `module`'s copies in `dtype` (a new one when the dtype changed)."""
    cache = _get(module, _CAST)
    if cache is None or cache.dtype != dtype:
        clear_cast_cache(module)  # one low-precision copy at a time
        cache = CastCache(dtype)
        _set(module, _CAST, cache)
    return cache


@contextmanager
def cast_module(module: nn.Module, dtype: torch.dtype, *, cache: bool = True) -> Iterator[None]:
    """Floating-point parameters and buffers of `module` in `dtype` inside the block only;
    the copies are cached on `module` for the next call unless `cache` is False."""
    tensors = _floating(module, dtype)
    if not tensors:  # the module already runs in dtype: nothing to cast or keep
        clear_cast_cache(module)
        low = []
    elif cache:
        low = cast_cache(module, dtype).copies(tensors)
    else:
        low = [t.detach().to(dtype) for t in tensors]
    saved = [t.data for t in tensors]
    for t, copy in zip(tensors, low):
        t.data = copy
    try:
        yield
    finally:
        for t, data in zip(tensors, saved):
            t.data = data


_COMPILED = "_ldm_compiled"


def compiled(module: nn.Module) -> Callable[..., Any]:
    """`module` run through torch.compile, wrapped once per module and kept on it, so
    repeated `sample()` calls reuse its compiled code (recompiles for new shapes or dtypes are
    torch's). A backend that cannot compile here raises a one-line SamplingError."""
    fn = _get(module, _COMPILED)
    if fn is None:
        try:
            fn = torch.compile(module)
        except RuntimeError as exc:  # e.g. a Python version dynamo does not support
            raise _compile_error(exc) from exc
        _set(module, _COMPILED, fn)
    return _surfacing_compile_errors(fn)


def _surfacing_compile_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, with a backend failure (compilation happens at the first call of each shape)
    turned into a one-line SamplingError."""
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except torch._dynamo.exc.BackendCompilerFailed as exc:  # e.g. no C++ compiler
            raise _compile_error(exc) from exc
    return call


def _compile_error(exc: Exception) -> SamplingError:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    return SamplingError(f"sampling.compile: torch.compile does not work here ({first}); "
                         "sample without --compile (sampling.compile=false)")


@contextmanager
def sampling_context(
    denoiser: nn.Module, dtype: torch.dtype, *, module_caches: bool = True
) -> Iterator[None]:
    """What one `sample()` call runs inside: the denoiser cast to `dtype`, then (if
    `module_caches`) every submodule's `sampling_cache()` (e.g. the UNet's cross-attention K/V
    cache), which is valid while the weights and the conditioning stay fixed. A compiled
    denoiser runs without them: their data-dependent lookups would break its graph."""
    with ExitStack() as stack:
        stack.enter_context(cast_module(denoiser, dtype))
        for module in denoiser.modules() if module_caches else ():
            hook = getattr(module, "sampling_cache", None)
            if callable(hook):
                stack.enter_context(hook())
        yield
