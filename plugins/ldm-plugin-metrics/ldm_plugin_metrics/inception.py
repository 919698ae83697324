"""Inception-v3 pool features (2048-d) from torchvision's architecture and a local state dict.

torchvision builds inception_v3 without weights; we load a user-supplied torchvision
checkpoint (e.g. inception_v3_google-*.pth) from a path. Its AuxLogits.* keys are not needed.
These are torchvision's ImageNet weights, so scores are close to, not identical with, the
TF-Inception FID of the literature.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ldmcore.errors import CheckpointError, SpecError

from .lpips import load_state


class InceptionFeatures(nn.Module):
    dim = 2048

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import inception_v3

        self.net = inception_v3(weights=None, aux_logits=False, init_weights=False,
                                transform_input=False)
        self.net.fc = nn.Identity()
        self.requires_grad_(False).eval()

    def load(self, path: str) -> None:
        state = {k: v for k, v in load_state(path, "inception weights").items()
                 if not k.startswith("AuxLogits.") and not k.startswith("fc.")}
        result = self.net.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise CheckpointError(
                f"inception weights {path}: not a torchvision inception_v3 state dict "
                f"(missing {result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]})"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [-1, 1] -> (N, 2048). The Google weights expect (x - 0.5) / 0.5
        of [0, 1] pixels, which is exactly our [-1, 1] range, at 299 x 299."""
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return self.net(x)


def build_inception(path: str | None) -> InceptionFeatures:
    if path is None:
        raise SpecError(
            "evaluator features: inception needs params.weights = a local torchvision "
            "inception_v3 state dict (nothing is downloaded); or use features: dataset"
        )
    model = InceptionFeatures()
    model.load(path)
    return model
