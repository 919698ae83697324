import pytest
import torch
from ldm_plugin_tasks.masks import box_mask, random_masks, stroke_mask

from ldmcore.errors import DataError
from ldmcore.plugins import load_registry

REG = load_registry()


def task(name, **params):
    info = REG.get("task", name)
    p = info.params_model(**params)
    t = info.factory(p, None)
    t.params = p
    return t, p


def images(n=3, size=32):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.mark.parametrize("name,key,evaluation", [
    ("unconditional", None, "fid"),
    ("class2img", "class", "shapes_fidelity"),
    ("txt2img", "caption", "shapes_fidelity"),
    ("layout2img", "boxes", "shapes_fidelity"),
    ("semantic2img", "segmentation", "fid"),
])
def test_labelled_tasks_declare_and_check_their_key(name, key, evaluation):
    t, p = task(name)
    assert p.required_keys() == ({"image", key} if key else {"image"})
    assert p.added_keys() == set()
    assert t.evaluation == evaluation
    batch = {"image": images(), **({key: "x"} if key else {})}
    assert t.prepare(batch) is batch
    if key:
        with pytest.raises(DataError, match=f"task needs batch key '{key}'"):
            t.prepare({"image": images()})


def test_empty_caption_list_is_refused():
    t, _ = task("txt2img")
    with pytest.raises(DataError, match="'caption': empty list"):
        t.prepare({"image": images(), "caption": []})


def test_superres_bicubic_x4():
    t, p = task("superres")
    assert p.added_keys() == {"lowres"} and t.evaluation == "psnr"
    x = images(2, 32)
    out = t.prepare({"image": x})
    lr = out["lowres"]
    assert lr.shape == (2, 3, 8, 8) and lr.dtype == x.dtype
    assert lr.min() >= -1 and lr.max() <= 1
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(t.prepare({"image": flat})["lowres"], torch.full((1, 3, 4, 4), 0.3))
    # a low-res input given by the user is kept
    given = torch.zeros(2, 3, 8, 8)
    assert t.prepare({"image": x, "lowres": given})["lowres"] is given
    with pytest.raises(DataError, match="not divisible by factor 4"):
        t.prepare({"image": torch.zeros(1, 3, 30, 30)})
    with pytest.raises(DataError, match="no 'image' key"):
        t.prepare({})


def test_inpainting_masks_and_masked_image():
    t, p = task("inpainting")
    assert p.added_keys() == {"mask", "masked_image"} and t.evaluation == "ssim"
    x = images(4, 32)
    out = t.prepare({"image": x}, torch.Generator().manual_seed(1))
    m, mi = out["mask"], out["masked_image"]
    assert m.shape == (4, 1, 32, 32) and mi.shape == x.shape
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    frac = m.mean((1, 2, 3))
    assert (frac > 0).all() and (frac < 1).all()
    assert torch.equal(mi, x * (1 - m))
    assert (mi[m.expand_as(x) == 1] == 0).all()
    again = t.prepare({"image": x}, torch.Generator().manual_seed(1))["mask"]
    other = t.prepare({"image": x}, torch.Generator().manual_seed(2))["mask"]
    assert torch.equal(m, again) and not torch.equal(m, other)
    given = torch.zeros(4, 32, 32)
    given[:, :8] = 1
    out = t.prepare({"image": x, "mask": given})
    assert out["mask"].shape == (4, 1, 32, 32) and torch.equal(out["masked_image"][:, :, 8:],
                                                              x[:, :, 8:])
    with pytest.raises(DataError, match="'mask': expected shape"):
        t.prepare({"image": x, "mask": torch.zeros(4, 1, 16, 16)})


def test_box_and_stroke_masks():
    g = torch.Generator().manual_seed(0)
    b = box_mask(32, 32, 0.25, 0.25, g)
    assert b.sum() == 64  # an 8x8 box
    ys, xs = torch.nonzero(b, as_tuple=True)
    assert (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) == (8, 8)
    s = stroke_mask(32, 32, (4, 4), (0.1, 0.1), 0.3, g)
    assert 0 < s.mean() < 0.6
    strokes = random_masks(3, 16, 24, ["stroke"], generator=g)
    assert strokes.shape == (3, 1, 16, 24)


def test_inpainting_params_validation():
    info = REG.get("task", "inpainting")
    with pytest.raises(ValueError, match="box_min"):
        info.params_model(box_min=0.8, box_max=0.2)
    with pytest.raises(ValueError, match="kinds"):
        info.params_model(kinds=[])


def test_inpainting_holes_take_masked_fill():
    """CompVis' scripts/inpaint.py feeds the masked image with its holes at -1."""
    t, _ = task("inpainting", masked_fill=-1.0)
    x = images(2, 16)
    out = t.prepare({"image": x}, torch.Generator().manual_seed(0))
    m = out["mask"].expand_as(x)
    assert (out["masked_image"][m == 1] == -1).all()
    assert torch.equal(out["masked_image"][m == 0], x[m == 0])
