"""The evaluation loop (ldmcore.evaluation): real images in, real numbers out, plumbing intact.

Tiny untrained models (no FID here: its dataset-feature CNN would train for minutes).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from tiny_specs import TINY as SHARED_TINY

import ldmcore
from ldmcore.errors import DataError, SpecError
from ldmcore.evaluation import build_evaluators, evaluate, format_table, save_eval_grid
from ldmcore.plugins import default_registry
from ldmcore.spec.resolve import resolve_spec

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

#: shrink the networks, keep the wiring (TINY16 also shrinks the images to 16²)
TINY16 = [*SHARED_TINY, "sampler.params.steps=2"]
TINY = [o for o in TINY16 if not o.startswith(("image_size", "first_stage.params.resolution"))]
LAYOUT = ["conditioners.layout.params.dim=16", "conditioners.layout.params.depth=1",
          "conditioners.layout.params.heads=2"]


@pytest.fixture(scope="module")
def registry():
    return default_registry()


def _build(name: str, overrides: list[str], registry):
    torch.manual_seed(0)
    return ldmcore.build(CONFIGS / f"{name}.yaml", overrides, registry=registry).eval()


def test_layout_fidelity_is_computed_from_the_images(registry, tmp_path):
    """Untrained samples score ~0 layout recall; the same evaluator on the REAL images ~1."""
    model = _build("layout2img", ["image_size=32", "first_stage.params.resolution=32",
                                  *TINY, *LAYOUT], registry)
    res = evaluate(model, num_samples=6, batch_size=4, seed=0, progress=False,
                   evaluators=["fidelity"], registry=registry)
    assert res.images.shape == res.real.shape == (6, 3, 32, 32)
    assert not torch.equal(res.images, res.real)
    assert {"fidelity.recall", "fidelity.mean_iou", "fidelity.object_rate"} <= set(res.metrics)
    assert res.metrics["fidelity.num_images"] == 6
    ev = build_evaluators(model.spec, model.task, registry, ["fidelity"])["fidelity"]
    again = ev(images=res.images, batch=res.batch)
    assert again["recall"] == res.metrics["fidelity.recall"]
    assert again["mean_iou"] == res.metrics["fidelity.mean_iou"]
    real = ev(real=res.real, fake=res.real, images=res.real, batch=res.batch)
    assert real["recall"] >= 0.9 and real["mean_iou"] > 0.7
    assert res.metrics["fidelity.recall"] < real["recall"]
    # the same seed draws the same samples; another seed, others
    again = evaluate(model, num_samples=6, batch_size=4, seed=0, progress=False,
                     evaluators=["fidelity"], registry=registry)
    assert torch.equal(again.images, res.images)
    other = evaluate(model, num_samples=6, batch_size=4, seed=1, progress=False,
                     evaluators=["fidelity"], registry=registry)
    assert not torch.equal(other.images, res.images)
    assert res.inputs == ["boxes"]
    assert save_eval_grid(res, tmp_path / "g.png").stat().st_size > 0


@pytest.mark.parametrize("task,added", [("superres", {"lowres"}),
                                        ("inpainting", {"mask", "masked_image"})])
def test_perfect_model_scores_perfectly(task, added, registry, monkeypatch):
    """A 'model' that returns the ground truth: PSNR inf, SSIM 1; batches stay in order and the
    task's derived inputs reach the sampler."""
    model = _build(task, TINY16, registry)
    seen = []

    def oracle(batch, *, num_samples=None, generator=None, progress=True, **kw):
        seen.append((set(batch), num_samples))
        return batch["image"]

    monkeypatch.setattr(model, "sample", oracle)
    res = evaluate(model, num_samples=7, batch_size=3, progress=False,
                   evaluators=["psnr", "ssim"], registry=registry)
    assert [n for _, n in seen] == [3, 3, 1]
    assert all(added <= keys for keys, _ in seen)
    assert math.isinf(res.metrics["psnr"]) and res.metrics["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert res.to_dict()["metrics"]["psnr"] == "inf"  # strict JSON


def test_untrained_superres_scores_are_finite_and_paired(registry):
    model = _build("superres", TINY16, registry)
    res = evaluate(model, num_samples=3, batch_size=2, progress=False,
                   evaluators=["psnr", "ssim"], registry=registry)
    psnr, ssim = res.metrics["psnr"], res.metrics["ssim"]
    assert 0 < psnr < 40 and -1 <= ssim < 0.9
    mse = ((res.images - res.real) / 2).pow(2).flatten(1).mean(1)
    assert psnr == pytest.approx(float((-10 * torch.log10(mse)).mean()), rel=1e-4)
    table = format_table(res.metrics)
    assert table.splitlines()[0].split() == ["metric", "value"] and "psnr" in table


def test_evaluator_choice(registry):
    """spec.evaluators entries, selected names, and the task default (inpainting: ssim)."""
    spec = resolve_spec(CONFIGS / "inpainting.yaml", TINY16, registry=registry)
    assert {"known", "restored", "fid", "kid"} <= set(spec.evaluators)
    task = registry.get("task", "inpainting").factory(spec.task.params, None)
    assert task.evaluation == "ssim"  # LPIPS would need weight files
    picked = build_evaluators(spec, task, registry, ["psnr", "shapes_fidelity"])
    assert set(picked) == {"psnr", "shapes_fidelity"}
    spec.evaluators = {}
    assert set(build_evaluators(spec, task, registry)) == {"ssim"}
    with pytest.raises(SpecError, match="unknown evaluator type 'nope'"):
        build_evaluators(spec, task, registry, ["nope"])
    task.evaluation = None
    with pytest.raises(SpecError, match="nothing to evaluate"):
        build_evaluators(spec, task, registry)


def test_bad_sizes(registry):
    model = _build("superres", TINY16, registry)
    with pytest.raises(DataError, match="positive"):
        evaluate(model, num_samples=0, progress=False, evaluators=["psnr"], registry=registry)
    with pytest.raises(DataError, match="larger than training.val_dataset"):
        evaluate(model, num_samples=10_000, progress=False, evaluators=["psnr"],
                 registry=registry)


def test_dataset_feature_fid_trains_once_and_is_labelled(tmp_path, registry, capsys):
    """The configs' fid entry, shrunk (2 training steps): cached at `weights`, labelled as
    dataset-feature FID; building it works even under an outer no_grad."""
    cache = tmp_path / "features.safetensors"
    fid = [f"evaluators.fid.params.weights={cache}", "evaluators.fid.params.train_steps=2",
           "evaluators.fid.params.train_batch_size=4", "evaluators.fid.params.feature_size=16"]
    model = _build("superres", TINY16 + fid, registry)
    with torch.no_grad():
        res = evaluate(model, num_samples=4, batch_size=4, progress=False,
                       evaluators=["fid", "psnr"], registry=registry)
    assert cache.is_file()
    assert "dataset-feature CNN" not in capsys.readouterr().err  # progress=False reaches it
    value = res.metrics["fid.dataset_feature_fid"]
    assert math.isfinite(value) and value > 0
    assert any("not comparable to Inception FID" in n for n in res.notes)
    ev = build_evaluators(model.spec, model.task, registry, ["fid"])["fid"]  # from the cache
    assert ev(real=res.real, fake=res.real)["dataset_feature_fid"] == pytest.approx(0, abs=1e-6)
    assert ev(real=res.real, fake=res.images)["dataset_feature_fid"] == pytest.approx(value)


def test_the_task_default_evaluator_is_said(registry):
    """A spec without evaluators: is scored by its task's default, and the result says so."""
    model = _build("superres", TINY16, registry)
    model.spec.evaluators = {}
    res = evaluate(model, num_samples=2, batch_size=2, progress=False, registry=registry)
    assert any("no evaluators: section" in n for n in res.notes), res.notes


def test_eval_grid_draws_a_segmentation_input_in_its_palette(registry, tmp_path):
    """semantic2img's grid: (map in palette colours, sample, ground truth) per item."""
    from PIL import Image

    model = _build("semantic2img", TINY16, registry)
    res = evaluate(model, num_samples=2, batch_size=2, seed=0, progress=False,
                   evaluators=["miou"], registry=registry)
    palette = model.spec.training.dataset.params.palette()
    assert res.palette == palette
    grid = Image.open(save_eval_grid(res, tmp_path / "g.png")).convert("RGB")
    assert grid.width > 3 * 16 * 8  # three cells per item, upscaled
    ids = res.batch["segmentation"][0]
    y, x = (int(v) for v in (ids > 0).nonzero()[0])  # a pixel of an object
    drawn = grid.getpixel((2 + x * 8 + 4, 2 + y * 8 + 4))
    assert drawn == tuple(palette[int(ids[y, x])]), drawn
