"""Every task config validates, builds, trains 2 steps and samples, at tiny size."""

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from spec_runs import CONFIGS, TASKS, TINY, tiny_conditioners, train_and_sample  # noqa: E402

from ldmcore.spec import resolve_spec  # noqa: E402


def test_configs_exist_with_schema_line():
    for task in TASKS:
        first = (CONFIGS / f"{task}.yaml").read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../registry/graph.schema.json"


@pytest.mark.parametrize("task", TASKS)
def test_config_validates_at_full_size(task):
    spec = resolve_spec(CONFIGS / f"{task}.yaml")
    assert spec.task.type == task
    assert spec.image_size == 32 and spec.first_stage.type == "kl"
    assert spec.first_stage.params.latent_port().factor == 4
    # z (3) + concat: semantic map 13 ids unshuffled -> 1x1 conv to 16; low-res image 3;
    # inpainting E(masked image) 3 + its pixels 16 + the mask's 4x4 pixels 16
    want_in = {"semantic2img": 3 + 16, "superres": 3 + 3, "inpainting": 3 + 3 + 16 + 16}.get(
        task, 3)
    assert spec.denoiser.params.in_channels == want_in
    assert spec.training.dataset.type == "shapes"


@pytest.mark.parametrize("task", TASKS)
def test_config_trains_two_steps_and_samples(task):
    model, losses, changed, images = train_and_sample(
        CONFIGS / f"{task}.yaml", TINY + tiny_conditioners(task)
    )
    assert model.task.evaluation
    assert all(math.isfinite(v) for v in losses)
    assert changed > 0
    assert images.shape == (2, 3, 16, 16)
    assert torch.isfinite(images).all() and images.abs().max() <= 1


def test_ldm_validate_accepts_every_config(capsys):
    from ldmcore.cli.main import main

    for task in TASKS:
        assert main(["validate", str(CONFIGS / f"{task}.yaml")]) == 0
    assert capsys.readouterr().out.count(": ok") == len(TASKS)


@pytest.mark.parametrize("override,msg", [
    ("task.params.key=label", "task: batch key 'label' is not provided"),
    ("conditioners.class.input=label", "conditioners.class.input: batch key 'label'"),
    ("conditioners.class.wiring=concat", "'class_embed' cannot be wired 'concat'"),
    ("conditioners.class.params.dim=64", None),
])
def test_class2img_bad_keys_are_named(override, msg):
    from ldmcore.errors import SpecError

    if msg is None:  # a consistent edit: the UNet's context_dim follows the conditioner
        spec = resolve_spec(CONFIGS / "class2img.yaml", [override])
        assert spec.denoiser.params.context_dim == 64
        return
    with pytest.raises(SpecError, match=msg):
        resolve_spec(CONFIGS / "class2img.yaml", [override])


def test_hf_text_missing_path_is_a_spec_error():
    from ldmcore.errors import SpecError

    with pytest.raises(SpecError, match="conditioners.text: text encoder path not found: /nope"):
        resolve_spec(CONFIGS / "txt2img.yaml",
                     ["conditioners.text.type=hf_text", "conditioners.text.params.path=/nope"])


def test_digits_config_is_pixel_space_on_real_scans_and_trains():
    """configs/digits_unconditional.yaml: LDM-1 on scikit-learn's digits, its held-out split
    large enough for `ldm eval -n 200` and disjoint from training."""
    from ldmcore.plugins import default_registry
    from ldmcore.training.data import build_dataset

    path = CONFIGS / "digits_unconditional.yaml"
    spec = resolve_spec(path)
    assert (spec.image_size, spec.image_channels, spec.first_stage.type) == (16, 1, "identity")
    registry = default_registry()
    train = build_dataset(spec, registry)
    held_out = build_dataset(spec, registry, spec.training.val_dataset, "training.val_dataset")
    assert len(held_out) >= 200 and len(train) + len(held_out) == 1797
    seen = {tuple(train[i]["image"].flatten().tolist()) for i in range(len(train))}
    assert sum(tuple(held_out[i]["image"].flatten().tolist()) in seen
               for i in range(len(held_out))) < 10  # sklearn's digits hold a few duplicate scans
    model, losses, changed, images = train_and_sample(
        path, ["denoiser.params.model_channels=8", "diffusion.timesteps=100",
               "sampler.params.steps=2"])
    assert all(math.isfinite(v) for v in losses) and changed > 0
    assert images.shape == (2, 1, 16, 16) and images.abs().max() <= 1
