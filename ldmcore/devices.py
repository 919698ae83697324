"""`--device` as the CLI takes it: a torch device that exists here, or a one-line DataError."""

from __future__ import annotations

import torch

from .errors import DataError


def pick_device(requested: str | None, local_rank: int = 0, *,
                default_gpu: bool = True) -> torch.device:
    """`requested` (cpu, cuda, cuda:1 ...; "cuda" means this process's GPU, `local_rank`), or
    without it this process's GPU where there is one (`default_gpu`), else the CPU."""
    if not requested:
        use_gpu = default_gpu and torch.cuda.is_available()
        return torch.device("cuda", local_rank) if use_gpu else torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise DataError(f"--device {requested}: not a device (cpu, cuda, cuda:1 ...)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DataError(f"--device {requested}: CUDA is not available here")
        if device.index is None:
            device = torch.device("cuda", local_rank)
        if device.index >= torch.cuda.device_count():
            raise DataError(f"--device {requested}: this machine has "
                            f"{torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise DataError(f"--device {requested}: only cpu and cuda are supported")
    return device
