"""The latent scale factor: 1/σ̂ of E(x) over a few batches (paper Sec. 4.3.2 / Appendix G).

z_scaled = (z − shift) · scale_factor should have unit variance, so the diffusion's noise
schedule sees the signal-to-noise it was designed for. Every rank contributes its batches.
The posterior noise z ~ q(z|x) is keyed to the shard (a generator per (step, shard), as in
training), so N ranks give the estimate of one process over the same shards.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .distributed import DistEnv, all_reduce_sum
from .errors import TrainingError


@torch.no_grad()
def estimate_scale_factor(first_stage: Any,
                          images: Iterable[torch.Tensor | tuple[torch.Tensor, torch.Generator]],
                          env: DistEnv, generator: torch.Generator | None = None) -> float:
    """1 / std of (E(x) − shift) over all elements of all given batches on all ranks. A batch
    may come with its own generator, `(x, g)`; otherwise `generator` draws its noise."""
    total = torch.zeros(3, dtype=torch.float64, device=env.device)  # Σz, Σz², n
    for item in images:
        x, g = item if isinstance(item, tuple) else (item, generator)
        z = first_stage.encode(x.to(env.device), sample=True, generator=g)
        z = (z - first_stage.shift_factor.to(z)).double()
        total += torch.stack([z.sum(), z.pow(2).sum(), torch.tensor(z.numel(), dtype=z.dtype,
                                                                       device=z.device)])
    s, s2, n = all_reduce_sum(total, env).tolist()
    if n == 0:
        raise TrainingError("scale_factor: no latents to estimate it from")
    var = max(s2 / n - (s / n) ** 2, 0.0)
    if not var > 0 or var != var:
        raise TrainingError(f"scale_factor: latents have variance {var}; cannot set 1/std "
                            "(set training.scale_factor to a number or 'keep')")
    return float(var ** -0.5)
