"""Choose the perceptual distance: LPIPS when weights are given, else the structural substitute.

Without weights the substitute is announced once per process (a logging warning), so a run never
trains with "no perceptual loss" silently.
"""

from __future__ import annotations

import logging

from torch import nn

log = logging.getLogger("ldm_plugin_autoencoders")
_warned = False


def make_perceptual(weights: str | None) -> nn.Module:
    """LPIPS-VGG16 from `weights`, or StructuralLoss (with one warning) when `weights` is None."""
    global _warned
    if weights:
        from .lpips import LPIPS

        return LPIPS(weights)
    if not _warned:
        _warned = True
        log.warning(
            "no LPIPS weights given (loss.lpips_weights is null): the perceptual term uses the "
            "weight-free multi-scale gradient+SSIM substitute (losses/structural.py)"
        )
    from .structural import StructuralLoss

    return StructuralLoss()
