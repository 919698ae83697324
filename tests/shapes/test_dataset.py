"""The shapes world dataset: schema, determinism, splits, resolutions, ground-truth agreement."""

import numpy as np
import pytest
import torch
from ldm_plugin_shapes.dataset import ShapesDataset, build_shapes
from ldm_plugin_shapes.params import ShapesParams
from ldm_plugin_shapes.plugin import ldmcore_register_components
from ldm_plugin_shapes.vocab import objects_from_rows, parse_caption

from ldmcore.errors import DataError
from ldmcore.plugins.loader import register_plugin
from ldmcore.registry import PluginInfo, Registry


def make(size=32, **kw):
    return ShapesDataset(ShapesParams(**kw), size)


def test_item_schema():
    ds = make(32, max_objects=4)
    item = ds[3]
    assert set(item) == ShapesParams().provided_keys()
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert item["image"].min() >= -1 and item["image"].max() <= 1
    assert item["class"].dtype == torch.int64 and item["class"].ndim == 0
    assert item["boxes"].shape == (4, 5) and item["boxes"].dtype == torch.float32
    assert item["segmentation"].shape == (32, 32) and item["segmentation"].dtype == torch.int64
    objs = objects_from_rows(item["boxes"])
    assert 1 <= len(objs) <= 4
    assert item["class"].item() == objs[0].cls
    assert parse_caption(item["caption"])[0] == [o.cls for o in objs]


def test_deterministic_and_splits_disjoint():
    a, b = make(seed=1), make(seed=1)
    assert torch.equal(a[5]["image"], b[5]["image"]) and a[5]["caption"] == b[5]["caption"]
    assert not torch.equal(a[5]["image"], a[6]["image"])
    assert not torch.equal(a[5]["image"], make(seed=2)[5]["image"])
    val = make(seed=1, split="val")
    same = sum(torch.equal(a[i]["boxes"], val[i]["boxes"]) for i in range(20))
    assert same == 0


def test_any_resolution_same_scene():
    small, big = make(16, seed=4), make(64, seed=4)
    assert small[2]["image"].shape == (3, 16, 16) and big[2]["image"].shape == (3, 64, 64)
    assert torch.equal(small[2]["boxes"], big[2]["boxes"])
    down = torch.nn.functional.avg_pool2d(big[2]["image"][None], 4)[0]
    assert (down - small[2]["image"]).abs().mean() < 0.08


def test_segmentation_matches_boxes_and_colours():
    ds = make(64, max_objects=3)
    for i in range(10):
        item = ds[i]
        seg = item["segmentation"].numpy()
        yy, xx = np.mgrid[0:64, 0:64] + 0.5
        for o in objects_from_rows(item["boxes"]):
            assert (seg == o.cls + 1).any()
        for cls in set(seg.ravel()) - {0}:
            # every labelled pixel centre lies inside a box of its class (+ sub-pixel rounding)
            inside = np.zeros_like(seg, bool)
            for o in objects_from_rows(item["boxes"]):
                if o.cls + 1 == cls:
                    x0, y0, x1, y1 = (v * 64 for v in o.box)
                    inside |= (xx > x0 - 0.3) & (xx < x1 + 0.3) & (yy > y0 - 0.3) & (yy < y1 + 0.3)
            assert inside[seg == cls].all()
        bg = item["image"][:, seg == 0]
        plain = (bg - bg.median(dim=1, keepdim=True).values).abs().amax(0) < 1e-4
        assert plain.float().mean() > 0.8  # plain background, apart from antialiased edges


def test_single_object_subsets_and_grey():
    ds = make(32, single_object=True, shapes=["triangle"], colors=["green"], channels=1)
    for i in range(5):
        item = ds[i]
        assert item["image"].shape == (1, 32, 32)
        assert item["caption"] == "a green triangle"
        assert (item["boxes"][1:, 0] == -1).all() and item["boxes"][0, 0] == item["class"]


def test_textured_background_varies():
    item = make(32, background="textured", min_scale=0.2, max_scale=0.2)[0]
    bg = item["image"][:, item["segmentation"] == 0]
    assert 0.002 < bg.std().item() < 0.1


def test_collate_and_registry_factory():
    reg = Registry()
    register_plugin(reg, __import__("ldm_plugin_shapes.plugin", fromlist=["x"]),
                    PluginInfo("shapes", "ldm-plugin-shapes", "0"))
    info = reg.get("dataset", "shapes")
    assert info.factory is not None and ldmcore_register_components is not None
    ds = info.factory(ShapesParams(num_items=6, size=16), None)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=6)))
    assert batch["image"].shape == (6, 3, 16, 16) and batch["boxes"].shape == (6, 3, 5)
    assert len(batch["caption"]) == 6 and batch["class"].shape == (6,)
    assert len(ds) == 6
    with pytest.raises(IndexError):
        ds[6]


def test_size_from_spec_and_bad_params():
    class Spec:
        image_size = 24

    class Ctx:
        spec = Spec()

    assert build_shapes(ShapesParams(), Ctx())[0]["image"].shape == (3, 24, 24)
    with pytest.raises(DataError, match="too small"):
        make(4)
    with pytest.raises(ValueError, match="shapes must be"):
        ShapesParams(shapes=["hexagon"])
    with pytest.raises(ValueError, match="min_objects"):
        ShapesParams(min_objects=3, max_objects=2)
