"""Data for training: the dataset from the registry and a deterministic, resumable batch order.

Order: epoch e is a permutation of the dataset drawn from a generator seeded by (seed, e).
Optimiser step s takes the next `batch_size` indices of it (drop-last), and that global batch is
cut into world_size × grad_accum equal shards: shard k = rank · grad_accum + micro. The order is
a pure function of (seed, step), so resuming at step s restores it exactly, and the same shards
exist whether they run on 2 processes or as 2 accumulation steps of 1 process.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler, default_collate

from ..errors import DataError, LdmError


def mix_seed(*values: int) -> int:
    """A 63-bit seed from integers (LCG-style mixing; stable across runs and platforms)."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h * 6364136223846793005 + int(v) + 1442695040888963407) % 2**64
    return h % 2**63


def build_dataset(spec: Any, registry: Any, node: Any = None, where: str = "training.dataset"):
    """Instantiate `training.dataset` through the registry; empty datasets are refused."""
    from ..builder import BuildContext
    from ..spec.wiring import check_wiring

    node = node if node is not None else spec.training.dataset
    ctx = BuildContext(spec=spec, wiring=check_wiring(spec), registry=registry)
    dataset = ctx.instantiate("dataset", node, where)
    if len(dataset) == 0:
        raise DataError(f"{where} '{node.type}': the dataset is empty")
    return dataset


class StepSampler(Sampler[list[int]]):
    """For each optimiser step from `start_step` on: this rank's `grad_accum` index lists."""

    def __init__(self, size: int, batch_size: int, *, seed: int, rank: int = 0,
                 world_size: int = 1, grad_accum: int = 1, start_step: int = 0) -> None:
        shards = world_size * grad_accum
        if batch_size % shards:
            raise DataError(
                f"training.batch_size {batch_size} does not split into {world_size} process(es) "
                f"x {grad_accum} accumulation step(s)"
            )
        if batch_size > size:
            raise DataError(
                f"training.batch_size {batch_size} is larger than the dataset ({size} items)"
            )
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.grad_accum, self.start_step = rank, grad_accum, start_step
        self.micro = batch_size // shards
        self.steps_per_epoch = size // batch_size
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(mix_seed(self.seed, epoch))
            self._epoch, self._perm = epoch, torch.randperm(self.size, generator=g)
        return self._perm

    def step_indices(self, step: int) -> list[list[int]]:
        """This rank's micro-batches of optimiser step `step` (0-based)."""
        epoch, j = divmod(step, self.steps_per_epoch)
        batch = self._permutation(epoch)[j * self.batch_size:(j + 1) * self.batch_size]
        first = self.rank * self.grad_accum
        return [batch[(first + m) * self.micro:(first + m + 1) * self.micro].tolist()
                for m in range(self.grad_accum)]

    def __iter__(self) -> Iterator[list[int]]:
        for step in count(self.start_step):
            yield from self.step_indices(step)


def _one_line(exc: BaseException) -> str:
    """A DataLoader worker re-raises with the whole traceback in the message: keep the last line."""
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else type(exc).__name__
    return last.split(": ", 1)[1] if last.startswith("ldmcore.errors.") else last


def step_batches(dataset: Any, sampler: StepSampler, *, num_workers: int = 0,
                 pin_memory: bool = False) -> Iterator[list[dict]]:
    """Yield, step after step, the list of this rank's micro-batches (dicts of tensors)."""
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                        pin_memory=pin_memory, persistent_workers=num_workers > 0)
    it = iter(loader)
    while True:
        try:
            yield [next(it) for _ in range(sampler.grad_accum)]
        except LdmError as exc:
            raise type(exc)(_one_line(exc)) from None


def fixed_batch(dataset: Any, n: int) -> dict:
    """The first `n` items, collated: the conditioning / inputs of every sample grid."""
    return default_collate([dataset[i] for i in range(min(n, len(dataset)))])


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()}
