"""Rebuild the random CompVis-format checkpoints behind tests/fixtures/compvis/tiny/.

Each `<name>.manifest.json` lists the state dict the ORIGINAL `LatentDiffusion` has for the tiny
config `<name>.yaml` (key: [shape, dtype, init]). Parameters and EMA shadows were filled by
`fill(key, shape)` below (seeded by the key, so the weights need not be committed); buffers
('kept') are stored in `<name>.ref.safetensors` under kept/<key>, beside the reference outputs
the original code computed with those weights. See tests/fixtures/compvis/README.md.
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import torch

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "compvis" / "tiny"
NAMES = ("unconditional", "txt2img-bert", "layout2img", "superres", "semantic", "inpainting",
         "class2img", "sd1", "sd2-v")
#: the tiny SD configs name a real CLIP (ViT-L/14, ViT-H-14); their text towers are smaller
OVERRIDES = {n: ["conditioners.text.params.width=32", "conditioners.text.params.layers=3",
                 "conditioners.text.params.heads=2"] for n in ("sd1", "sd2-v")}


def fill(key: str, shape: list[int]) -> torch.Tensor:
    g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    x = torch.randn(tuple(shape), generator=g)
    if len(shape) >= 2:
        return x / math.sqrt(math.prod(shape[1:]))
    if key.endswith("weight") and "norm" in key:
        return 1 + 0.1 * x
    return 0.1 * x


def manifest(name: str) -> dict[str, list]:
    return json.loads((TINY / f"{name}.manifest.json").read_text())


def reference(name: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(TINY / f"{name}.ref.safetensors"))


def compvis_state(name: str) -> dict[str, torch.Tensor]:
    """The state dict the original model had, in CompVis keys."""
    ref = reference(name)
    out: dict[str, torch.Tensor] = {}
    for key, (shape, dtype, init) in manifest(name).items():
        if init == "fill":
            out[key] = fill(key, shape)
        elif init == "kept":
            out[key] = ref[f"kept/{key}"].to(getattr(torch, dtype)).reshape(shape)
        else:  # alias:<other key>, the same module under two names (inpainting's cond stage)
            out[key] = out[init.split(":", 1)[1]]
    return out


def write_ckpt(name: str, folder: Path) -> Path:
    """The checkpoint as CompVis writes it: {"state_dict": ...} in a .ckpt."""
    path = folder / f"{name}.ckpt"
    torch.save({"state_dict": compvis_state(name), "global_step": 0}, path)
    return path
