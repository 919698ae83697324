"""The sampling-precision cast at SD-1.5 scale, per `sample()` call, without and with the cache.

`model.sample(precision="bf16")` enters `cast_module(denoiser, bf16)` once per call and leaves it
afterwards (ldmcore/precision.py). This times that enter + exit alone on the real SD-1.5 UNet
architecture (859.5 M fp32 parameters, 3.4 GB):

    uncached    cast_module(..., cache=False): every call casts (the behaviour before the cache)
    cached      a call that reuses the cached bf16 copies (key + probe check only)
    first       the call that fills the cache (cast + probes)

Interleaved (order alternating), repeated; one thread; medians and min–max.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cast_cache.py [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sd15_vs_diffusers import UNET_QUICK, UNET_SD15  # noqa: E402

from ldmcore.precision import cast_cache_bytes, cast_module, clear_cast_cache  # noqa: E402


def build_unet(params: dict) -> torch.nn.Module:
    """Our UNet at SD-1.5's shape (context 768), weights as initialised (values do not matter)."""
    from ldm_plugin_unet.params import UNetParams
    from ldm_plugin_unet.unet import UNetModel

    torch.manual_seed(0)
    return UNetModel(UNetParams(in_channels=4, out_channels=4, context_dim=768, **params)).eval()


def time_cast(unet: torch.nn.Module, *, cache: bool) -> float:
    """Seconds to enter and leave the bf16 cast (what one sample() call pays for it)."""
    start = time.perf_counter()
    with cast_module(unet, torch.bfloat16, cache=cache):
        pass
    return time.perf_counter() - start


def time_first(unet: torch.nn.Module) -> float:
    clear_cast_cache(unet)
    return time_cast(unet, cache=True)


def summary(times: list[float]) -> str:
    return f"{statistics.median(times):.3f} ({min(times):.3f}–{max(times):.3f})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="a narrow UNet (smoke run)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    load0 = os.getloadavg()
    unet = build_unet(UNET_QUICK if args.quick else UNET_SD15)
    n = sum(p.numel() for p in unet.parameters())
    runs = {"uncached": lambda: time_cast(unet, cache=False),
            "cached": lambda: time_cast(unet, cache=True), "first": lambda: time_first(unet)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    time_first(unet)  # warm-up: allocator and page faults
    for i in range(args.repeats):
        order = list(runs) if i % 2 == 0 else list(runs)[::-1]
        for name in order:
            times[name].append(runs[name]())  # 'first' leaves the cache filled
    cached_mb = cast_cache_bytes(unet) / 2**20
    print(f"UNet {n / 1e6:.1f} M params ({n * 4 / 2**30:.2f} GiB fp32), bf16 cast, 1 thread, "
          f"{args.repeats} interleaved repeats, load {load0[0]:.2f} → {os.getloadavg()[0]:.2f}; "
          f"cache holds {cached_mb:.0f} MiB\n")
    print("| cast per sample() call | median s (min–max) |")
    print("|---|---:|")
    for name, t in times.items():
        print(f"| {name} | {summary(t)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
