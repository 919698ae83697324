"""A tiny in-test plugin: the smallest components that exercise the core end to end.

Registered through a fixture (as pytest/llm test their plugins), never installed.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ldmcore.interfaces import Conditioner, Denoiser, FirstStage, Guider, Scheduler, Task
from ldmcore.params import (
    ConditionerParams,
    Context,
    DenoiserParams,
    FirstStageParams,
    Latent,
    Params,
    Spatial,
    TaskParams,
    Vector,
)
from ldmcore.plugins import hookimpl


class PoolParams(FirstStageParams):
    f: int = 2
    channels: int = 3

    def latent_port(self) -> Latent:
        return Latent(self.channels, self.f)


class PoolFirstStage(FirstStage):
    def __init__(self, p: PoolParams):
        super().__init__()
        self.f = p.f

    def encode(self, x, *, sample=False, generator=None):
        return F.avg_pool2d(x, self.f)

    def decode(self, z):
        return F.interpolate(z, scale_factor=self.f, mode="nearest")


class EmbedParams(ConditionerParams):
    num_classes: int = 4
    dim: int = 8

    def output_port(self, wiring, latent):
        if wiring == "crossattn":
            return Context(1, self.dim)
        if wiring == "vector":
            return Vector(self.dim)
        raise ValueError(f"toy_embed cannot be wired '{wiring}'")


class Embed(Conditioner):
    def __init__(self, p: EmbedParams, wiring: str):
        super().__init__()
        self.emb = nn.Embedding(p.num_classes, p.dim)
        self.wiring = wiring

    def forward(self, y):
        e = self.emb(torch.as_tensor(y).long())
        return e[:, None] if self.wiring == "crossattn" else e


class MapParams(ConditionerParams):
    channels: int = 1

    def output_port(self, wiring, latent):
        return Spatial(self.channels, latent.factor)


class MapConditioner(Conditioner):
    def __init__(self, p: MapParams, f: int):
        super().__init__()
        self.f = f

    def forward(self, y):
        return F.avg_pool2d(y, self.f)


class NetParams(DenoiserParams):
    width: int = 16


class Net(Denoiser):
    def __init__(self, p: NetParams):
        super().__init__()
        self.inp = nn.Conv2d(p.in_channels, p.width, 3, padding=1)
        self.t = nn.Linear(1, p.width)
        self.ctx = nn.Linear(p.context_dim, p.width) if p.context_dim else None
        self.vec = nn.Linear(p.vector_dim, p.width) if p.vector_dim else None
        self.out = nn.Conv2d(p.width, p.out_channels, 3, padding=1)

    def forward(self, x, t, context=None, concat=None, vector=None):
        if concat is not None:
            x = torch.cat([x, concat], dim=1)
        h = self.inp(x) + self.t(t.float()[:, None] / 1000)[..., None, None]
        if self.ctx is not None:
            h = h + self.ctx(context.mean(1))[..., None, None]
        if self.vec is not None:
            h = h + self.vec(vector)[..., None, None]
        return self.out(F.silu(h))


class StepsParams(Params):
    steps: int = 5


class DDIM(Scheduler):
    """Deterministic DDIM (η = 0) over evenly spaced steps."""

    def __init__(self, p: StepsParams):
        self.steps = p.steps

    def sample(self, denoise, noise, schedule, *, generator=None, progress=True, **options):
        T = schedule.timesteps
        ts = list(range(0, T, T // self.steps))[::-1]
        a = schedule.alphas_cumprod
        z = noise
        for i, t in enumerate(ts):
            tt = torch.full((z.shape[0],), t, dtype=torch.long, device=z.device)
            eps = denoise(z, tt)
            x0 = (z - (1 - a[t]).sqrt() * eps) / a[t].sqrt()
            a_prev = a[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0, dtype=a.dtype)
            z = (a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps).to(noise.dtype)
        return z


class ScaleParams(Params):
    scale: float = 2.0


class CFG(Guider):
    needs_uncond = True

    def __init__(self, p: ScaleParams):
        self.scale = p.scale

    def __call__(self, predict, z, t, cond, uncond, schedule):
        e_u, e_c = predict(torch.cat([z, z]), torch.cat([t, t]), uncond.cat(cond)).chunk(2)
        return e_u + self.scale * (e_c - e_u)


class NoGuide(Guider):
    def __call__(self, predict, z, t, cond, uncond, schedule):
        return predict(z, t, cond)


class PlainTask(Task):
    pass


@hookimpl
def ldmcore_register_components(register):
    register("first_stage", "toy_pool", PoolParams, lambda p, ctx: PoolFirstStage(p))
    register("conditioner", "toy_embed", EmbedParams,
             lambda p, ctx: Embed(p, ctx.node.wiring))
    register("conditioner", "toy_map", MapParams,
             lambda p, ctx: MapConditioner(p, ctx.wiring.latent.factor))
    register("denoiser", "toy_net", NetParams, lambda p, ctx: Net(p))
    register("scheduler", "toy_ddim", StepsParams, lambda p, ctx: DDIM(p))
    register("guider", "toy_cfg", ScaleParams, lambda p, ctx: CFG(p))
    register("guider", "toy_none", Params, lambda p, ctx: NoGuide())
    register("task", "toy_task", TaskParams, lambda p, ctx: PlainTask())


TOY_SPEC = {
    "spec_version": 1,
    "image_size": 8,
    "task": {"type": "toy_task"},
    "first_stage": {"type": "toy_pool", "params": {"f": 2}},
    "conditioners": {
        "label": {"type": "toy_embed", "input": "class", "wiring": "crossattn", "null": "learned",
                  "drop_rate": 0.2},
    },
    "denoiser": {"type": "toy_net"},
    "diffusion": {"timesteps": 100},
    "sampler": {"type": "toy_ddim"},
    "guider": {"type": "toy_cfg"},
}


def toy_registry(*first_party):
    """A registry with this toy plugin plus first-party plugin modules, registered the way a
    test fixture does (not installed): `toy_registry(samplers_plugin)`."""
    from types import SimpleNamespace

    from ldmcore.plugins.loader import register_plugin
    from ldmcore.registry import PluginInfo, Registry

    registry = Registry()
    toy = SimpleNamespace(ldmcore_register_components=ldmcore_register_components)
    register_plugin(registry, toy, PluginInfo("toy", "ldm-plugin-toy", "0.0"))
    for module in first_party:
        name = module.__name__.split(".")[0].removeprefix("ldm_plugin_")
        register_plugin(registry, module, PluginInfo(name, f"ldm-plugin-{name}", "0.1.0"))
    assert not registry.failures, registry.failures
    return registry
