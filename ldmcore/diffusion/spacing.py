"""Which of the T training timesteps a sampler visits (no torch; plain ints, descending).

    uniform   CompVis "uniform" / diffusers "leading": i · (T // S) + offset, i = 0 … S−1
              (S = 50 of T = 1000 with offset 1: 981, 961, …, 1)
    quad      CompVis "quad": ⌊(linspace(0, √(0.8 T), S))²⌋ + offset
    linspace  round(linspace(0, T − 1, S))            (diffusers "linspace")
    trailing  round(T − i · T / S) − 1, i = 0 … S−1   (diffusers "trailing": 999, …)

CompVis builds "uniform" as range(0, T, T // S), which has more than S entries when S does not
divide T; we always return exactly S steps (identical whenever S divides T). The offset is
dropped when it would push the last step past T − 1 (e.g. S = T).
"""

from __future__ import annotations

import math

SPACINGS = ("uniform", "quad", "linspace", "trailing")


def _check(num_train: int, steps: int) -> None:
    if not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if steps > num_train:
        raise ValueError(f"steps={steps} exceeds the {num_train} training timesteps")


def spaced_timesteps(spacing: str, num_train: int, steps: int, offset: int = 1) -> list[int]:
    """S timesteps in [0, T − 1], largest first."""
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
    else:
        raise ValueError(f"unknown timestep spacing '{spacing}' (known: {', '.join(SPACINGS)})")
    if ts[-1] + offset > T - 1:
        offset = 0
    return [t + offset for t in reversed(ts)]
