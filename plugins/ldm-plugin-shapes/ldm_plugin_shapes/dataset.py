"""The `shapes` dataset: item i of (seed, split) is a freshly rendered, deterministic scene.

Item keys (COMMON batch schema):
    image         float32 (C, H, W) in [-1, 1]
    class         int64: object_class of the first object (the only one if single_object)
    caption       str, e.g. "a red circle above a blue square"
    boxes         float32 (max_objects, 5) rows (object_class, x0, y0, x1, y1), pad class -1
    segmentation  int64 (H, W), 0 = background, object_class + 1 inside objects
"""

from __future__ import annotations

import numpy as np
import torch

from ldmcore.errors import DataError
from ldmcore.interfaces import Dataset

from .params import ShapesParams
from .render import render
from .scene import SceneConfig, sample_scene
from .vocab import format_caption, layout_rows

#: distinct seed streams per split, so train and val never share a (seed, index) stream
_SPLIT_ID = {"train": 0, "val": 1}


class ShapesDataset(Dataset):
    def __init__(self, params: ShapesParams, size: int):
        if size < 8:
            raise DataError(f"dataset shapes: size {size} is too small (>= 8)")
        self.p = params
        self.size = size
        n_min, n_max = (1, 1) if params.single_object else (params.min_objects, params.max_objects)
        self.scene = SceneConfig(
            shapes=tuple(params.shapes),
            colors=tuple(params.colors),
            min_objects=n_min,
            max_objects=n_max,
            min_scale=params.min_scale,
            max_scale=params.max_scale,
            max_overlap=params.max_overlap,
        )

    def __len__(self) -> int:
        return self.p.num_items

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.p.seed, _SPLIT_ID[self.p.split], index])

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(index)
        rng = self.rng(index)
        objects = sample_scene(rng, self.scene)
        img, seg = render(
            objects,
            self.size,
            rng=rng,
            textured=self.p.background == "textured",
            supersample=self.p.supersample,
        )
        if self.p.channels == 1:
            img = img.mean(axis=2, keepdims=True)
        image = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))) * 2.0 - 1.0
        return {
            "image": image,
            "class": torch.tensor(objects[0].cls, dtype=torch.int64),
            "caption": format_caption(objects),
            "boxes": torch.tensor(layout_rows(objects, self.p.max_objects), dtype=torch.float32),
            "segmentation": torch.from_numpy(seg),
        }


def build_shapes(params: ShapesParams, ctx=None) -> ShapesDataset:
    size = params.size
    if size is None:
        spec = getattr(ctx, "spec", None)
        size = getattr(spec, "image_size", None) or 32
    return ShapesDataset(params, size)
