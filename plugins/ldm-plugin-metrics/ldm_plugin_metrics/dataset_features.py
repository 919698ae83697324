"""A feature extractor that needs no download: a small CNN trained on the dataset itself.

It learns to predict the dataset's labels (multi-hot object classes from `boxes` when present,
else `class`), and its penultimate 128-d activations serve as features for FID / KID / P&R.
Scores in this space are labelled dataset_feature_* and are NOT comparable to Inception FID.
The trained weights are cached (safetensors) at a path and reused.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from ldmcore.errors import DataError


class FeatureCNN(nn.Module):
    dim = 128

    def __init__(self, channels: int, num_outputs: int, size: int):
        super().__init__()
        self.size = size

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout),
                                 nn.SiLU(), nn.Conv2d(cout, cout, 3, padding=1), nn.SiLU())

        self.body = nn.Sequential(block(channels, 32), nn.AvgPool2d(2), block(32, 64),
                                  nn.AvgPool2d(2), block(64, self.dim))
        self.head = nn.Linear(self.dim, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear",
                              align_corners=False, antialias=True)
        return self.body(x).mean(dim=(2, 3))

    def levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Mean-pooled activations after each of the three conv blocks: (N, 32), (N, 64),
        (N, 128) = low-level colour/texture statistics, mid-level parts, label-level content.
        The last one is `features(x)`."""
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear",
                              align_corners=False, antialias=True)
        out = []
        for i, layer in enumerate(self.body):
            x = layer(x)
            if i % 2 == 0:  # body = block, pool, block, pool, block
                out.append(x.mean(dim=(2, 3)))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def _targets(batch: dict, num_outputs: int, multi: bool) -> torch.Tensor:
    if multi:
        boxes = batch["boxes"]
        cls = boxes[..., 0].long()
        hot = torch.zeros(len(boxes), num_outputs + 1)
        hot.scatter_(1, cls.clamp(min=-1) % (num_outputs + 1), 1.0)  # -1 pad -> last column
        return hot[:, :num_outputs]
    return batch["class"].long()


def train_feature_cnn(dataset: Any, *, size: int, steps: int, batch_size: int, seed: int,
                      progress: bool = True) -> FeatureCNN:
    """Train the CNN to predict the dataset's labels; returns it in eval mode."""
    first = dataset[0]
    multi = "boxes" in first
    if not multi and "class" not in first:
        raise DataError("dataset features: the dataset provides neither 'boxes' nor 'class' "
                        "to train the feature network on")
    probe = [dataset[i] for i in range(min(len(dataset), 256))]
    if multi:
        num = int(max(float(it["boxes"][:, 0].max()) for it in probe)) + 1
    else:
        num = int(max(int(it["class"]) for it in probe)) + 1
    num = max(num, 2)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the init of the layers
    model = FeatureCNN(first["image"].shape[0], num, size)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                         generator=g, drop_last=len(dataset) > batch_size)
    it = iter(loader)
    model.train()
    for _ in tqdm(range(steps), desc="training dataset-feature CNN", disable=not progress):
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        logits = model.head(model.features(batch["image"].float()))
        y = _targets(batch, num, multi)
        loss = (F.binary_cross_entropy_with_logits(logits, y) if multi
                else F.cross_entropy(logits, y.clamp(max=num - 1)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.meta = {"num_outputs": num, "multi": multi, "final_loss": float(loss.detach())}  # type: ignore
    return model.requires_grad_(False).eval()


def cache_path(weights: str | None, key: dict) -> Path:
    if weights:
        return Path(weights).expanduser()
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    root = Path(os.environ.get("LDMCORE_CACHE", "~/.cache/ldmcore")).expanduser()
    return root / "dataset_features" / f"{key.get('dataset', 'dataset')}-{digest}.safetensors"


def load_or_train(path: Path, dataset_fn, *, size: int, steps: int, batch_size: int, seed: int,
                  progress: bool = True) -> FeatureCNN:
    """Reuse the CNN cached at `path`, else train it on dataset_fn() and cache it there."""
    from safetensors.torch import load_file, save_file

    if path.is_file():
        state = load_file(str(path))
        meta = json.loads(_metadata(path))
        model = FeatureCNN(int(meta["channels"]), int(meta["num_outputs"]), int(meta["size"]))
        model.load_state_dict(state, strict=True)
        return model.requires_grad_(False).eval()
    model = train_feature_cnn(dataset_fn(), size=size, steps=steps, batch_size=batch_size,
                              seed=seed, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = model.body[0][0].in_channels
    meta = {"channels": channels, "num_outputs": model.meta["num_outputs"], "size": size,
            "steps": steps, "final_loss": model.meta["final_loss"]}
    # written whole, then renamed: two evals training it at once never read a partial file
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp),
                  metadata={"ldmcore_dataset_features": json.dumps(meta)})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return model


def _metadata(path: Path) -> str:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = (f.metadata() or {}).get("ldmcore_dataset_features")
    if meta is None:
        raise DataError(f"{path}: not a dataset-feature CNN cache (no ldmcore metadata)")
    return meta
