"""`image_folder`: a user's folder of images, with optional class / caption / box sidecars.

Construction scans the folder once (file headers only): missing or empty folders, mixed sizes
under `resize: none`, bad sidecars and unreadable files are reported there, naming the file.
With `on_error: skip` bad files are dropped and counted (`dataset.skipped`); with `fail` the
first one raises DataError.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ldmcore.errors import DataError
from ldmcore.interfaces import Dataset

from .common import geometry, in_val_by_name, to_tensor
from .params import ImageFolderParams


def _read_csv(root: Path) -> dict[str, dict[str, str]]:
    path = root / "labels.csv"
    if not path.is_file():
        raise DataError(f"image_folder: labels: csv needs {path}")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "file" not in rows[0] or "class" not in rows[0]:
        raise DataError(f"{path}: needs a header with columns 'file' and 'class'")
    return {r["file"].replace("\\", "/"): r for r in rows}


def _read_boxes(path: Path, max_objects: int) -> torch.Tensor:
    if not path.is_file():
        raise DataError(f"{path}: missing boxes sidecar")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    rows = data.get("boxes") if isinstance(data, dict) else data
    if not isinstance(rows, list) or len(rows) > max_objects:
        raise DataError(f"{path}: expected a list of at most {max_objects} [class, x0, y0, x1, y1]")
    out = torch.full((max_objects, 5), 0.0)
    out[:, 0] = -1
    for i, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == 5):
            raise DataError(f"{path}: boxes[{i}] is not [class, x0, y0, x1, y1]")
        cls, x0, y0, x1, y1 = (float(v) for v in row)
        if not all(0.0 <= v <= 1.0 for v in (x0, y0, x1, y1)):
            raise DataError(f"{path}: boxes[{i}] {row[1:]} has coordinates outside [0, 1]")
        if not (x1 > x0 and y1 > y0):
            raise DataError(f"{path}: boxes[{i}] {row[1:]} needs x0 < x1 and y0 < y1")
        out[i] = torch.tensor([cls, x0, y0, x1, y1])
    return out


class ImageFolderDataset(Dataset):
    def __init__(self, params: ImageFolderParams, size: int, channels: int):
        self.p, self.size, self.channels = params, size, channels
        self.root = Path(params.root).expanduser()
        if not self.root.is_dir():
            raise DataError(f"image_folder: folder {self.root} does not exist")
        exts = {e.lower() for e in params.extensions}
        pattern = "**/*" if params.recursive else "*"
        files = sorted(p for p in self.root.glob(pattern) if p.suffix.lower() in exts)
        if not files:
            raise DataError(f"image_folder: no {'/'.join(sorted(exts))} images in {self.root}")
        self.skipped: list[tuple[str, str]] = []  # (file, why)
        self.csv = _read_csv(self.root) if params.labels == "csv" else {}
        rels = [f.relative_to(self.root).parts for f in files]
        dirs = params.labels == "dirs"
        self.class_names = sorted({r[0] for r in rels if len(r) > 1}) if dirs else []
        self.items: list[dict] = []
        first_size: tuple[Path, tuple[int, int]] | None = None
        for path in files:
            rel = path.relative_to(self.root).as_posix()
            if params.split != "all" and in_val_by_name(rel, params) != (params.split == "val"):
                continue
            try:
                item = self._scan(path, rel)
            except DataError as e:
                if params.on_error == "fail":
                    raise
                self.skipped.append((rel, str(e)))
                continue
            if params.resize == "none":
                if first_size is None:
                    first_size = (path, item["size"])
                elif item["size"] != first_size[1]:
                    raise DataError(
                        f"image_folder: mixed sizes with resize: none: {first_size[0]} is "
                        f"{first_size[1]}, {path} is {item['size']} (set resize: center_crop)"
                    )
            self.items.append(item)
        if not self.items:
            raise DataError(
                f"image_folder: no usable images in {self.root} for split '{params.split}' "
                f"({len(self.skipped)} skipped)"
            )

    def _scan(self, path: Path, rel: str) -> dict:
        try:
            with Image.open(path) as im:
                size = im.size
        except Exception as e:  # noqa: BLE001 - any decoder error means unreadable
            raise DataError(f"{path}: unreadable image ({type(e).__name__})") from None
        item: dict = {"path": path, "size": size}
        if self.p.labels == "csv":
            row = self.csv.get(rel)
            if row is None:
                raise DataError(f"{path}: no row for '{rel}' in {self.root / 'labels.csv'}")
            try:
                item["class"] = int(row["class"])
            except ValueError:
                bad = row["class"]
                raise DataError(f"{path}: class '{bad}' in labels.csv is not an integer") from None
            if row.get("caption"):
                item["caption"] = row["caption"]
        elif self.p.labels == "dirs":
            parts = path.relative_to(self.root).parts
            if len(parts) < 2:
                raise DataError(f"{path}: labels: dirs needs images inside class sub-folders")
            item["class"] = self.class_names.index(parts[0])
        if self.p.captions and "caption" not in item:
            txt = path.with_suffix(".txt")
            if not txt.is_file():
                raise DataError(f"{path}: missing caption sidecar {txt.name}")
            item["caption"] = " ".join(txt.read_text().split())
            if not item["caption"]:
                raise DataError(f"{txt}: empty caption")
        if self.p.boxes:
            item["boxes"] = _read_boxes(path.with_suffix(".json"), self.p.max_objects)
        return item

    def __len__(self) -> int:
        return len(self.items)

    def _load(self, path: Path) -> np.ndarray:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            if self.p.resize == "center_crop":
                s = min(w, h)
                left, top = (w - s) // 2, (h - s) // 2
                im = im.crop((left, top, left + s, top + s))
            if self.p.resize != "none" and im.size != (self.size, self.size):
                im = im.resize((self.size, self.size), Image.BICUBIC, reducing_gap=3.0)
            return np.asarray(im, dtype=np.float32) / 255.0

    def __getitem__(self, index: int) -> dict:
        for attempt in range(len(self.items)):
            item = self.items[(index + attempt) % len(self.items)]
            try:
                img = self._load(item["path"])
                break
            except Exception as e:  # noqa: BLE001 - header was fine but decoding failed
                why = f"{item['path']}: unreadable image ({type(e).__name__}: {e})"
                if self.p.on_error == "fail":
                    raise DataError(why) from None
                self.skipped.append((str(item["path"]), why))  # skip: serve the next image
        else:
            raise DataError(f"image_folder: no image in {self.root} could be decoded")
        out = {"image": to_tensor(img, self.channels)}
        if "class" in item:
            out["class"] = torch.tensor(item["class"], dtype=torch.int64)
        if self.p.captions:
            out["caption"] = item["caption"]
        if self.p.boxes:
            out["boxes"] = item["boxes"].clone()
        return out


def build_image_folder(params: ImageFolderParams, ctx=None) -> ImageFolderDataset:
    return ImageFolderDataset(params, *geometry(params, ctx))
