"""EMA of the trained networks (denoiser + trainable conditioners) with warm-up.

Uses timm's ModelEmaV3: decay_t = min(ema_decay, 1 − (1 + t)^−power) with warm-up (Karras /
crowsonkb), 0 at the first update so the EMA starts as a copy. Its keys match the model's
(`denoiser.*`, `conditioners.<name>.*`), so EMA weights drop straight into a model state dict.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def ema_target(model: nn.Module) -> nn.ModuleDict:
    """The part of a LatentDiffusion that is trained: its denoiser and trainable conditioners."""
    slots = {name: slot for name, slot in model.conditioners.items()
             if any(p.requires_grad for p in slot.parameters())}
    return nn.ModuleDict({"denoiser": model.denoiser, "conditioners": nn.ModuleDict(slots)})


class Ema:
    def __init__(self, target: nn.Module, decay: float, *, warmup: bool = True,
                 power: float = 2 / 3) -> None:
        from timm.utils.model_ema import ModelEmaV3

        self.target = target
        self.ema = ModelEmaV3(target, decay=decay, use_warmup=warmup, warmup_power=power)
        self.ema.module.requires_grad_(False)

    def update(self, step: int) -> None:
        """After optimiser step `step` (1-based)."""
        self.ema.update(self.target, step=step)

    def decay(self, step: int) -> float:
        return self.ema.get_decay(step)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.ema.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.ema.module.load_state_dict(state)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Temporarily put the EMA weights into the live networks (for sampling)."""
        live = {k: v.detach().clone() for k, v in self.target.state_dict().items()}
        self.target.load_state_dict(self.ema.module.state_dict())
        try:
            yield
        finally:
            self.target.load_state_dict(live)

    def merged_state(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """`model`'s state dict with the trained networks replaced by their EMA weights."""
        state = dict(model.state_dict())
        state.update(self.ema.module.state_dict())
        return state
