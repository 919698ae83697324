"""Each task metric on real data (high), noise and blank images (low), and wrong conditioning
(chance): a metric that scores noise like data, or ignores the conditioning, fails here."""

import pytest
import torch
from ldm_plugin_metrics.params import (
    BicubicBaselineParams,
    FidParams,
    KidParams,
    KnownRegionParams,
    PrecisionRecallParams,
)
from ldm_plugin_metrics.plugin import _bicubic, _fid, _kid, _known, _pr
from ldm_plugin_shapes.dataset import ShapesDataset
from ldm_plugin_shapes.metric_params import ShapesInpaintParams, ShapesMiouParams
from ldm_plugin_shapes.params import ShapesParams
from ldm_plugin_shapes.spatial import ShapesInpaint, ShapesMiou
from torch.nn import functional as F

from ldmcore.errors import DataError

N, SIZE = 64, 16
BG = 0.76  # the shapes world's grey background in [-1, 1]


def batch_of(n, split="val", size=SIZE, offset=0):
    ds = ShapesDataset(ShapesParams(split=split, num_items=offset + n), size)
    return torch.utils.data.default_collate([ds[i] for i in range(offset, offset + n)])


def noise(n=N, size=SIZE, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def blank(n=N, size=SIZE):
    return torch.full((n, 3, size, size), BG)


@pytest.fixture(scope="module")
def feats(tmp_path_factory):
    """Params of a dataset-feature CNN trained once for this module (16 px, ~20 s CPU)."""
    w = str(tmp_path_factory.mktemp("feat") / "cnn.safetensors")
    return dict(weights=w, dataset="shapes", dataset_params={"size": SIZE, "num_items": 4096},
                feature_size=SIZE, train_steps=150, train_batch_size=32, progress=False)


@pytest.fixture(scope="module")
def sets():
    """The evaluated real images, a disjoint real reference (train split) and other reals."""
    return batch_of(N)["image"], batch_of(N, "train")["image"], batch_of(N, offset=N)["image"]


def test_precision_recall_real_high_noise_and_blank_zero(feats, sets):
    real, ref, other = sets
    pr = _pr(PrecisionRecallParams(k=3, **feats), None)
    ok = pr(real=real, fake=other, reference=ref)
    assert ok["dataset_feature_precision"] >= 0.8 and ok["dataset_feature_recall"] >= 0.7, ok
    assert ok["dataset_feature_precision_real"] >= 0.8  # the real-vs-real values at this n
    for bad in (noise(), blank(), -torch.ones(N, 3, SIZE, SIZE)):
        out = pr(real=real, fake=bad, reference=ref)
        assert out["dataset_feature_precision"] <= 0.1, out
        assert out["dataset_feature_recall"] <= 0.1, out


def test_fid_and_kid_report_their_floor_and_warn_at_small_n(feats, sets):
    real, ref, other = sets
    fid = _fid(FidParams(**feats), None)
    ok = fid(real=real, fake=other, reference=ref)
    floor = ok["dataset_feature_fid_floor"]
    assert floor > 0 and ok["dataset_feature_fid"] < 2 * floor  # real vs real sits at the floor
    assert ok["dataset_feature_fid_vs_reference"] < 2 * floor  # scored like the floor
    assert "n too small" in fid.notes["dataset_feature_fid_warning"]
    for bad in (noise(), blank()):
        out = fid(real=real, fake=bad, reference=ref)
        assert min(out["dataset_feature_fid"], out["dataset_feature_fid_vs_reference"]) > 5 * floor

    kid = _kid(KidParams(num_subsets=20, **feats), None)
    ok = kid(real=real, fake=other, reference=ref)
    assert "n too small" in kid.notes["dataset_feature_kid_warning"]
    bad = kid(real=real, fake=noise(), reference=ref)
    kid_floor, spread = ok["dataset_feature_kid_floor"], bad["dataset_feature_kid_std"]
    assert bad["dataset_feature_kid"] > kid_floor + 3 * spread
    assert "dataset_feature_kid_warning" not in kid.notes
    assert abs(ok["dataset_feature_kid_floor"]) < 0.05 * bad["dataset_feature_kid"]  # unbiased


def test_floor_without_reference_or_spec_is_noted(feats, sets):
    fid = _fid(FidParams(**feats), None)
    out = fid(real=sets[0], fake=sets[2])
    assert "dataset_feature_fid_floor" not in out
    assert "no floor" in fid.notes["dataset_feature_fid_floor"]


@pytest.fixture(scope="module")
def maps():
    return batch_of(N, size=32)


def test_miou_real_high_noise_blank_and_wrong_maps_low(maps):
    miou = ShapesMiou(ShapesMiouParams())
    real = miou(images=maps["image"], batch=maps)
    assert real["miou"] >= 0.85 and real["pixel_accuracy"] >= 0.97, real
    for bad in (noise(size=32), blank(size=32)):
        out = miou(images=bad, batch=maps)
        assert out["miou_objects"] <= 0.05, out
    wrong = {"segmentation": maps["segmentation"].roll(1, dims=0)}  # another image's map
    out = miou(images=maps["image"], batch=wrong)
    assert out["miou_objects"] <= 0.25 < real["miou_objects"] - 0.5, out


def test_miou_resizes_maps_and_checks_ids(maps):
    miou = ShapesMiou(ShapesMiouParams())
    up = F.interpolate(maps["image"], scale_factor=2, mode="nearest")  # a 2x sample
    assert miou(images=up, batch=maps)["miou"] >= 0.85
    with pytest.raises(DataError, match="ids must lie in 0..12"):
        miou(images=maps["image"], batch={"segmentation": maps["segmentation"] + 20})
    with pytest.raises(DataError, match="no 'segmentation'"):
        miou(images=maps["image"], batch={})


@pytest.fixture(scope="module")
def holes(maps):
    """Masks covering the left half of every image: they cut through most objects."""
    mask = torch.zeros(N, 1, 32, 32)
    mask[..., :16] = 1
    return {**maps, "mask": mask, "masked_image": maps["image"] * (1 - mask)}


def test_inpaint_fidelity_real_restores_hole_filled_or_noise_does_not(holes):
    ev = ShapesInpaint(ShapesInpaintParams())
    real = ev(images=holes["image"], batch=holes)
    assert real["cut_objects"] >= 30 and real["restored"] >= 0.9, real
    assert real["masked_pixel_accuracy"] >= 0.97
    m = holes["mask"]
    for fill in (holes["masked_image"], holes["image"] * (1 - m) + noise(size=32) * m,
                 holes["image"] * (1 - m) + BG * m):
        out = ev(images=fill, batch=holes)
        assert out["restored"] <= 0.1, out
    wrong = holes["image"].roll(1, dims=0) * m + holes["image"] * (1 - m)  # another image's hole
    assert ev(images=wrong, batch=holes)["restored"] <= 0.3


def test_known_region_error(holes):
    ev = _known(KnownRegionParams(), None)
    real, m = holes["image"], holes["mask"]
    assert ev(real=real, fake=real, batch=holes)["known_error"] == 0.0
    pasted = real * (1 - m) + noise(size=32) * m  # only the hole differs
    assert ev(real=real, fake=pasted, batch=holes)["known_error"] == 0.0
    assert ev(real=real, fake=noise(size=32), batch=holes)["known_error"] > 0.2
    assert ev(real=real, fake=blank(size=32), batch=holes)["known_error"] > 0.05
    with pytest.raises(DataError, match="no 'mask'"):
        ev(real=real, fake=real, batch={})


def test_bicubic_baseline_uses_the_items_lowres(maps):
    real = maps["image"]
    low = F.interpolate(real, scale_factor=0.25, mode="bicubic", antialias=True).clamp(-1, 1)
    ev = _bicubic(BicubicBaselineParams(), None)
    ok = ev(real=real, batch={"lowres": low})
    assert 14 < ok["psnr"] < 40 and 0.5 < ok["ssim"] < 1, ok
    wrong = ev(real=real, batch={"lowres": low.roll(1, dims=0)})  # other items' low-res
    assert wrong["psnr"] < ok["psnr"] - 3 and wrong["ssim"] < ok["ssim"] - 0.1
    flat = ev(real=real, batch={"lowres": blank(size=8)})
    assert flat["psnr"] < ok["psnr"] - 3
    with pytest.raises(DataError, match="no 'lowres'"):
        ev(real=real, batch={})
