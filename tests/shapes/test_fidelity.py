"""shapes_fidelity scores ~1 on real shapes images and low on noise / mismatched conditions."""

import pytest
import torch
from ldm_plugin_shapes.dataset import ShapesDataset
from ldm_plugin_shapes.fidelity import ShapesFidelity, build_fidelity
from ldm_plugin_shapes.params import ShapesFidelityParams, ShapesParams

from ldmcore.errors import DataError


def batch_of(n=200, size=32, **kw):
    ds = ShapesDataset(ShapesParams(split="val", num_items=n, **kw), size)
    return next(iter(torch.utils.data.DataLoader(ds, batch_size=n)))


@pytest.fixture(scope="module")
def layouts():
    return batch_of(200, 32)


@pytest.fixture(scope="module")
def singles():
    return batch_of(120, 32, single_object=True)


def fid(mode="auto"):
    return ShapesFidelity(ShapesFidelityParams(mode=mode))


def test_real_layouts_are_recalled(layouts):
    out = fid("layout")(images=layouts["image"], batch=layouts)
    assert out["recall"] >= 0.95, out
    assert out["mean_iou"] >= 0.75, out
    assert out["precision"] >= 0.95, out
    assert out["object_rate"] == 1.0
    assert out["num_boxes"] >= 200


def test_real_single_objects_are_classified(singles):
    out = fid("class")(images=singles["image"], batch=singles)
    assert out["accuracy"] >= 0.95, out


def test_real_captions_are_satisfied(layouts):
    out = fid("caption")(fake=layouts["image"], real=None, batch=layouts)
    assert out["accuracy"] >= 0.95, out
    assert out["relation_accuracy"] >= 0.9, out


def test_textured_64px_layouts():
    b = batch_of(40, 64, background="textured", max_objects=4)
    out = fid("layout")(images=b["image"], batch=b)
    assert out["recall"] >= 0.95 and out["mean_iou"] >= 0.8, out


def test_noise_scores_low(layouts):
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(layouts["image"].shape, generator=g) * 2 - 1
    for mode, key in (("layout", "recall"), ("class", "accuracy"), ("caption", "accuracy")):
        out = fid(mode)(images=noise, batch=layouts)
        assert out[key] <= 0.05, (mode, out)
    blank = torch.full_like(layouts["image"], 0.76)
    assert fid("layout")(images=blank, batch=layouts)["recall"] == 0.0
    assert fid()(images=noise)["object_rate"] <= 0.05  # unconditional: no batch needed
    real = fid()(images=layouts["image"], batch={})
    assert real["object_rate"] == 1.0 and real["shape_rate"] >= 0.95


def test_wrong_conditions_score_low(layouts, singles):
    shifted = {k: v[1:] if k != "caption" else v[1:] for k, v in layouts.items()}
    out = fid("layout")(images=layouts["image"][:-1], batch=shifted)
    assert out["recall"] <= 0.2, out
    wrong = dict(singles, **{"class": (singles["class"] + 1) % 12})
    assert fid("class")(images=singles["image"], batch=wrong)["accuracy"] <= 0.1
    flipped = torch.flip(layouts["image"], dims=[2])  # upside down: relations and triangles break
    assert fid("caption")(images=flipped, batch=layouts)["relation_accuracy"] <= 0.3


def test_mode_from_task_and_bad_inputs(layouts):
    class Task:
        type = "txt2img"

    class Spec:
        task = Task()

    class Ctx:
        spec = Spec()

    ev = build_fidelity(ShapesFidelityParams(), Ctx())
    out = ev(images=layouts["image"][:8], batch={"caption": layouts["caption"][:8]})
    assert "relation_accuracy" in out
    with pytest.raises(DataError, match="images"):
        fid()(batch=layouts)
    with pytest.raises(DataError, match="'caption' is an empty list"):
        fid("caption")(images=layouts["image"][:0], batch={"caption": []})
    with pytest.raises(DataError, match="needs batch key 'boxes'"):
        fid("layout")(images=layouts["image"], batch={"class": layouts["class"]})
    bad = layouts["boxes"][:2].clone()
    bad[1, 0, 1:] = torch.tensor([0.6, 0.1, 0.2, 0.5])
    with pytest.raises(DataError, match=r"boxes\[1\]\[0\].*x0 < x1"):
        fid("layout")(images=layouts["image"][:2], batch={"boxes": bad})
    with pytest.raises(DataError, match="has 3 entries"):
        fid("class")(images=layouts["image"][:2], batch={"class": layouts["class"][:3]})


def test_segment_recovers_the_dataset_map_and_not_noise():
    from ldm_plugin_shapes.analysis import segment
    from ldm_plugin_shapes.fidelity import to_hwc01

    b = batch_of(20, 32)
    imgs = to_hwc01(b["image"])
    seg = b["segmentation"].numpy()
    agree = [(segment(img) == s).mean() for img, s in zip(imgs, seg)]
    assert min(agree) >= 0.9 and sum(agree) / len(agree) >= 0.97
    noise = to_hwc01(torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    assert all((segment(img) == 0).mean() >= 0.95 for img in noise)  # no objects in noise
