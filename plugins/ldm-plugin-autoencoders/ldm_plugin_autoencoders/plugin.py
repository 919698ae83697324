"""Registers the first stages `kl`, `vq` and `identity` (no torch imported here)."""

from __future__ import annotations

from typing import Any

from ldmcore.errors import SpecError
from ldmcore.plugins import hookimpl

from .params import IdentityParams, KLParams, VQParams


def _image_channels(ctx: Any) -> int | None:
    spec = getattr(ctx, "spec", None)
    return getattr(spec, "image_channels", None)


def _check_channels(name: str, fields: dict[str, int], ctx: Any) -> None:
    channels = _image_channels(ctx)
    if channels is None:
        return
    for field, value in fields.items():
        if value != channels:
            raise SpecError(f"first_stage.params.{field}: {name} has {value} channels but the "
                            f"spec's image_channels is {channels}")


def _kl(params: KLParams, ctx: Any):
    from .autoencoder import KLAutoencoder

    _check_channels("kl", {"in_channels": params.in_channels, "out_ch": params.out_ch}, ctx)
    return KLAutoencoder(params)


def _vq(params: VQParams, ctx: Any):
    from .autoencoder import VQAutoencoder

    _check_channels("vq", {"in_channels": params.in_channels, "out_ch": params.out_ch}, ctx)
    return VQAutoencoder(params)


def _identity(params: IdentityParams, ctx: Any):
    from .identity import IdentityFirstStage

    _check_channels("identity", {"channels": params.channels}, ctx)
    return IdentityFirstStage(params)


@hookimpl
def ldmcore_register_components(register):
    register("first_stage", "kl", KLParams, _kl,
             description="KL-regularised autoencoder (CompVis/SD VAE layout), Gaussian posterior")
    register("first_stage", "vq", VQParams, _vq,
             description="VQ autoencoder (CompVis layout); diffusion on the pre-quantised latent")
    register("first_stage", "identity", IdentityParams, _identity,
             description="pixel space (LDM-1): z = x")
