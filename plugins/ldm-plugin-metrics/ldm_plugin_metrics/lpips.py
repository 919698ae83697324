"""LPIPS (Zhang et al. 2018): d(x, y) = sum_l mean_hw || w_l * (f_l(x) - f_l(y)) ||^2,
with f_l channel-unit-normalised backbone activations and w_l learned 1x1 weights.

The backbone is torchvision's AlexNet / VGG16 `features` built without weights and loaded from a
local state dict; nothing is downloaded. Accepted key layouts: torchvision (`features.N.*`),
the LPIPS package's full state dict (`net.sliceK.N.*` + `linL.model.1.weight`), or a bare
linear-layer file (`linL.model.1.weight` or `linL.weight`).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ldmcore.errors import CheckpointError, SpecError

# after which ReLU of `features` each tap is taken, and its width
TAPS = {"alex": ([1, 4, 7, 9, 11], [64, 192, 384, 256, 256]),
        "vgg": ([3, 8, 15, 22, 29], [64, 128, 256, 512, 512])}
# input scaling of the LPIPS paper (maps [-1, 1] inputs to ImageNet-like statistics)
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
MIN_SIDE = 64  # AlexNet's pooling needs at least this much input


def load_state(path: str, what: str) -> dict[str, torch.Tensor]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise CheckpointError(f"{what}: weights file {p} does not exist")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(p))
        state = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any decode error is a bad checkpoint
        raise CheckpointError(f"{what}: cannot read {p} ({type(e).__name__}: {e})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{what}: {p} does not hold a state dict")
    return state


def _backbone(net: str) -> nn.Sequential:
    from torchvision import models

    model = models.alexnet(weights=None) if net == "alex" else models.vgg16(weights=None)
    return model.features


class Lpips(nn.Module):
    def __init__(self, net: str = "alex"):
        super().__init__()
        self.net_name = net
        self.features = _backbone(net)
        self.taps, widths = TAPS[net]
        self.features = self.features[: self.taps[-1] + 1]
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in widths)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    def load(self, weights: str, backbone: str | None) -> None:
        state = load_state(weights, "lpips weights")
        if backbone is not None:
            state = {**load_state(backbone, "lpips backbone_weights"), **state}
        feats, lins = {}, {}
        for key, value in state.items():
            if m := re.fullmatch(r"(?:net\.slice\d+|features)\.(\d+)\.(weight|bias)", key):
                feats[f"{m[1]}.{m[2]}"] = value
            elif m := re.fullmatch(r"lin(\d)\.(?:model\.1\.)?weight", key):
                lins[f"{m[1]}.weight"] = value
        for part, got, module in (("backbone", feats, self.features), ("linear", lins, self.lins)):
            need = set(module.state_dict())
            missing = sorted(need - set(got))
            if missing:
                raise CheckpointError(
                    f"lpips ({self.net_name}): {part} weights missing keys {missing[:4]} "
                    f"(from {weights}{' + ' + backbone if backbone else ''})"
                )
            try:
                module.load_state_dict({k: got[k] for k in need}, strict=True)
            except RuntimeError as e:
                raise CheckpointError(f"lpips ({self.net_name}): {part} weights do not fit: "
                                      f"{str(e).splitlines()[-1].strip()}") from None

    def _acts(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, h = [], (x - self.shift) / self.scale
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self.taps:
                out.append(h / (h.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x, y (N, 3, H, W) in [-1, 1] -> (N,) distances (tiny images upsampled to 64 px)."""
        if min(x.shape[-2:]) < MIN_SIDE:
            scale = MIN_SIDE / min(x.shape[-2:])
            x, y = (F.interpolate(t, scale_factor=scale, mode="bilinear") for t in (x, y))
        d = 0.0
        for lin, a, b in zip(self.lins, self._acts(x), self._acts(y)):
            d = d + lin((a - b) ** 2).mean(dim=(1, 2, 3))
        return d  # type: ignore[return-value]


def build_lpips(net: str, weights: str | None, backbone: str | None) -> Lpips:
    if weights is None:
        raise SpecError(
            "evaluator lpips: needs weights: set params.weights to the LPIPS linear-layer file "
            f"(e.g. LPIPS v0.1 {net}.pth) and params.backbone_weights to a torchvision "
            f"{'alexnet' if net == 'alex' else 'vgg16'} state dict; nothing is downloaded"
        )
    model = Lpips(net)
    model.load(weights, backbone)
    return model
