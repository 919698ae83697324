"""`digits`: scikit-learn's bundled 8x8 handwritten digits, upsampled (white ink on black)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ldmcore.interfaces import Dataset

from .common import geometry, split_mask, to_tensor
from .params import DigitsParams


class DigitsDataset(Dataset):
    def __init__(self, params: DigitsParams, size: int, channels: int):
        from sklearn.datasets import load_digits  # bundled with scikit-learn, no download

        data = load_digits()
        keep = split_mask(len(data.target), params)
        self.images = (data.images[keep] / 16.0).astype(np.float32)  # (N, 8, 8) in [0, 1]
        self.targets = data.target[keep].astype(np.int64)
        self.size, self.channels = size, channels

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict:
        small = Image.fromarray(self.images[index], mode="F")
        img = np.clip(np.asarray(small.resize((self.size, self.size), Image.BICUBIC)), 0.0, 1.0)
        digit = int(self.targets[index])
        return {
            "image": to_tensor(img, self.channels),
            "class": torch.tensor(digit, dtype=torch.int64),
            "caption": f"the digit {digit}",
        }


def build_digits(params: DigitsParams, ctx=None) -> DigitsDataset:
    return DigitsDataset(params, *geometry(params, ctx))
