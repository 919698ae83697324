"""LPIPS (Zhang et al. 2018) on a VGG16 backbone built with timm; weights from a user file.

    d(x, y) = sum_l mean_hw  w_l . (phi_l(x)/|phi_l(x)| - phi_l(y)/|phi_l(y)|)^2

phi_l are the relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 activations of VGG16 (timm
`features_only` taps), normalised over channels; w_l are the learned 1x1 "lin" heads.

The weight file (.safetensors, or .pth read with ``torch.load(weights_only=True)``) must hold the
13 VGG16 convolutions and the 5 heads. Accepted key spellings:
  backbone  ``features.N.*`` (torchvision/timm), ``features_N.*`` (timm features_only),
            ``net.sliceK.N.*`` (the `lpips` package's full state dict), optionally prefixed;
  heads     ``linK.model.1.weight`` / ``linsK.model.1.weight`` (`lpips` package) or ``linK.weight``.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from ldmcore.errors import CheckpointError

#: LPIPS input scaling from [-1, 1] images to ImageNet statistics
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
CHANNELS = (64, 128, 256, 512, 512)

_BACKBONE = re.compile(r"(?:^|\.)(?:features[._]|slice\d\.)(\d+)\.(weight|bias)$")
_HEAD = re.compile(r"(?:^|\.)lins?\.?(\d)\.(?:model\.1\.)?weight$")


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state dict from .safetensors or (safely) from a .pth/.pt/.ckpt file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"LPIPS weights not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - corrupt / unsafe files raise many types
        raise CheckpointError(f"{path}: cannot read LPIPS weights ({exc})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def split_lpips_state(state: dict[str, torch.Tensor], source: str
                      ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """-> (backbone keyed ``features_N.{weight,bias}``, heads keyed ``N``), checked complete."""
    backbone: dict[str, torch.Tensor] = {}
    heads: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if m := _BACKBONE.search(key):
            backbone[f"features_{m.group(1)}.{m.group(2)}"] = value
        elif m := _HEAD.search(key):
            heads[m.group(1)] = value
    missing = [f"lin{i}.model.1.weight" for i in range(5) if str(i) not in heads]
    for i, c in enumerate(CHANNELS):
        if str(i) in heads and heads[str(i)].numel() != c:
            raise CheckpointError(f"{source}: LPIPS head lin{i} has {heads[str(i)].numel()} "
                                  f"weights, expected {c}")
    if missing or not backbone:
        what = missing[:3] if missing else ["VGG16 features.N.weight/bias"]
        raise CheckpointError(f"{source}: not LPIPS-VGG weights; missing {', '.join(what)}")
    return backbone, heads


class LPIPS(nn.Module):
    """Frozen LPIPS-VGG16 distance, (B, 3, H, W) x2 in [-1, 1] -> (B, 1, 1, 1)."""

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        import timm

        backbone, heads = split_lpips_state(read_weights(weights), str(weights))
        with torch.device("meta"):  # no random init: every weight comes from the file
            self.net = timm.create_model("vgg16", pretrained=False, features_only=True,
                                         out_indices=(0, 1, 2, 3, 4))
        expected = self.net.state_dict()
        missing = [k for k in expected if k not in backbone]
        wrong = [k for k in expected if k in backbone and backbone[k].shape != expected[k].shape]
        if missing or wrong:
            raise CheckpointError(f"{weights}: LPIPS backbone does not match VGG16 "
                                  f"(missing {missing[:3]}, mis-shaped {wrong[:3]})")
        self.net.load_state_dict({k: backbone[k].float() for k in expected}, assign=True)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        with torch.no_grad():
            for i, lin in enumerate(self.lins):
                lin.weight.copy_(heads[str(i)].float().reshape(1, -1, 1, 1))
        self.register_buffer("shift", torch.tensor(SHIFT).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).reshape(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> LPIPS:  # always frozen, always eval
        return super().train(False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx = self.net((x - self.shift) / self.scale)
        fy = self.net((y - self.shift) / self.scale)
        total = x.new_zeros(x.shape[0], 1, 1, 1)
        for a, b, lin in zip(fx, fy, self.lins):
            a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + lin((a - b) ** 2).mean(dim=(2, 3), keepdim=True)
        return total
