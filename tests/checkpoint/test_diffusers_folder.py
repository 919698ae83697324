"""diffusers folders load into our networks (and ours export to folders diffusers opens)."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

from ldmcore.checkpoint import load_checkpoint, save_diffusers  # noqa: E402
from ldmcore.errors import CheckpointError  # noqa: E402

diffusers = pytest.importorskip("diffusers")


def _randomise(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return module.eval()


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tiny_configs):
    DIFFUSERS_UNET, DIFFUSERS_VAE, _ = tiny_configs
    root = tmp_path_factory.mktemp("pipe")
    unet = _randomise(diffusers.UNet2DConditionModel(**DIFFUSERS_UNET), 3)
    vae = _randomise(diffusers.AutoencoderKL(**DIFFUSERS_VAE), 4)
    unet.save_pretrained(root / "unet")
    vae.save_pretrained(root / "vae")
    return root, unet, vae


def _inputs():
    g = torch.Generator().manual_seed(5)
    return (torch.randn(2, 4, 8, 8, generator=g), torch.tensor([3, 700]),
            torch.randn(2, 1, 16, generator=g), torch.rand(2, 3, 16, 16, generator=g) * 2 - 1)


def test_diffusers_folder_loads_with_equal_outputs(folder, make_model):
    root, unet, vae = folder
    model = make_model(0)
    with pytest.raises(CheckpointError, match="missing .*conditioners.text"):
        load_checkpoint(model, root)  # the folder has no weights for our toy conditioner
    report = load_checkpoint(model, root, parts=["first_stage", "denoiser"])
    assert report.ok
    assert float(model.first_stage.scale_factor) == pytest.approx(0.18215)
    z, t, ctx, x = _inputs()
    with torch.no_grad():
        ours = model.denoiser(z, t, context=ctx)
        theirs = unet(z, t, encoder_hidden_states=ctx).sample
        assert (ours - theirs).abs().max() <= 1e-5
        assert (model.first_stage.decode(z) - vae.decode(z).sample).abs().max() <= 1e-5
        mode = vae.encode(x).latent_dist.mode()
        assert (model.first_stage.encode(x, sample=False) - mode).abs().max() <= 1e-5


def test_bare_model_folder_loads_its_part(folder, make_model):
    root, unet, _ = folder
    model = make_model(1)
    vae_before = model.first_stage.decoder.conv_out.weight.clone()
    assert load_checkpoint(model, root / "unet").ok
    assert torch.equal(model.denoiser.out[2].weight, unet.conv_out.weight)
    assert torch.equal(model.first_stage.decoder.conv_out.weight, vae_before)


def test_our_export_opens_in_diffusers(tmp_path, make_model):
    model = make_model(2)
    out = save_diffusers(model, tmp_path / "export")
    assert (out / "unet" / "config.json").is_file() and (out / "ldmcore" / "spec.json").is_file()
    unet = diffusers.UNet2DConditionModel.from_pretrained(out / "unet").eval()
    vae = diffusers.AutoencoderKL.from_pretrained(out / "vae").eval()
    assert vae.config.scaling_factor == pytest.approx(0.18215)
    z, t, ctx, _ = _inputs()
    with torch.no_grad():
        assert (model.denoiser(z, t, context=ctx)
                - unet(z, t, encoder_hidden_states=ctx).sample).abs().max() <= 1e-5
        assert (model.first_stage.decode(z) - vae.decode(z).sample).abs().max() <= 1e-5
    with pytest.raises(CheckpointError, match="already exists"):
        save_diffusers(model, out)


EXPORT_VARIANTS = {
    "sd2_linear_head_channels_depth": dict(
        linear=True, context=24, unet={"num_head_channels": 4, "transformer_depth": [1, 2]}),
    "attention_on_lower_level_only": dict(unet={"attention_resolutions": [2]}),
}


@pytest.mark.parametrize("name", sorted(EXPORT_VARIANTS))
def test_export_variants_open_in_diffusers(tmp_path, make_model, name):
    kw = EXPORT_VARIANTS[name]
    model = make_model(5, **kw)
    out = save_diffusers(model, tmp_path / name)
    unet = diffusers.UNet2DConditionModel.from_pretrained(out / "unet").eval()
    z, t, _, _ = _inputs()
    ctx = torch.randn(2, 1, kw.get("context", 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (model.denoiser(z, t, context=ctx)
                - unet(z, t, encoder_hidden_states=ctx).sample).abs().max() <= 1e-5


def test_vq_first_stage_exports_as_vqmodel(tmp_path, make_model):
    vq = {"type": "vq", "params": {"ch": 8, "ch_mult": [1, 2], "num_res_blocks": 1,
                                   "z_channels": 4, "embed_dim": 4, "n_embed": 16,
                                   "norm_groups": 4}}
    model = make_model(6, first_stage=vq)
    out = save_diffusers(model, tmp_path / "vq")
    vqmodel = diffusers.VQModel.from_pretrained(out / "vqvae").eval()
    z, _, _, x = _inputs()
    with torch.no_grad():
        assert (model.first_stage.decode(z) - vqmodel.decode(z).sample).abs().max() <= 1e-5
        assert (model.first_stage.encode(x) - vqmodel.encode(x).latents).abs().max() <= 1e-5
    back = make_model(7, first_stage=vq)
    assert load_checkpoint(back, out).ok
    assert torch.equal(back.first_stage.quantize.embedding.weight,
                       model.first_stage.quantize.embedding.weight)
