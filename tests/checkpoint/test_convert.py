"""Round trips between the three formats, through the API and `ldm convert`."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import torch  # noqa: E402
import yaml  # noqa: E402

from ldmcore.checkpoint import save_compvis, save_diffusers  # noqa: E402
from ldmcore.checkpoint.export import compvis_state  # noqa: E402
from ldmcore.cli.main import main  # noqa: E402
from ldmcore.sources import from_checkpoint  # noqa: E402
from ldmcore.sources.convert import convert  # noqa: E402


def _outputs(model):
    g = torch.Generator().manual_seed(7)
    z = torch.randn(2, 4, 8, 8, generator=g)
    x = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    t = torch.tensor([1, 999])
    with torch.no_grad():
        cond = model.condition({"class": torch.tensor([0, 2])})
        return [model.denoiser(z, t, **cond.kwargs()), model.decode(z),
                model.encode(x, sample=False), cond.context]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(_outputs(a), _outputs(b)))


def test_sd15_shaped_round_trip_compvis_ldmcore_diffusers_ldmcore(tmp_path, make_model, registry):
    src = make_model(0)
    state = compvis_state(src)
    state["alphas_cumprod"] = src.schedule.alphas_cumprod.float()
    state["model_ema.decay"] = torch.tensor(0.9999)
    ckpt = tmp_path / "sd15.ckpt"
    torch.save({"state_dict": state}, ckpt)

    m1 = from_checkpoint(ckpt, src.spec.model_dump(mode="json"), registry=registry)
    assert m1.load_report.ok and _same(src, m1)
    folder = save_diffusers(m1, tmp_path / "diffusers")
    m2 = from_checkpoint(folder, registry=registry)  # spec travels in ldmcore/spec.json
    assert m2.load_report.ok and _same(src, m2)
    back = save_compvis(m2, tmp_path / "back.safetensors")
    m3 = from_checkpoint(back, registry=registry)
    assert _same(src, m3)
    # whole sampling chain too
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    s1 = src.sample({"class": torch.tensor([1])}, generator=g1, progress=False)
    s2 = m2.sample({"class": torch.tensor([1])}, generator=g2, progress=False)
    assert torch.equal(s1, s2)


def test_native_compvis_native_via_convert(tmp_path, make_model, registry):
    import ldmcore

    src = make_model(4)
    native = ldmcore.save(src, tmp_path / "m.safetensors")
    out, report = convert(native, tmp_path / "m.ckpt", registry=registry)
    assert out.suffix == ".ckpt" and report.ok
    again, _ = convert(out, tmp_path / "again.safetensors", registry=registry)
    assert _same(src, ldmcore.load(again, registry=registry))


def _spec_file(tmp_path, spec):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_cli_convert_round_trip(tmp_path, tiny_configs, has_networks, capsys):
    import ldmcore

    _, _, installed_spec = tiny_configs
    spec = installed_spec()
    src = ldmcore.build(spec).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in src.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    ckpt = tmp_path / "sd.ckpt"
    torch.save({"state_dict": compvis_state(src)}, ckpt)
    spec_path = _spec_file(tmp_path, spec)
    assert main(["convert", str(ckpt), str(tmp_path / "dif"), "--spec", str(spec_path),
                 "--to", "diffusers"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["convert", str(tmp_path / "dif"), str(tmp_path / "n.safetensors")]) == 0
    assert _same(src, ldmcore.load(tmp_path / "n.safetensors"))
    # any format loads through ldmcore.load with a spec
    assert _same(src, ldmcore.load(ckpt, spec=spec_path))


def test_cli_errors_are_one_line_exit_2(tmp_path, tiny_configs, has_networks, capsys):
    _, _, installed_spec = tiny_configs
    spec_path = _spec_file(tmp_path, installed_spec())
    assert main(["convert", str(tmp_path / "none.ckpt"), str(tmp_path / "o.safetensors"),
                 "--spec", str(spec_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "none.ckpt" in err and err.startswith("ldm convert: error")
    bare = tmp_path / "bare.ckpt"
    torch.save({"state_dict": {"model.diffusion_model.x": torch.zeros(1),
                               "first_stage_model.y": torch.zeros(1)}}, bare)
    assert main(["convert", str(bare), str(tmp_path / "o.safetensors")]) == 2
    assert "give the spec" in capsys.readouterr().err
    # wrong architecture: SD2-shaped checkpoint against an SD1-shaped spec
    import ldmcore

    sd2 = ldmcore.build(installed_spec(linear=True, context=24))
    torch.save({"state_dict": compvis_state(sd2)}, tmp_path / "sd2.ckpt")
    assert main(["convert", str(tmp_path / "sd2.ckpt"), str(tmp_path / "o.safetensors"),
                 "--spec", str(spec_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "sd2.ckpt" in err and "linear proj_in" in err and err.count("\n") == 0
    assert not (tmp_path / "o.safetensors").exists()
