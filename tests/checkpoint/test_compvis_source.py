"""A CompVis release folder (config.yaml + model.ckpt) opens as a model, and `ldm import`."""

from __future__ import annotations

import shutil

import pytest
import torch

import ldmcore
from ldmcore.cli.main import main
from ldmcore.sources import resolve

from .compvis_fixtures import TINY, reference, write_ckpt


def _release(tmp_path, name="class2img"):
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(TINY / f"{name}.yaml", folder / "config.yaml")
    ckpt = write_ckpt(name, tmp_path)
    shutil.move(ckpt, folder / "model.ckpt")
    return folder


def test_release_folder_opens_with_its_config(tmp_path):
    folder = _release(tmp_path)
    source = resolve(folder / "model.ckpt")
    assert source.kind == "compvis" and source.metadata["config"].endswith("config.yaml")
    model = ldmcore.load(folder / "model.ckpt")
    ref = reference("class2img")
    with torch.no_grad():
        eps = model.predict_eps(ref["z_t"], ref["t"].long(), model.condition({"class":
                                                                              ref["class"]}))
    assert torch.allclose(eps, ref["eps"], rtol=0, atol=1e-5 * float(ref["eps"].abs().max()))
    assert model.load_report.ok


def test_config_keyword_names_another_config(tmp_path):
    folder = _release(tmp_path)
    other = tmp_path / "other.yaml"
    shutil.copy(TINY / "class2img.yaml", other)
    model = ldmcore.load(folder / "model.ckpt", config=other)
    assert model.spec.task.type == "class2img"


def test_ldm_import_cli(tmp_path, capsys):
    out = tmp_path / "spec.yaml"
    ckpt = write_ckpt("layout2img", tmp_path)
    assert main(["import", str(TINY / "layout2img.yaml"), "--out", str(out),
                 "--ckpt", str(ckpt)]) == 0
    text = capsys.readouterr().out
    assert "loaded strictly" in text and "layout2img" in text
    assert out.read_text().startswith("# imported by `ldm import`")
    assert main(["validate", str(out)]) == 0


@pytest.mark.parametrize(("body", "words"), [
    ("model:\n  target: ldm.models.diffusion.ddpm.Mystery\n",
     "model.target: unknown target 'ldm.models.diffusion.ddpm.Mystery'"),
    ("model:\n  target: ldm.models.diffusion.ddpm.LatentDiffusion\n  params:\n"
     "    cond_stage_key: caption\n    unet_config: {target: x.UNetModel}\n"
     "    first_stage_config: {target: ldm.models.autoencoder.AutoencoderKL, params: {}}\n"
     "    cond_stage_config: {target: my.Encoder}\n",
     "model.params.cond_stage_config.target: unknown conditioner 'my.Encoder'"),
    ("nothing: here\n", "model: missing"),
])
def test_import_errors_name_the_yaml_path_exit_2(tmp_path, capsys, body, words):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(body)
    assert main(["import", str(cfg), "--out", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert words in err and str(cfg) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_convert_keeps_the_releases_ema(tmp_path):
    """compvis release -> `ldm convert --to compvis`: model_ema.* come back as they were."""
    from ldmcore.checkpoint.readers import read_file
    from ldmcore.sources.convert import convert

    from .compvis_fixtures import compvis_state

    folder = _release(tmp_path)
    dst, report = convert(folder / "model.ckpt", tmp_path / "out.ckpt", to="compvis")
    state, _ = read_file(dst)
    original = compvis_state("class2img")
    ema = [k for k in original if k.startswith("model_ema.")]
    assert ema and all(torch.equal(state[k], original[k]) for k in ema)
    assert sorted(state) == sorted(original)


def test_unet_channels_must_match_the_wiring(tmp_path, capsys):
    text = (TINY / "superres.yaml").read_text().replace("in_channels: 6", "in_channels: 5")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    assert main(["import", str(cfg), "--out", str(tmp_path / "s.yaml")]) == 2
    assert "unet_config.params.in_channels: 5, but the first stage and conditioners give 6" \
        in capsys.readouterr().err


def test_bare_first_stage_checkpoint_loads_its_part(tmp_path, capsys):
    """A models/first_stage_models config + its bare VQModel checkpoint (encoder./decoder./
    quantize. keys, loss.* beside them) load strictly into the first stage."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "model:\n  target: ldm.models.autoencoder.VQModel\n  params:\n    embed_dim: 3\n"
        "    n_embed: 64\n    monitor: val/rec_loss\n    ddconfig: {attn_type: none, "
        "double_z: false, z_channels: 3, resolution: 32, in_channels: 3, out_ch: 3, ch: 32, "
        "ch_mult: [1, 2], num_res_blocks: 1, attn_resolutions: [], dropout: 0.0}\n"
        "    lossconfig: {target: taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator}\n")
    from ldmcore.checkpoint.compvis_config import import_config

    model = ldmcore.build(import_config(cfg).spec)
    bare = {k[len("first_stage."):]: v for k, v in model.state_dict().items()
            if k.startswith("first_stage.") and not k.endswith(("scale_factor", "shift_factor"))}
    bare["loss.discriminator.main.0.weight"] = torch.zeros(4, 3, 4, 4)
    ckpt = tmp_path / "model.ckpt"
    torch.save({"state_dict": bare}, ckpt)
    assert main(["import", str(cfg), "--out", str(tmp_path / "s.yaml"), "--ckpt",
                 str(ckpt)]) == 0
    assert "loaded strictly" in capsys.readouterr().out
    loaded = ldmcore.load(ckpt)
    assert torch.equal(loaded.first_stage.quantize.embedding.weight,
                       bare["quantize.embedding.weight"])
