"""The first-stage objective: it trains, the adaptive weight is sane, the GAN starts on time,
LPIPS loads user weights (and refuses bad ones), the weight-free substitute is announced once."""

from __future__ import annotations

import logging

import ldm_plugin_autoencoders.losses.perceptual as perceptual
import pytest
import torch
from ldm_plugin_autoencoders.autoencoder import KLAutoencoder, VQAutoencoder
from ldm_plugin_autoencoders.losses.lpips import LPIPS
from ldm_plugin_autoencoders.losses.structural import StructuralLoss
from ldm_plugin_autoencoders.params import KLParams, VQParams
from safetensors.torch import save_file

from ldmcore.errors import CheckpointError

TINY = dict(ch=32, ch_mult=[1, 2], num_res_blocks=1, resolution=16, mid_attention=False)


def _batch() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 16), torch.linspace(-1, 1, 16), indexing="ij")
    base = torch.stack([torch.sin(3 * xx), torch.cos(2 * yy), xx * yy])
    return (base + 0.3 * torch.randn(4, 3, 16, 16, generator=g)).clamp(-1, 1)


@pytest.mark.parametrize("kind", ["kl", "vq"])
def test_generator_loss_decreases_on_a_fixed_batch(kind: str) -> None:
    torch.manual_seed(0)
    loss_cfg = {"disc_start": 10_000, "disc_layers": 2, "disc_channels": 16}
    if kind == "kl":
        model = KLAutoencoder(KLParams(**TINY, loss=loss_cfg))
    else:
        model = VQAutoencoder(VQParams(**TINY, n_embed=32, loss=loss_cfg))
    loss_fn = model.make_loss()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x = _batch()
    history = []
    for step in range(30):
        x_rec, aux = model.reconstruct(x, generator=torch.Generator().manual_seed(step))
        loss, logs = loss_fn.generator_loss(x, x_rec, aux, step, model.last_layer())
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
        assert logs["d_weight"] == 0.0 and logs["loss/g"] == 0.0  # GAN not started
    assert all(torch.isfinite(torch.tensor(history)))
    assert sum(history[-5:]) / 5 < 0.6 * history[0], history
    assert ("loss/kl" if kind == "kl" else "loss/codebook") in logs
    assert logs["loss/perceptual"] > 0


def test_adaptive_weight_and_disc_start() -> None:
    torch.manual_seed(0)
    model = KLAutoencoder(KLParams(**TINY, loss={"disc_start": 5, "disc_layers": 2,
                                                 "disc_channels": 16}))
    loss_fn = model.make_loss()
    disc_params = list(loss_fn.parameters())
    assert disc_params and all(
        any(p is q for q in loss_fn.discriminator.parameters()) for p in disc_params)
    assert not any("perceptual" in k or "net." in k for k in loss_fn.state_dict())
    x = _batch()
    x_rec, aux = model.reconstruct(x)

    # before disc_start: no adversarial term, the disc loss is an exact (backward-able) zero
    d, logs = loss_fn.discriminator_loss(x, x_rec, step=4)
    d.backward()
    assert d.item() == 0.0 and logs["loss/disc"] == 0.0
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in disc_params)
    g_early, logs_early = loss_fn.generator_loss(x, x_rec, aux, 4, model.last_layer())
    assert logs_early["d_weight"] == 0.0

    # from disc_start on: adversarial terms are live
    g_late, logs_late = loss_fn.generator_loss(x, x_rec, aux, 5, model.last_layer())
    assert 0.0 < logs_late["d_weight"] <= 0.5 * 1e4 and torch.isfinite(torch.tensor(
        logs_late["d_weight"]))
    assert g_late.item() != pytest.approx(g_early.item(), abs=1e-7)
    model.zero_grad()
    g_late.backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in disc_params)  # G step only
    assert model.decoder.conv_out.weight.grad.abs().sum() > 0
    d, logs = loss_fn.discriminator_loss(x, x_rec.detach(), step=5)
    d.backward()
    assert d.item() > 0 and logs["loss/disc"] > 0
    assert sum(p.grad.abs().sum() for p in disc_params if p.grad is not None) > 0

    # the adaptive weight, checked by hand: |grad rec| / (|grad adv| + 1e-4) * disc_weight
    last = model.last_layer()
    x_rec, _ = model.reconstruct(x)
    rec = (x - x_rec).abs().mean()
    adv = -loss_fn.discriminator(x_rec).mean()
    g1 = torch.autograd.grad(rec, last, retain_graph=True)[0].norm()
    g2 = torch.autograd.grad(adv, last, retain_graph=True)[0].norm()
    expected = 0.5 * torch.clamp(g1 / (g2 + 1e-4), 0, 1e4)
    assert loss_fn.adaptive_weight(rec, adv, last).item() == pytest.approx(expected.item(),
                                                                            rel=1e-5)


def test_a_few_alternating_gan_steps_run() -> None:
    torch.manual_seed(0)
    model = VQAutoencoder(VQParams(**TINY, n_embed=16, loss={"disc_start": 0, "disc_layers": 2,
                                                              "disc_channels": 16}))
    loss_fn = model.make_loss()
    opt_g = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(loss_fn.parameters(), lr=1e-3)
    x = _batch()
    for step in range(3):
        x_rec, aux = model.reconstruct(x)
        g, logs = loss_fn.generator_loss(x, x_rec, aux, step, model.last_layer())
        opt_g.zero_grad()
        g.backward()
        opt_g.step()
        d, logs_d = loss_fn.discriminator_loss(x, x_rec.detach(), step)
        opt_d.zero_grad()
        d.backward()
        opt_d.step()
        assert torch.isfinite(g) and torch.isfinite(d) and logs["d_weight"] > 0


def _fake_lpips_file(tmp_path, fmt: str) -> str:
    """Random weights in the `lpips` package's key layout (net.sliceK.N.*, linK.model.1.*)."""
    import timm

    with torch.device("meta"):
        vgg = timm.create_model("vgg16", pretrained=False, features_only=True,
                                out_indices=(0, 1, 2, 3, 4))
    g = torch.Generator().manual_seed(0)
    slices = [(0, 4), (4, 9), (9, 16), (16, 23), (23, 30)]
    state = {}
    for key, value in vgg.state_dict().items():
        idx = int(key.split(".")[0].split("_")[1])
        k = next(i for i, (a, b) in enumerate(slices) if a <= idx < b) + 1
        fan_in = value[0].numel() if value.ndim == 4 else 1
        state[f"net.slice{k}.{idx}.{key.split('.')[1]}"] = (
            torch.randn(value.shape, generator=g) * (2.0 / fan_in) ** 0.5)
    for i, c in enumerate((64, 128, 256, 512, 512)):
        state[f"lin{i}.model.1.weight"] = torch.rand(1, c, 1, 1)
    state["scaling_layer.shift"] = torch.zeros(1, 3, 1, 1)
    path = tmp_path / f"lpips.{fmt}"
    if fmt == "safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, str(path))
    return str(path)


@pytest.mark.parametrize("fmt", ["safetensors", "pth"])
def test_lpips_loads_user_weights(tmp_path, fmt: str) -> None:
    path = _fake_lpips_file(tmp_path, fmt)
    lp = LPIPS(path)
    x = _batch()
    y = (x + 0.2 * torch.randn_like(x)).requires_grad_(True)
    d = lp(x, y)
    assert d.shape == (4, 1, 1, 1) and (d > 0).all()
    assert lp(x, x).abs().max() < 1e-6
    d.sum().backward()
    assert y.grad.abs().sum() > 0 and all(p.grad is None for p in lp.parameters())
    model = KLAutoencoder(KLParams(**TINY, loss={"lpips_weights": path, "disc_layers": 2}))
    loss_fn = model.make_loss()
    assert isinstance(loss_fn._perceptual[0], LPIPS)
    x_rec, aux = model.reconstruct(x)
    _, logs = loss_fn.generator_loss(x, x_rec, aux, 0, model.last_layer())
    assert logs["loss/perceptual"] > 0


def test_lpips_bad_weights_are_refused(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        LPIPS(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    save_file({"lin0.model.1.weight": torch.rand(1, 64, 1, 1)}, str(bad))
    with pytest.raises(CheckpointError, match="lin1"):
        LPIPS(bad)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        LPIPS(junk)


def test_substitute_is_announced_once_and_is_a_distance(monkeypatch, caplog) -> None:
    monkeypatch.setattr(perceptual, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="ldm_plugin_autoencoders"):
        a = perceptual.make_perceptual(None)
        perceptual.make_perceptual(None)
    assert isinstance(a, StructuralLoss)
    assert sum("LPIPS" in r.getMessage() for r in caplog.records) == 1
    x = _batch()
    blurred = torch.nn.functional.avg_pool2d(x, 3, 1, 1)
    noisy = x + 0.02 * torch.randn_like(x)
    assert a(x, x).abs().max() < 1e-6
    assert (a(x, blurred) > a(x, noisy)).all()  # blur costs more than faint noise
