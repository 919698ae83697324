"""Tiled encode/decode: exact for local operators, seam-free blending, ≈ untiled for the VAE."""

from __future__ import annotations

import pytest
import torch
from ldm_plugin_autoencoders.autoencoder import KLAutoencoder, VQAutoencoder
from ldm_plugin_autoencoders.params import KLParams, VQParams
from ldm_plugin_autoencoders.tiling import tile_starts, tiled_apply
from torch import nn
from torch.nn import functional as F


def test_tile_starts_cover_and_align() -> None:
    assert tile_starts(16, 16, 8, 1) == [0]
    assert tile_starts(40, 16, 10, 2) == [0, 10, 20, 24]
    starts = tile_starts(100, 32, 20, 4)
    assert starts[-1] == 100 - 32 and all(s % 4 == 0 for s in starts)
    assert all(b - a <= 20 for a, b in zip(starts, starts[1:]))


@pytest.mark.parametrize("size", [40, 37])
def test_identity_is_reproduced_exactly(size: int) -> None:
    x = torch.randn(2, 3, size, size + 5)
    assert torch.allclose(tiled_apply(lambda t: t, x, 16, 8, 1.0), x, atol=1e-6)


def test_local_operators_are_exact_with_margin() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 3, 48, 48)
    convs = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.SiLU(), nn.Conv2d(4, 2, 3, padding=1))
    enc = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AvgPool2d(2))
    dec = nn.Sequential(nn.Upsample(scale_factor=2.0), nn.Conv2d(3, 2, 3, padding=1))
    with torch.no_grad():
        # overlap 16 -> a 4-pixel discarded margin, more than the receptive radius 2
        assert (tiled_apply(convs, x, 24, 16, 1.0) - convs(x)).abs().max() < 1e-5
        assert (tiled_apply(enc, x, 24, 16, 0.5, align=2) - enc(x)).abs().max() < 1e-5
        z = x[..., :24, :24]
        assert (tiled_apply(dec, z, 12, 8, 2.0) - dec(z)).abs().max() < 1e-5


def test_blending_leaves_no_seam() -> None:
    """Each tile returns its own constant: hard tiling would jump by up to `span`; the linear
    cross-fade limits every neighbour-to-neighbour step to about span / fade."""
    g = torch.Generator().manual_seed(0)

    def constant(t: torch.Tensor) -> torch.Tensor:
        return torch.full_like(t, torch.rand((), generator=g).item() * 10)

    x = torch.zeros(1, 1, 64, 64)
    out = tiled_apply(constant, x, 24, 16, 1.0)  # fade = 8 pixels
    steps = max(out.diff(dim=-1).abs().max().item(), out.diff(dim=-2).abs().max().item())
    span = out.max().item() - out.min().item()
    assert span > 1.0  # tiles really differ
    assert steps <= span / 8 + 1e-5


def _kl(tile: int | None) -> KLAutoencoder:
    torch.manual_seed(0)
    p = KLParams(ch=32, ch_mult=[1, 2], num_res_blocks=1, resolution=16, mid_attention=False,
                 tile_size=tile, tile_overlap=0.5)
    return KLAutoencoder(p).eval()


def test_kl_tiled_close_to_untiled_and_used_automatically() -> None:
    tiled, plain = _kl(32), _kl(None)
    plain.load_state_dict(tiled.state_dict())
    calls = []
    tiled.encoder.register_forward_hook(lambda m, i, o: calls.append(tuple(i[0].shape[-2:])))
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    z = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        zt, zu = tiled.encode(x), plain.encode(x)
        assert len(calls) == 9 and set(calls) == {(32, 32)}  # 3x3 tiles, automatically
        dt, du = tiled.decode(z), plain.decode(z)
        calls.clear()
        tiled.encode(x[..., :32, :32])  # at tile_size: one untiled call
        assert calls == [(32, 32)]
    assert zt.shape == zu.shape == (1, 4, 32, 32) and dt.shape == du.shape == (1, 3, 64, 64)
    # GroupNorm statistics are per tile, so this is approximate (measured ~0.09 and ~0.19)
    assert (zt - zu).abs().mean() / zu.abs().mean() < 0.2
    assert (dt - du).abs().mean() / du.abs().mean() < 0.35


def test_vq_decode_tiles_and_quantises() -> None:
    torch.manual_seed(0)
    p = VQParams(ch=32, ch_mult=[1, 2], num_res_blocks=1, resolution=16, z_channels=4,
                 embed_dim=4, n_embed=8, tile_size=16, tile_overlap=0.5)
    m = VQAutoencoder(p).eval()
    z = torch.randn(1, 4, 16, 16)
    with torch.no_grad():
        out = m.decode(z)
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
    assert F.mse_loss(out, m.decode(z, force_not_quantize=True)) > 0
