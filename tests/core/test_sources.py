"""The model-source resolver: every way of naming a model resolves to one typed Source, read
once, and opens to the same model as before (same weights, same or better errors)."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from tiny_specs import TINY

import ldmcore
from ldmcore.checkpoint import native
from ldmcore.checkpoint.first_stage import export_first_stage
from ldmcore.cli.main import main
from ldmcore.errors import CheckpointError, SpecError
from ldmcore.sources import open_for_use, resolve

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny txt2img model saved natively, and its first stage exported alone."""
    root = tmp_path_factory.mktemp("sources")
    torch.manual_seed(0)
    model = ldmcore.build(CONFIGS / "txt2img.yaml", TINY)
    path = ldmcore.save(model, root / "model.safetensors")
    fs = export_first_stage(model.first_stage, model.spec, root / "first_stage.safetensors")
    return model, path, fs


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_native_file(tiny):
    model, path, _ = tiny
    source = resolve(str(path))
    assert (source.kind, source.part, source.task) == ("native", "model", "txt2img")
    assert source.inputs == ["caption"] and source.trained_denoiser
    _same(source.open().state_dict(), model.state_dict())
    _same(ldmcore.load(path).state_dict(), model.state_dict())


def test_first_stage_export(tiny):
    model, _, fs = tiny
    source = resolve(str(fs))
    assert (source.kind, source.part) == ("native", "first_stage")
    assert not source.trained_denoiser
    _same(source.open().first_stage.state_dict(), model.first_stage.state_dict())


def test_card_name():
    source = resolve("shapes-txt2img")
    assert source.card["name"] == "shapes-txt2img" and source.kind == "native"
    assert source.path.name == "shapes-txt2img.safetensors" and source.task == "txt2img"
    first_stage = resolve("shapes-kl-f4")
    assert first_stage.part == "first_stage" and first_stage.task == "autoencoder"


def test_spec_file():
    source = resolve(str(CONFIGS / "txt2img.yaml"))
    assert source.kind == "spec" and source.untrained
    opened = open_for_use(source, TINY)
    assert "untrained" in opened.notes[0]
    with pytest.raises(SpecError, match="spec file not found: nope.yaml"):
        resolve("nope.yaml")


def test_spec_with_checkpoint_of_another_format(tiny, tmp_path):
    """A CompVis-layout file carries no spec: it opens into the spec it is given."""
    from ldmcore.checkpoint import save_compvis

    model, _, _ = tiny
    ckpt = save_compvis(model, tmp_path / "m.ckpt")
    source = resolve(str(ckpt))
    assert source.kind == "checkpoint"
    spec = tmp_path / "spec.json.yaml"
    spec.write_text(json.dumps(model.spec.model_dump(mode="json")))
    opened = open_for_use(str(spec), checkpoint=str(ckpt))
    _same(opened.model.state_dict(), model.state_dict())
    with pytest.raises(CheckpointError, match="needs a .yaml spec"):
        open_for_use(str(ckpt), checkpoint=str(ckpt))


def test_foreign_file_without_spec_says_how_to_give_one(tmp_path):
    bare = tmp_path / "bare.ckpt"
    torch.save({"state_dict": {"model.diffusion_model.x": torch.zeros(1)}}, bare)
    with pytest.raises(CheckpointError, match="give the spec"):
        resolve(str(bare)).open()


def test_nothing_found_lists_what_was_tried(tmp_path):
    with pytest.raises(CheckpointError) as info:
        resolve("no-such-model")
    msg = str(info.value)
    assert "no card 'no-such-model' in registry/models, no file 'no-such-model'" in msg
    assert "model.safetensors" in msg and "step_N.pt" in msg and ".yaml" in msg
    odd = tmp_path / "notes.txt"
    odd.write_text("x")
    with pytest.raises(CheckpointError, match="a file of no kind ldmcore opens"):
        resolve(str(odd))


def test_spec_metadata_that_is_not_json_is_one_clear_error(tmp_path):
    path = tmp_path / "bad.safetensors"
    save_file({"x": torch.zeros(1)}, str(path),
              metadata={"format": "ldmcore", native.SPEC_KEY: "{not json"})
    with pytest.raises(CheckpointError, match=r"bad.safetensors: metadata 'ldmcore.spec' is not"):
        resolve(str(path))


def test_generate_reads_a_model_file_once(tiny, tmp_path, monkeypatch):
    """`ldm generate model.safetensors`: the header is parsed once, the tensors read once."""
    from ldmcore.checkpoint import readers

    _, path, _ = tiny
    copy = tmp_path / "copy.safetensors"  # a fresh file: nothing cached for it yet
    copy.write_bytes(path.read_bytes())
    reads = []
    real = readers.read_safetensors
    monkeypatch.setattr(readers, "read_safetensors", lambda p: reads.append(p) or real(p))
    before = native._header.cache_info().misses
    assert main(["generate", str(copy), "--prompt", "a red circle", "--steps", "2", "-n", "1",
                 "--no-progress", "--out", str(tmp_path / "g.png")]) == 0
    assert native._header.cache_info().misses - before == 1
    assert reads == [copy]


def test_generate_refuses_a_first_stage_export(tiny, tmp_path, capsys):
    _, _, fs = tiny
    assert main(["generate", str(fs), "--out", str(tmp_path / "x.png")]) == 2
    assert "no trained denoiser" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_generate_reads_a_card_once(tmp_path, monkeypatch):
    """`ldm generate CARD`: the card is read once (the CLI and the opener share one Source)."""
    from ldmcore.sources import card

    reads = []
    real = card.read_card
    monkeypatch.setattr(card, "read_card", lambda p: reads.append(p) or real(p))
    assert main(["generate", "shapes-txt2img", "--prompt", "a red circle", "--steps", "2",
                 "-n", "1", "--no-progress", "--out", str(tmp_path / "c.png")]) == 0
    assert [p.name for p in reads].count("shapes-txt2img.yaml") == 1  # (+ its first stage's)
