"""torch.compile for sampling (`sampling.compile`, `--compile`): eager vs compiled on a card.

One model, one process, one thread (ldmcore/precision.py `compiled`):

    compile   the first compiled sample() call minus the median eager call (dynamo + inductor,
              with a fresh, empty inductor cache directory: a cold compile)
    sample    one sample() call (batch B, the card's sampler, steps and guidance), per step
    forward   one bare denoiser forward at the CFG batch 2B, at the card's latent size

Eager and compiled runs are interleaved (order alternating); medians and the median paired
ratio compiled/eager with its min–max. Eager sampling uses the cross-attention K/V cache, the
compiled denoiser runs without it (its lookups would break the graph).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/compile_sampling.py [shapes-txt2img]
        [--batch 16] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor_cold_")  # cold compile

import torch  # noqa: E402

import ldmcore  # noqa: E402
from ldmcore.precision import compiled  # noqa: E402

CAPTION = "a red circle left of a blue square"


def _s(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def sampler(model, batch: dict, compile_: bool):
    """One sample() call, eager or compiled (the spec's sampling.compile), same noise."""
    def run() -> torch.Tensor:
        model.spec.sampling.compile = compile_
        return model.sample(batch, progress=False, return_latents=True,
                            generator=torch.Generator().manual_seed(0))
    return run


def forward(model, n: int, compile_: bool):
    """One bare denoiser call at batch n with a fixed context."""
    z = torch.randn((n, *model.latent_shape), generator=torch.Generator().manual_seed(1))
    t = torch.full((n,), 501, dtype=torch.long)
    cond = model.condition({"caption": [CAPTION] * n})
    net = compiled(model.denoiser) if compile_ else model.denoiser

    @torch.no_grad()
    def run() -> torch.Tensor:
        return net(z, t, **cond.kwargs())
    return run


def interleaved(runs: dict[str, object], repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in runs}
    for i in range(repeats):
        for name in (list(runs) if i % 2 == 0 else list(runs)[::-1]):
            times[name].append(_s(runs[name])[0])
    return times


def row(label: str, times: dict[str, list[float]], scale: float = 1.0) -> str:
    e, c = times["eager"], times["compiled"]
    r = [b / a for a, b in zip(e, c)]
    return (f"| {label} | {statistics.median(e) * scale:.2f} | {statistics.median(c) * scale:.2f}"
            f" | {statistics.median(r):.3f} ({min(r):.3f}–{max(r):.3f}) |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default="shapes-txt2img")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    load0 = os.getloadavg()
    model = ldmcore.load(args.model).eval()
    steps = model.spec.sampler.params.steps
    batch = {"caption": [CAPTION] * args.batch}
    eager = [_s(sampler(model, batch, False)) for _ in range(2)]  # warm-up + reference
    first, out = _s(sampler(model, batch, True))
    compile_s = first - statistics.median(t for t, _ in eager)
    delta = (out - eager[-1][1]).abs().max().item()
    fwd = {"eager": forward(model, 2 * args.batch, False),
           "compiled": forward(model, 2 * args.batch, True)}
    fwd["compiled"]()  # compiles nothing new if the shapes match sampling's
    samp = interleaved({"eager": sampler(model, batch, False),
                        "compiled": sampler(model, batch, True)}, args.repeats)
    fw = interleaved(fwd, args.repeats)
    print(f"{args.model} ({sum(p.numel() for p in model.denoiser.parameters()) / 1e6:.1f} M "
          f"denoiser params), batch {args.batch}, {model.spec.sampler.type} {steps} steps, "
          f"{model.spec.guider.type}; 1 thread; {args.repeats} interleaved repeats; load "
          f"{load0[0]:.2f} → {os.getloadavg()[0]:.2f}\n")
    print(f"cold compile (first compiled call − eager call): {compile_s:.1f} s; "
          f"max abs Δ compiled vs eager latents: {delta:.2e} (max |z| "
          f"{eager[-1][1].abs().max().item():.2f})\n")
    print("| measurement | eager ms | compiled ms | median paired ratio compiled/eager "
          "(min–max) |")
    print("|---|---:|---:|---:|")
    print(row("sample(), per step", samp, 1e3 / steps))
    print(row(f"bare forward, batch {2 * args.batch}", fw, 1e3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
