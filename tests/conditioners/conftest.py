"""Build conditioners through their registered factories with a minimal BuildContext."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ldmcore.ports import Latent
from ldmcore.spec.wiring import Wiring


@pytest.fixture
def make():
    """make(name, wiring=..., input=..., null=..., first_stage=..., f=4, c=4, **params)."""
    from ldmcore.plugins import load_registry

    registry = load_registry()

    def _make(name, *, wiring="crossattn", input="y", null="zeros", first_stage=None, f=4, c=4,
              **params):
        info = registry.get("conditioner", name)
        p = info.params_model(**params)
        latent = Latent(c, f)
        node = SimpleNamespace(type=name, input=input, wiring=wiring, null=null, params=p)
        ctx = SimpleNamespace(wiring=Wiring(latent=latent), node=node, first_stage=first_stage,
                              port=p.output_port(wiring, latent))
        module = info.factory(p, ctx)
        module.params = p
        return module, ctx.port

    return _make
