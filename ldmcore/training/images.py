"""PNG grids of images in [-1, 1]: rows of (N, C, H, W) tensors, one row per kind."""

from __future__ import annotations

from pathlib import Path

import torch


def grid(rows: list[torch.Tensor], pad: int = 2) -> torch.Tensor:
    """Tile rows of images into one (C, H, W) uint8 picture with `pad` pixels of white between."""
    rows = [r.detach().float().cpu().clamp(-1, 1) for r in rows]
    channels = max(r.shape[1] for r in rows)
    h = max(r.shape[2] for r in rows)
    w = max(r.shape[3] for r in rows)
    n = max(r.shape[0] for r in rows)
    out = torch.ones(channels, len(rows) * (h + pad) + pad, n * (w + pad) + pad)
    for i, row in enumerate(rows):
        if row.shape[1] != channels:
            row = row[:, :1].expand(-1, channels, -1, -1)
        for j, img in enumerate(row):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            out[:, y:y + img.shape[1], x:x + img.shape[2]] = img
    return ((out + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def save_grid(rows: list[torch.Tensor], path: str | Path) -> Path:
    from PIL import Image

    picture = grid(rows)
    if picture.shape[0] not in (1, 3):
        picture = picture[:3] if picture.shape[0] > 3 else picture[:1]
    array = picture.permute(1, 2, 0).numpy()
    image = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    image.save(tmp, format="PNG")
    tmp.replace(path)
    return path
