"""Tiny components for the trainer's tests (a test-local plugin, registered by a fixture).

The pool first stage, DDIM, CFG and task come from tests/core/toy_plugin.py; added here is
what training needs: a dataset, a device-following embedding and denoiser (with dropout and a
NaN switch), and a trainable KL-style autoencoder with a PatchGAN-style loss that follows the
first-stage trainer interface (make_loss, reconstruct, last_layer, generator_loss,
discriminator_loss).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ldmcore.errors import DataError
from ldmcore.interfaces import Conditioner, Dataset, Denoiser, FirstStage
from ldmcore.params import (
    ConditionerParams,
    Context,
    DatasetParams,
    DenoiserParams,
    FirstStageParams,
    Latent,
    TaskParams,
)
from ldmcore.plugins import hookimpl
from ldmcore.registry import PluginInfo, Registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from toy_plugin import (  # noqa: E402
    CFG,
    DDIM,
    PlainTask,
    PoolFirstStage,
    PoolParams,
    ScaleParams,
    StepsParams,
)


# ----------------------------------------------------------------------------- first stages
class AEParams(FirstStageParams):
    z_channels: int = 2
    ch: int = 8
    disc_start: int = 2
    nan_at_step: int | None = None  # generator loss becomes NaN at this step (tests)
    nan_from_step: int | None = None  # ... at this step and every later one
    nan_rec_at_step: int | None = None  # x_rec is NaN when the discriminator sees it

    def latent_port(self) -> Latent:
        return Latent(self.z_channels, 2)


class ToyAE(FirstStage):
    """KL-style: E(x) -> (mean, logvar) at 1/2 resolution; D upsamples back."""

    def __init__(self, p: AEParams):
        super().__init__()
        self.p = p
        self.enc = nn.Conv2d(3, 2 * p.z_channels, 3, stride=2, padding=1)
        self.dec_in = nn.Conv2d(p.z_channels, p.ch, 3, padding=1)
        self.conv_out = nn.Conv2d(p.ch, 3, 3, padding=1)

    def _moments(self, x):
        return self.enc(x).chunk(2, dim=1)

    def _sample(self, mean, logvar, generator):
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype).to(mean.device)
        return mean + (0.5 * logvar).exp() * eps

    def encode(self, x, *, sample=False, generator=None):
        mean, logvar = self._moments(x)
        return self._sample(mean, logvar, generator) if sample else mean

    def decode(self, z):
        h = F.interpolate(z, scale_factor=2, mode="nearest")
        return self.conv_out(F.silu(self.dec_in(h)))

    def reconstruct(self, x, generator=None):
        mean, logvar = self._moments(x)
        return self.decode(self._sample(mean, logvar, generator)), (mean, logvar)

    def last_layer(self):
        return self.conv_out.weight

    def make_loss(self):
        return ToyAELoss(self.p)


class ToyAELoss(nn.Module):
    def __init__(self, p: AEParams):
        super().__init__()
        self.p = p
        self.disc = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8),
                                  nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 3, padding=1))
        self.frozen = nn.Conv2d(3, 3, 1)  # stands in for a frozen LPIPS backbone
        self.frozen.requires_grad_(False)

    def generator_loss(self, x, x_rec, aux, step, last_layer):
        mean, logvar = aux
        if self.p.nan_rec_at_step is not None and step + 1 == self.p.nan_rec_at_step:
            x_rec = x_rec * float("nan")  # the discriminator's BatchNorm sees NaN
        rec = (x - x_rec).abs().mean() + (self.frozen(x) - self.frozen(x_rec)).pow(2).mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
        loss = rec + 1e-3 * kl
        logs = {"rec": rec.detach(), "kl": kl.detach()}
        if step >= self.p.disc_start:
            g = -self.disc(x_rec).mean()
            # adaptive weight |∇rec| / |∇adv| at the last layer (as in the real objective)
            gr = torch.autograd.grad(rec, last_layer, retain_graph=True)[0]
            ga = torch.autograd.grad(g, last_layer, retain_graph=True)[0]
            w = (gr.norm() / (ga.norm() + 1e-4)).clamp(0, 1e4).detach()
            loss = loss + 0.5 * w * g
            logs["g"] = g.detach()
        if self.p.nan_at_step is not None and step + 1 == self.p.nan_at_step:
            loss = loss * float("nan")
        if self.p.nan_from_step is not None and step + 1 >= self.p.nan_from_step:
            loss = loss * float("nan")
        return loss, logs

    def discriminator_loss(self, x, x_rec, step):
        if step < self.p.disc_start:
            return torch.zeros((), device=x.device), {}
        real, fake = self.disc(x), self.disc(x_rec)
        loss = 0.5 * (F.relu(1 - real).mean() + F.relu(1 + fake).mean())
        return loss, {"logits_real": real.mean().detach()}


class NoisyPool(PoolFirstStage):
    """Pooling with a posterior: E(x) + 0.5·N(0, 1) when sampled (like a KL first stage), with
    nothing to train (the diffusion stage takes it as built)."""

    def encode(self, x, *, sample=False, generator=None):
        z = super().encode(x)
        if not sample:
            return z
        eps = torch.randn(z.shape, generator=generator, dtype=z.dtype).to(z.device)
        return z + 0.5 * eps


# ----------------------------------------------------------------------------- the rest
class EmbedParams(ConditionerParams):
    num_classes: int = 4
    dim: int = 8

    def output_port(self, wiring, latent):
        return Context(1, self.dim)


class Embed(Conditioner):
    def __init__(self, p: EmbedParams):
        super().__init__()
        self.emb = nn.Embedding(p.num_classes, p.dim)

    def forward(self, y):
        return self.emb(torch.as_tensor(y).long().to(self.emb.weight.device))[:, None]


class NetParams(DenoiserParams):
    width: int = 16
    nan_after: int | None = None


class Net(Denoiser):
    def __init__(self, p: NetParams):
        super().__init__()
        self.inp = nn.Conv2d(p.in_channels, p.width, 3, padding=1)
        self.t = nn.Linear(1, p.width)
        self.ctx = nn.Linear(p.context_dim, p.width) if p.context_dim else None
        self.drop = nn.Dropout(0.1)
        self.out = nn.Conv2d(p.width, p.out_channels, 3, padding=1)

    def forward(self, x, t, context=None, concat=None, vector=None):
        h = self.inp(x) + self.t(t.float()[:, None] / 1000)[..., None, None]
        if self.ctx is not None:
            h = h + self.ctx(context.mean(1))[..., None, None]
        return self.out(self.drop(F.silu(h)))


class BlobsParams(DatasetParams):
    n: int = 10
    size: int = 8
    num_classes: int = 4
    path: str | None = None  # when set: must be a directory with files (like a real dataset)

    def provided_keys(self):
        return {"image", "class"}


class Blobs(Dataset):
    """Deterministic images: a class-dependent colour plus per-item noise, in [-1, 1]."""

    def __init__(self, p: BlobsParams):
        if p.path is not None:
            root = Path(p.path)
            if not root.is_dir():
                raise DataError(f"training.dataset.params.path: {root} does not exist")
            if not any(root.iterdir()):
                raise DataError(f"training.dataset.params.path: {root} holds no images")
        self.p = p

    def __len__(self):
        return self.p.n

    def __getitem__(self, i):
        c = i % self.p.num_classes
        g = torch.Generator().manual_seed(i)
        colour = torch.tensor([c / 3, 1 - c / 3, (c % 2) * 1.0])[:, None, None] * 1.6 - 0.8
        img = colour + 0.2 * torch.randn(3, self.p.size, self.p.size, generator=g)
        return {"image": img.clamp(-1, 1), "class": torch.tensor(c)}


@hookimpl
def ldmcore_register_components(register):
    register("first_stage", "toy_pool", PoolParams, lambda p, ctx: PoolFirstStage(p))
    register("first_stage", "toy_ae", AEParams, lambda p, ctx: ToyAE(p))
    register("first_stage", "toy_noisy", PoolParams, lambda p, ctx: NoisyPool(p))
    register("conditioner", "toy_embed", EmbedParams, lambda p, ctx: Embed(p))
    register("denoiser", "toy_net", NetParams, lambda p, ctx: Net(p))
    register("scheduler", "toy_ddim", StepsParams, lambda p, ctx: DDIM(p))
    register("guider", "toy_cfg", ScaleParams, lambda p, ctx: CFG(p))
    register("task", "toy_task", TaskParams, lambda p, ctx: PlainTask())
    register("dataset", "toy_blobs", BlobsParams, lambda p, ctx: Blobs(p))


def make_registry() -> Registry:
    from ldmcore.plugins.loader import register_plugin

    registry = Registry()
    register_plugin(registry, sys.modules[__name__], PluginInfo("train_toys", "tests", "0"))
    assert not registry.failures, registry.failures
    return registry


def toy_spec(output_dir: str, **training) -> dict:
    """A class-conditional toy LDM at 8x8 with a 10-item dataset (2 steps per epoch at bs 4)."""
    return {
        "spec_version": 1,
        "image_size": 8,
        "task": {"type": "toy_task"},
        "first_stage": {"type": "toy_pool", "params": {"f": 2}},
        "conditioners": {
            "label": {"type": "toy_embed", "input": "class", "wiring": "crossattn",
                      "null": "learned", "drop_rate": 0.2},
        },
        "denoiser": {"type": "toy_net"},
        "diffusion": {"timesteps": 100},
        "sampler": {"type": "toy_ddim", "params": {"steps": 4}},
        "guider": {"type": "toy_cfg"},
        "training": {
            "dataset": {"type": "toy_blobs"},
            "batch_size": 4, "steps": 6, "lr": 1e-3, "log_every": 1, "checkpoint_every": 2,
            "sample_every": 3, "num_samples": 4, "keep_last": 2, "ema_decay": 0.9,
            "output_dir": output_dir, "tensorboard": False, **training,
        },
    }
