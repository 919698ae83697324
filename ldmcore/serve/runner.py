"""One job on the worker thread: the model (opened once, reused), sampling as `ldm generate`
does it, live progress with decoded x̂0 previews, and the PNG with its spec and seed.

x̂0 = (z_t − √(1−ᾱ_t) ε̂) / √ᾱ_t (the schedule's eps_to_x0), decoded by D every few steps.
"""

from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from .jobs import Job

#: how many (model, sampler, scale) variants stay loaded
CACHE_SIZE = 3
#: previews per run (decoding x̂0 costs one decoder pass)
PREVIEWS = 8


class Runner:
    """`run(job)`: sample `job.plan` and write `job.folder/image.png`."""

    def __init__(self) -> None:
        self._models: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.opens = 0  # how many times a model was built (tests: reuse across requests)

    def model(self, name: str, overrides: tuple[str, ...]):
        """The card `name` opened with `overrides`, from the cache when it was opened before."""
        from ..sources import open_for_use

        key = (name, overrides)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        model = open_for_use(name, list(overrides)).model.eval()
        with self._lock:
            self.opens += 1
            self._models[key] = model
            while len(self._models) > CACHE_SIZE:
                self._models.popitem(last=False)
        return model

    def __call__(self, job: Job) -> None:
        import torch

        from ..inputs import paste_known

        plan = job.plan
        req = plan.request
        model = self.model(plan.entry.opens, plan.overrides)
        job.check_cancel()
        n = req.num_samples
        read = plan.read
        batch = model.task.prepare(read.batch(n)) if read.item else {}
        start = dict(plan.start)
        if "image" in start:
            start["image"] = start["image"].expand(n, -1, -1, -1)
        options = {} if req.steps is None else {"steps": req.steps}
        job.total = req.steps or model.spec.sampler.params.steps or model.schedule.timesteps
        job.touch()
        images = model.sample(
            batch, num_samples=None if batch else n, latent_size=read.latent_size,
            generator=torch.Generator().manual_seed(req.seed), progress=False,
            callback=_Progress(job, model, start or batch), **start, **options,
        )
        images = paste_known(images, start or batch)
        job.step = job.total
        _save(job, model, images)


class _Progress:
    """The sampler's step callback: step count (distinct timesteps seen), previews, cancel."""

    def __init__(self, job: Job, model: Any, known: dict) -> None:
        self.job, self.model = job, model
        self.known = known  # inpainting: the picture pasted outside the mask, as in the result
        self.seen: set[int] = set()
        self.every = max(1, job.total // PREVIEWS)

    def __call__(self, z, t, eps) -> None:
        job = self.job
        job.check_cancel()
        self.seen.add(int(t.reshape(-1)[0]))
        job.step = min(len(self.seen), job.total)
        if job.step == 1 or job.step % self.every == 0 or job.step == job.total:
            x0 = self.model.schedule.eps_to_x0(eps[:1], z[:1], t.reshape(-1)[:1])
            from ..inputs import paste_known

            x0 = self.model.decode(x0).clamp(-1, 1)
            known = {k: v[:1] for k, v in self.known.items() if k in ("image", "mask")}
            job.preview = _png(paste_known(x0, known))
            job.preview_step = job.step
        job.touch()


def _png(images, info=None) -> bytes:
    """(B, C, H, W) in [-1, 1] -> one PNG, the samples side by side at their own size."""
    import numpy as np
    from PIL import Image

    from ..viz import to_uint8

    arr = to_uint8(images)
    strip = np.concatenate(list(arr), axis=1)
    buf = io.BytesIO()
    Image.fromarray(strip).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _save(job: Job, model: Any, images) -> None:
    """image.png: the samples, with the resolved spec, seed, parameters and CLI in its text
    chunks (`ldm:spec`, `ldm:seed`, `ldm:params`, `ldm:command`)."""
    from PIL.PngImagePlugin import PngInfo

    req = job.plan.request
    info = PngInfo()
    info.add_text("ldm:model", job.plan.entry.name)
    info.add_text("ldm:seed", str(req.seed))
    info.add_text("ldm:params", json.dumps(params_of(job)))
    info.add_text("ldm:command", job.command)
    info.add_text("ldm:spec", json.dumps(model.spec.model_dump(mode="json")))
    path = Path(job.folder) / "image.png"
    path.write_bytes(_png(images, info))


def params_of(job: Job) -> dict:
    """The request as given (uploads by the path they were saved to), for the gallery."""
    req = job.plan.request
    return {"model": req.model, "inputs": {**job.plan.texts, **job.plan.files},
            "steps": req.steps, "seed": req.seed, "num_samples": req.num_samples,
            "scale": req.scale, "sampler": req.sampler, "size": req.size,
            "image_size": list(job.plan.read.size)}
