"""Pictures people look at: image grids as PNG, with captions and boxes drawn when given."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

#: distinct outline colours for drawn boxes
_BOX_COLOURS = [(255, 255, 255), (255, 64, 255), (64, 255, 255), (255, 160, 0), (0, 0, 0)]


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) in [-1, 1] -> (B, H, W, 3) uint8."""
    x = images.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.permute(0, 2, 3, 1).numpy()


def label_picture(ids: torch.Tensor, palette: Sequence[Sequence[int]]) -> torch.Tensor:
    """(B, H, W) label ids -> (B, 3, H, W) in [-1, 1], each id in its palette colour."""
    table = torch.tensor(palette, dtype=torch.float32) / 127.5 - 1
    return table[ids.long().clamp(0, len(table) - 1)].permute(0, 3, 1, 2)


def image_grid(
    images: torch.Tensor,
    *,
    nrow: int | None = None,
    captions: Sequence[str] | None = None,
    boxes: torch.Tensor | None = None,
    upscale: int = 1,
    pad: int = 2,
):
    """A PIL image: the batch as a grid; `boxes` (B, K, 5) outlined, `captions` under each cell."""
    from PIL import Image, ImageDraw

    arr = to_uint8(images)
    b, h, w, _ = arr.shape
    nrow = nrow or int(np.ceil(np.sqrt(b)))
    ncol = int(np.ceil(b / nrow))
    cw, ch = w * upscale, h * upscale
    text_h = 12 * max(len(_lines(c, cw)) for c in captions) if captions else 0
    grid = Image.new("RGB", (nrow * (cw + pad) + pad, ncol * (ch + text_h + pad) + pad), "white")
    draw = ImageDraw.Draw(grid)
    for i in range(b):
        x0 = pad + (i % nrow) * (cw + pad)
        y0 = pad + (i // nrow) * (ch + text_h + pad)
        cell = Image.fromarray(arr[i]).resize((cw, ch), Image.NEAREST)
        grid.paste(cell, (x0, y0))
        if boxes is not None:
            for k, row in enumerate(boxes[i].tolist()):
                if row[0] < 0:
                    continue
                bx0, by0, bx1, by1 = (v * s for v, s in zip(row[1:], (cw, ch, cw, ch)))
                colour = _BOX_COLOURS[k % len(_BOX_COLOURS)]
                draw.rectangle([x0 + bx0, y0 + by0, x0 + bx1, y0 + by1], outline=colour)
        if captions:
            _wrap_text(draw, captions[i], x0, y0 + ch + 1, cw)
    return grid


def _lines(text: str, width: int) -> list[str]:
    """`text` broken at spaces into lines of the default font (6 px a character)."""
    import textwrap

    return textwrap.wrap(text, max(width // 6, 1)) or [""]


def _wrap_text(draw, text: str, x: int, y: int, width: int) -> None:
    for j, line in enumerate(_lines(text, width)):
        draw.text((x, y + 12 * j), line, fill="black")


def save_grid(images: torch.Tensor, path: str | Path, **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image_grid(images, **kwargs).save(path)
    return path


def load_image(path: str | Path, size: int, channels: int = 3) -> torch.Tensor:
    """A picture file -> (1, C, size, size) in [-1, 1] (resized; DataError if unreadable)."""
    from PIL import Image, UnidentifiedImageError

    from .errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"image not found: {path}")
    try:
        img = Image.open(path).convert("RGB" if channels == 3 else "L")
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from None
    arr = np.asarray(img.resize((size, size), Image.BICUBIC), dtype=np.float32) / 127.5 - 1
    x = torch.from_numpy(arr)
    return (x[None, None] if channels == 1 else x.permute(2, 0, 1)[None]).contiguous()


def load_mask(path: str | Path, size: int) -> torch.Tensor:
    """A mask picture -> (1, 1, size, size) with 1 where it is light (the region to fill)."""
    return (load_image(path, size, channels=1) > 0).float()
