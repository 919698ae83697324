"""Which of the T training timesteps a sampler visits (no torch; plain ints, descending).

    uniform   CompVis "uniform" / diffusers "leading": i · (T // S) + offset, i = 0 … S−1
              (S = 50 of T = 1000 with offset 1: 981, 961, …, 1)
    quad      CompVis "quad": ⌊(linspace(0, √(0.8 T), S))²⌋ + offset
    linspace  round(linspace(0, T − 1, S))            (diffusers "linspace")
    trailing  round(T − i · T / S) − 1, i = 0 … S−1   (diffusers "trailing": 999, …)
    logsnr    log σ uniform from σ_max = σ_{T−1} to σ_min = σ_0, i.e. uniform in the log-SNR
              λ = −log σ (DPM-Solver, Lu et al. 2022; diffusers `use_lu_lambdas`)
    karras    σ_i = (σ_max^{1/ρ} + i/(S−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, ρ = 7
              (Karras et al. 2022, eq. 5; diffusers `use_karras_sigmas`)

σ_t = √((1 − ᾱ_t)/ᾱ_t) is the schedule's VE noise level. For logsnr / karras each σ_i is mapped to
a timestep by linear interpolation of log σ over the integer grid and rounded, as diffusers
does; the sampler then uses the schedule's own ᾱ at that integer step, so model input and
solver coefficients agree. Those two need the schedule's `sigmas`; the offset does not apply.

CompVis builds "uniform" as range(0, T, T // S), which has more than S entries when S does not
divide T; we always return exactly S steps (identical whenever S divides T). The offset is
dropped when it would push the last step past T − 1 (e.g. S = T).

Rounding (quad's ⌊·⌋, the σ → t rounding) can map two steps onto one timestep, which would
make a step of zero length (DPM-Solver then divides by h = 0). Every spacing therefore returns
strictly decreasing steps: a repeated step is moved to the next free timestep above it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

SPACINGS = ("uniform", "quad", "linspace", "trailing", "logsnr", "karras")
SIGMA_SPACINGS = ("logsnr", "karras")
KARRAS_RHO = 7.0


def _check(num_train: int, steps: int) -> None:
    if not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if steps > num_train:
        raise ValueError(f"steps={steps} exceeds the {num_train} training timesteps")


def sigma_levels(spacing: str, sigmas: Sequence[float], steps: int) -> list[float]:
    """The S continuous noise levels of a σ-defined spacing, largest first."""
    hi, lo = float(sigmas[-1]), float(sigmas[0])
    S = steps
    ramp = [i / (S - 1) if S > 1 else 0.0 for i in range(S)]
    if spacing == "logsnr":
        return [math.exp(math.log(hi) + r * (math.log(lo) - math.log(hi))) for r in ramp]
    if spacing == "karras":
        a, b = hi ** (1 / KARRAS_RHO), lo ** (1 / KARRAS_RHO)
        return [(a + r * (b - a)) ** KARRAS_RHO for r in ramp]
    raise ValueError(f"'{spacing}' is not a σ spacing (known: {', '.join(SIGMA_SPACINGS)})")


def sigma_to_t(sigma: float, log_sigmas: Sequence[float]) -> float:
    """Fractional timestep where log σ_t = log σ (linear in log σ between integer steps)."""
    ls = math.log(max(sigma, 1e-10))
    if ls <= log_sigmas[0]:
        return 0.0
    if ls >= log_sigmas[-1]:
        return float(len(log_sigmas) - 1)
    hi = bisect.bisect_left(log_sigmas, ls)  # log σ_t increases with t
    lo = hi - 1
    w = (ls - log_sigmas[lo]) / (log_sigmas[hi] - log_sigmas[lo])
    return lo + w


def _strictly_decreasing(ts_desc: list[int], T: int) -> list[int]:
    """Move repeated steps up to the next free timestep (then cap at T − 1 from the top)."""
    up = sorted(ts_desc)
    for i in range(1, len(up)):
        up[i] = max(up[i], up[i - 1] + 1)
    up[-1] = min(up[-1], T - 1)
    for i in range(len(up) - 2, -1, -1):
        up[i] = min(up[i], up[i + 1] - 1)
    return up[::-1]


def spaced_timesteps(
    spacing: str, num_train: int, steps: int, offset: int = 1,
    sigmas: Sequence[float] | None = None,
) -> list[int]:
    """S distinct timesteps in [0, T − 1], largest first (σ spacings need `sigmas`)."""
    _check(num_train, steps)
    T, S = num_train, steps
    if spacing == "uniform":
        ts = [i * (T // S) for i in range(S)]
    elif spacing == "quad":
        top = math.sqrt(T * 0.8)
        ts = [int((top * i / (S - 1) if S > 1 else 0.0) ** 2) for i in range(S)]
    elif spacing == "linspace":
        ts = [round((T - 1) * i / (S - 1)) if S > 1 else 0 for i in range(S)]
        offset = 0
    elif spacing == "trailing":
        ts = [round(T - i * T / S) - 1 for i in range(S)][::-1]
        offset = 0
    elif spacing in SIGMA_SPACINGS:
        if sigmas is None or len(sigmas) != T:
            raise ValueError(f"spacing '{spacing}' needs the schedule's {T} sigmas")
        log_sigmas = [math.log(float(s)) for s in sigmas]
        # round half to even, as numpy's .round() in diffusers
        ts = [round(sigma_to_t(s, log_sigmas)) for s in sigma_levels(spacing, sigmas, S)][::-1]
        offset = 0
    else:
        raise ValueError(f"unknown timestep spacing '{spacing}' (known: {', '.join(SPACINGS)})")
    if ts[-1] + offset > T - 1:
        offset = 0
    return _strictly_decreasing([t + offset for t in reversed(ts)], T)
