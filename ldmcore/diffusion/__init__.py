"""Core diffusion maths shared by training and every sampler."""

from .schedule import NoiseSchedule

__all__ = ["NoiseSchedule"]
