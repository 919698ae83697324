"""torchrun / DDP plumbing: one process per device, gloo on CPU, NCCL on GPU.

`torchrun --nproc_per_node N -m ldmcore.cli.main train SPEC` sets RANK / WORLD_SIZE /
LOCAL_RANK / MASTER_ADDR / MASTER_PORT; without them training runs in one process.
Only rank 0 writes files; metrics are averaged over ranks before they are logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..devices import pick_device


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init(device: str | None = None) -> DistEnv:
    """Join the process group torchrun set up (if any) and pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistEnv(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def shutdown(env: DistEnv) -> None:
    if env.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(values: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Average a float tensor over ranks (identity in one process)."""
    if not env.distributed:
        return values
    out = values.detach().clone().to(env.device)
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / env.world_size


def all_reduce_sum(values: torch.Tensor, env: DistEnv) -> torch.Tensor:
    if not env.distributed:
        return values
    out = values.detach().clone().to(env.device)
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def any_rank(flag: bool, env: DistEnv) -> bool:
    """True on every rank if `flag` is true on any rank (stop requests, NaN checks)."""
    if not env.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=env.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def wrap_ddp(module: torch.nn.Module, env: DistEnv, *, find_unused: bool = False):
    """DistributedDataParallel over `module`'s trainable parameters (identity in one process)."""
    if not env.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [env.device.index] if env.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused)
