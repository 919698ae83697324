"""ldmcore.build -> a LatentDiffusion that trains a step and samples; save/load round trip."""

from pathlib import Path

import pytest
import torch

import ldmcore
from ldmcore.errors import CheckpointError, DataError, SamplingError


def batch(n=4):
    return {"image": torch.rand(n, 3, 8, 8) * 2 - 1, "class": torch.arange(n) % 4}


def test_build_loss_backward_and_sample(registry, spec_dict):
    model = ldmcore.build(spec_dict, registry=registry)
    g = torch.Generator().manual_seed(0)
    loss = model.loss(batch(), g)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert model.denoiser.out.weight.grad.abs().sum() > 0
    assert model.conditioners["label"].null_embedding.grad is not None  # CFG dropout used null
    images = model.sample({"class": torch.tensor([0, 1])}, generator=g, progress=False)
    assert images.shape == (2, 3, 8, 8) and images.abs().max() <= 1


def test_sampling_is_deterministic_per_generator(registry, spec_dict):
    model = ldmcore.build(spec_dict, registry=registry)
    y = {"class": torch.tensor([1, 2])}
    a = model.sample(y, generator=torch.Generator().manual_seed(3), progress=False)
    b = model.sample(y, generator=torch.Generator().manual_seed(3), progress=False)
    c = model.sample(y, generator=torch.Generator().manual_seed(4), progress=False)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_swap_conditioner_by_override_only(registry, spec_dict):
    """The same spec with two different conditioners, purely through overrides; both run."""
    a = ldmcore.build(spec_dict, registry=registry)
    b = ldmcore.build(spec_dict, ["conditioners.label.type=toy_map",
                                  "conditioners.label.wiring=concat",
                                  "conditioners.label.null=zeros",
                                  "conditioners.label.input=map"], registry=registry)
    assert type(a.conditioners["label"].conditioner).__name__ == "Embed"
    assert type(b.conditioners["label"].conditioner).__name__ == "MapConditioner"
    assert a.loss(batch()).isfinite()
    assert b.loss({"image": torch.zeros(2, 3, 8, 8), "map": torch.ones(2, 1, 8, 8)}).isfinite()


def test_missing_conditioner_input_names_key(registry, spec_dict):
    model = ldmcore.build(spec_dict, registry=registry)
    with pytest.raises(DataError, match="conditioner input 'class' missing"):
        model.loss({"image": torch.zeros(2, 3, 8, 8)})


def test_cfg_on_unconditional_model_is_refused(registry, spec_dict):
    spec_dict["conditioners"] = {}
    model = ldmcore.build(spec_dict, registry=registry)
    with pytest.raises(SamplingError, match="needs conditioning"):
        model.sample(num_samples=2, progress=False)
    model = ldmcore.build(spec_dict, ["guider.type=toy_none"], registry=registry)
    assert model.sample(num_samples=2, progress=False).shape == (2, 3, 8, 8)


def test_save_load_round_trip(registry, spec_dict, tmp_path):
    model = ldmcore.build(spec_dict, registry=registry)
    path = ldmcore.save(model, tmp_path / "m.safetensors")
    loaded = ldmcore.load(path, registry=registry)
    assert loaded.spec == model.spec
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k


def test_load_wrong_architecture_names_keys(registry, spec_dict, tmp_path):
    model = ldmcore.build(spec_dict, registry=registry)
    state = model.state_dict()
    state["denoiser.extra.weight"] = torch.zeros(1)
    state.pop("denoiser.out.bias")
    path = ldmcore.save(model, tmp_path / "m.safetensors", state_dict=state)
    with pytest.raises(CheckpointError) as info:
        ldmcore.load(path, registry=registry)
    msg = str(info.value)
    assert str(path) in msg and "denoiser.out.bias" in msg and "denoiser.extra.weight" in msg


def test_load_corrupt_file(registry, tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00garbage")
    with pytest.raises(CheckpointError, match="broken.safetensors"):
        ldmcore.load(path, registry=registry)


def test_node_checkpoints_are_loaded_by_the_builder(registry, spec_dict, tmp_path):
    from ldmcore.checkpoint.first_stage import export_first_stage

    trained = ldmcore.build(spec_dict, registry=registry)
    trained.first_stage.scale_factor.fill_(0.25)
    fs_path = export_first_stage(trained.first_stage, trained.spec, tmp_path / "fs.safetensors")
    full_path = ldmcore.save(trained, tmp_path / "full.safetensors")
    model = ldmcore.build(spec_dict, [f"first_stage.checkpoint={fs_path}",
                                      f"denoiser.checkpoint={full_path}",
                                      f"conditioners.label.checkpoint={full_path}"],
                          registry=registry)
    assert float(model.first_stage.scale_factor) == 0.25
    for part in ("denoiser", "conditioners"):
        for k, v in getattr(trained, part).state_dict().items():
            assert torch.equal(getattr(model, part).state_dict()[k], v), k
    with pytest.raises(CheckpointError, match="missing.safetensors"):
        ldmcore.build(spec_dict, [f"denoiser.checkpoint={tmp_path / 'missing.safetensors'}"],
                      registry=registry)


def test_save_handles_shared_tensors_and_is_readable(registry, spec_dict, tmp_path):
    model = ldmcore.build(spec_dict, registry=registry)
    state = model.state_dict()
    state["denoiser.out.bias"] = state["denoiser.inp.bias"][:3]  # a view sharing storage
    path = ldmcore.save(model, tmp_path / "shared.safetensors", state_dict=state)
    assert path.stat().st_mode & 0o044 == 0o044  # group/other can read a shared model file
    from safetensors.torch import load_file

    assert torch.equal(load_file(str(path))["denoiser.out.bias"], state["denoiser.inp.bias"][:3])


def test_a_saved_model_keeps_its_conditioners_order(tmp_path):
    """The inpainting spec lists masked_image (3 channels) before mask (1): the concat order.
    A reloaded file must rebuild that order, not the alphabetical one (mask, masked_image),
    which would feed the trained weights other channels (the first shapes-inpainting export
    sampled noise-like blobs this way)."""
    import torch
    from tiny_specs import TINY

    config = Path(__file__).resolve().parents[2] / "configs" / "inpainting.yaml"
    model = ldmcore.build(config, TINY).eval()
    reloaded = ldmcore.load(ldmcore.save(model, tmp_path / "m.safetensors")).eval()
    assert list(reloaded.conditioners) == list(model.conditioners) == ["masked_image", "mask"]
    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    mask = (torch.rand(2, 1, 16, 16, generator=g) > 0.5).float()
    batch = {"masked_image": image * (1 - mask), "mask": mask}
    c1, c2 = model.condition_pair(batch)[0], reloaded.condition_pair(batch)[0]
    assert torch.equal(c1.concat, c2.concat)
