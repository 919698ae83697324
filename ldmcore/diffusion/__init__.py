"""Core diffusion maths shared by training and every sampler.

`NoiseSchedule` is imported lazily so that `ldmcore.diffusion.presets` and `.spacing` (used by
spec validation) do not pull in torch.
"""

from typing import Any

__all__ = ["NoiseSchedule"]


def __getattr__(name: str) -> Any:
    if name == "NoiseSchedule":
        from .schedule import NoiseSchedule

        return NoiseSchedule
    raise AttributeError(name)
