"""Sample quality vs number of function evaluations (NFE) for every sampler, on a known target.

The "model" is the exact denoiser of a 2-D Gaussian mixture: for data Σ_k π_k N(μ_k, s_k² I),
    p_t(z) = Σ_k π_k N(z; √ᾱ_t μ_k, (ᾱ_t s_k² + 1 − ᾱ_t) I),   ε*(z, t) = −√(1−ᾱ_t) ∇ log p_t(z),
so every error left is the sampler's (discretisation, final step), not a network's.

Quality: sliced Wasserstein-2 between the N samples and the true mixture itself, over 128 fixed
directions; each projection of the mixture is a 1-D mixture whose quantiles are computed exactly
(bisection on its CDF), so no reference sample adds noise. `floor` is the same number for N
exact draws from the mixture (pure finite-sample error). All runs share the same initial noise.

    OMP_NUM_THREADS=1 python benchmarks/sampler_quality.py          # about 3 min on one core

With diffusers installed, its DPMSolverMultistepScheduler (dpmsolver++, order 2) runs on the
same denoiser and noise with log-SNR-uniform steps (`use_lu_lambdas`) and Karras σ
(`use_karras_sigmas`), next to ours with `spacing: logsnr` / `karras`.
"""

from __future__ import annotations

import argparse
import importlib
import math
import time

import torch
from ldm_plugin_samplers import plugin

from ldmcore.diffusion import NoiseSchedule

ANGLES = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
MEANS = 1.2 * torch.stack([ANGLES.cos(), ANGLES.sin()], 1)  # 8 modes on a ring
STDS = torch.tensor([0.05, 0.1, 0.15, 0.2] * 2, dtype=torch.float64)
WEIGHTS = torch.tensor([1, 2, 3, 4, 4, 3, 2, 1], dtype=torch.float64) / 20


def sample_gmm(n: int, g: torch.Generator) -> torch.Tensor:
    k = torch.multinomial(WEIGHTS, n, replacement=True, generator=g)
    return MEANS[k] + STDS[k, None] * torch.randn(n, 2, dtype=torch.float64, generator=g)


def gmm_eps(schedule: NoiseSchedule):
    """ε*(z_t, t) of the mixture, exact (float64). Samplers call it with one t per batch."""
    ac = schedule.alphas_cumprod

    def denoise(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = float(ac[int(t[0])])
        var = a * STDS**2 + 1 - a  # (K,)
        diff = z[:, None, :] - a**0.5 * MEANS[None]  # (N, K, 2)
        logw = WEIGHTS.log() - var.log() - diff.pow(2).sum(-1) / (2 * var)  # d/2 · log var, d=2
        w = torch.softmax(logw, dim=1)[..., None]
        score = -(w * diff / var[None, :, None]).sum(1)  # ∇ log p_t(z)
        return -((1 - a) ** 0.5) * score

    return denoise


def true_quantiles(dirs: torch.Tensor, n: int) -> torch.Tensor:
    """(n, D) exact quantiles at (i − ½)/n of the mixture projected on each direction."""
    loc = MEANS @ dirs  # (K, D): a projection of N(μ, s² I) is N(μ·d, s²)
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    lo = torch.full((n, dirs.shape[1]), -4.0, dtype=torch.float64)
    hi = -lo
    for _ in range(50):
        mid = (lo + hi) / 2
        cdf = (WEIGHTS[:, None, None] * 0.5 * (1 + torch.erf(
            (mid[None] - loc[:, None, :]) / (STDS[:, None, None] * 2**0.5)))).sum(0)
        below = cdf < u[:, None]
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return (lo + hi) / 2


def sliced_w2(x: torch.Tensor, dirs: torch.Tensor, q: torch.Tensor) -> float:
    px, _ = (x @ dirs).sort(0)
    return (px - q).pow(2).mean().sqrt().item()


def make(name: str, **params):
    P, module, cls, _ = plugin.SAMPLERS[name]
    return getattr(importlib.import_module(f"ldm_plugin_samplers.{module}"), cls)(P(**params))


def nfe(name: str, steps: int) -> int:
    return steps + 1 if name == "plms" else steps


GRID = {
    "ddim": [10, 20, 50, 100, 200],
    "plms": [5, 10, 15, 20, 50],
    "dpm_solver_pp": [5, 8, 10, 12, 15, 20, 25, 30, 50],
    "euler": [10, 20, 50, 100],
    "euler_ancestral": [20, 50, 100, 200],
    "ddpm": [50, 100, 250, 1000],
}
# DDIM / PLMS land on the clean sample like the others (CompVis' ᾱ[0] is reported apart)
CLEAN = {"ddim": {"final_alpha": "one"}, "plms": {"final_alpha": "one"}}
DIFFUSERS_FLAGS = {"logsnr": "use_lu_lambdas", "karras": "use_karras_sigmas"}


def diffusers_dpm(denoise, noise: torch.Tensor, steps: int, flag: str) -> torch.Tensor | None:
    """diffusers' DPM-Solver++(2M) with one of its σ spacings on the same ε (None if absent)."""
    try:
        import diffusers
    except ImportError:
        return None
    sched = diffusers.DPMSolverMultistepScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
        beta_schedule="scaled_linear", algorithm_type="dpmsolver++", solver_order=2,
        **{flag: True})
    sched.set_timesteps(steps)
    z = noise * sched.init_noise_sigma
    for t in sched.timesteps:
        eps = denoise(z, torch.full((z.shape[0],), int(t)))
        z = sched.step(eps, t, z).prev_sample
    return z


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10000, help="samples per run")
    ap.add_argument("--spacings", default="uniform,trailing,logsnr,karras")
    ap.add_argument("--std-scale", type=float, default=1.0, help="multiply the mode widths")
    args = ap.parse_args()
    global STDS
    STDS = STDS * args.std_scale
    start = time.time()
    torch.set_num_threads(1)
    schedule = NoiseSchedule.preset("sd")
    denoise = gmm_eps(schedule)
    g = torch.Generator().manual_seed(0)
    dirs = torch.randn(2, 128, dtype=torch.float64, generator=g)
    dirs = dirs / dirs.norm(dim=0)
    q = true_quantiles(dirs, args.n)
    floors = [sliced_w2(sample_gmm(args.n, g), dirs, q) for _ in range(5)]
    noise = torch.randn(args.n, 2, dtype=torch.float64, generator=g)  # shared by all runs

    def quality(name: str, steps: int, spacing: str, **extra) -> float:
        sampler = make(name, steps=steps, spacing=spacing, **{**CLEAN.get(name, {}), **extra})
        out = sampler.sample(denoise, noise, schedule, progress=False,
                             generator=torch.Generator().manual_seed(1))
        return sliced_w2(out, dirs, q)

    spacings = args.spacings.split(",")
    table = {(name, s): {st: quality(name, st, s) for st in grid}
             for name, grid in GRID.items() for s in spacings}
    print(f"mode stds {[round(v, 3) for v in STDS[:4].tolist()]}; "
          f"SD schedule (scaled_linear 0.00085–0.012, T = 1000); N = {args.n}; sliced W2 to the "
          f"true mixture; floor (N exact draws) = {sum(floors) / 5:.4f} ± "
          f"{torch.tensor(floors).std().item():.4f}\n")
    print("| sampler | steps | NFE | " + " | ".join(f"W2 ({s})" for s in spacings) + " |")
    print("|---|---:|---:|" + "---:|" * len(spacings))
    for name, grid in GRID.items():
        for st in grid:
            cells = " | ".join(f"{table[(name, s)][st]:.4f}" for s in spacings)
            print(f"| {name} | {st} | {nfe(name, st)} | {cells} |")
    print()
    ddim100 = table[("ddim", "uniform")][100] if "uniform" in spacings else None
    for s in spacings:
        compvis = quality("ddim", 100, s, final_alpha="alpha0")
        own = table[("ddim", s)][100]
        dpm = table[("dpm_solver_pp", s)]
        target = own if ddim100 is None else ddim100
        match = next((st for st in sorted(dpm) if dpm[st] <= target), None)
        print(f"{s}: DDIM-100 W2 = {own:.4f} (CompVis final step ᾱ[0]: {compvis:.4f}); "
              f"DPM-Solver++(2M) first reaches DDIM-100 (uniform) at NFE = {match}")
    rows = [(s, st) for s in spacings if s in DIFFUSERS_FLAGS
            for st in GRID["dpm_solver_pp"] if st <= 30]
    theirs = {(s, st): diffusers_dpm(denoise, noise, st, DIFFUSERS_FLAGS[s]) for s, st in rows}
    if rows and all(v is not None for v in theirs.values()):
        print("\nDPM-Solver++(2M), ours vs diffusers on the same denoiser and noise:\n")
        print("| spacing | NFE | W2 ours | W2 diffusers |")
        print("|---|---:|---:|---:|")
        for s, st in rows:
            print(f"| {s} | {st} | {table[('dpm_solver_pp', s)][st]:.4f} | "
                  f"{sliced_w2(theirs[(s, st)], dirs, q):.4f} |")
    print(f"({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
