"""`lfw`: scikit-image's bundled LFW subset (skimage.data.lfw_subset(), no download).

200 grey 25x25 images: the first 100 are faces, the last 100 non-face patches. class = 1 for a
face, 0 for a non-face (the subset carries no identities).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ldmcore.interfaces import Dataset

from .common import geometry, split_mask, to_tensor
from .params import LfwParams

CAPTIONS = {1: "a face", 0: "an image patch without a face"}


class LfwDataset(Dataset):
    def __init__(self, params: LfwParams, size: int, channels: int):
        from skimage.data import lfw_subset

        images = lfw_subset().astype(np.float32)  # (200, 25, 25) in [0, 1]
        labels = np.r_[np.ones(100), np.zeros(100)].astype(np.int64)
        pick = {"faces": labels == 1, "nonfaces": labels == 0, "all": np.ones(200, bool)}
        chosen = np.nonzero(pick[params.content])[0]
        chosen = chosen[split_mask(len(chosen), params)]
        self.images, self.labels = images[chosen], labels[chosen]
        self.size, self.channels = size, channels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        small = Image.fromarray(self.images[index], mode="F")
        img = np.clip(np.asarray(small.resize((self.size, self.size), Image.BICUBIC)), 0.0, 1.0)
        label = int(self.labels[index])
        return {
            "image": to_tensor(img, self.channels),
            "class": torch.tensor(label, dtype=torch.int64),
            "caption": CAPTIONS[label],
        }


def build_lfw(params: LfwParams, ctx=None) -> LfwDataset:
    return LfwDataset(params, *geometry(params, ctx))
