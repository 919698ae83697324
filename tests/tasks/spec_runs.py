"""Helpers (imported by tests): build a task config at tiny size, train a few steps, sample."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from tiny_specs import TINY as SHARED_TINY

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TASKS = ["unconditional", "class2img", "txt2img", "layout2img", "semantic2img", "superres",
         "inpainting"]

#: shrink every network (not the wiring): 16x16 images, 4x4 latents, 2 sampling steps
TINY = [*SHARED_TINY, "sampler.params.steps=2"]


def tiny_conditioners(task: str) -> list[str]:
    return {
        "class2img": ["conditioners.class.params.dim=16"],
        "txt2img": ["conditioners.text.params.dim=16", "conditioners.text.params.depth=1",
                    "conditioners.text.params.heads=2"],
        "layout2img": ["conditioners.layout.params.dim=16", "conditioners.layout.params.depth=1",
                       "conditioners.layout.params.heads=2"],
    }.get(task, [])


def train_and_sample(path, overrides, steps: int = 2, n: int = 2):
    """Build from a spec file, take `steps` Adam steps on shapes batches, sample n images."""
    import ldmcore
    from ldmcore.plugins import default_registry
    from ldmcore.training.data import build_dataset, fixed_batch

    torch.manual_seed(0)
    registry = default_registry()
    model = ldmcore.build(path, overrides, registry=registry)
    dataset = build_dataset(model.spec, registry)
    batch = fixed_batch(dataset, n)
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    opt = torch.optim.Adam(params, lr=1e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        loss = model.loss(batch, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    changed = sum(not torch.equal(a, p) for a, p in zip(before, params))
    model.eval()
    cond = {k: v for k, v in model.task.prepare(batch, g).items() if k != "image"}
    images = model.sample(cond if model.conditioners else None,
                          num_samples=None if model.conditioners else n,
                          generator=g, progress=False)
    return model, losses, changed, images

