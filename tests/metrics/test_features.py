"""FID / KID / P&R with the dataset-feature CNN (trained on the shapes world, cached)."""

import pytest
import torch
from ldm_plugin_metrics.params import FidParams, KidParams, PrecisionRecallParams
from ldm_plugin_metrics.plugin import _fid, _kid, _pr
from ldm_plugin_shapes.dataset import ShapesDataset
from ldm_plugin_shapes.params import ShapesParams

from ldmcore.errors import DataError, SpecError

TINY = dict(dataset="shapes", dataset_params={"size": 16, "num_items": 256}, feature_size=16,
            train_steps=12, train_batch_size=16, progress=False)


def images(n, seed, split="val"):
    ds = ShapesDataset(ShapesParams(seed=seed, split=split, num_items=n), 16)
    return torch.stack([ds[i]["image"] for i in range(n)])


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("feat") / "shapes_cnn.safetensors")


def test_dataset_feature_fid_kid_pr(cache):
    fid = _fid(FidParams(weights=cache, **TINY), None)
    real, other = images(48, 1), images(48, 2)
    noise = torch.rand(48, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    same = fid(real=real, fake=real)["dataset_feature_fid"]
    similar = fid(real=real, fake=other)["dataset_feature_fid"]
    different = fid(real=real, fake=noise)["dataset_feature_fid"]
    assert same == pytest.approx(0.0, abs=1e-6)
    assert different > 3 * similar > 0
    assert "not comparable to Inception FID" in fid.notes["dataset_feature_fid"]

    kid = _kid(KidParams(weights=cache, num_subsets=5, subset_size=32, **TINY), None)
    k_same = kid(real=real, fake=real)["dataset_feature_kid"]
    k_diff = kid(real=real, fake=noise)["dataset_feature_kid"]
    assert abs(k_same) < 0.05 * k_diff and "dataset_feature_kid_std" in kid(real=real, fake=other)

    pr = _pr(PrecisionRecallParams(weights=cache, **TINY), None)
    same = pr(real=real, fake=real)
    assert same["dataset_feature_precision"] == same["dataset_feature_recall"] == 1.0
    assert {f"dataset_feature_precision_level{i}" for i in (1, 2, 3)} <= set(same)
    bad = pr(real=real, fake=noise)
    assert bad["dataset_feature_precision"] < 0.2


def test_cache_is_reused(cache):
    x = images(8, 3)
    a = _fid(FidParams(weights=cache, **TINY), None).features(x)
    b = _fid(FidParams(weights=cache, **{**TINY, "train_steps": 10_000}), None).features(x)
    assert torch.equal(a, b)  # loaded from the file, not retrained for 10k steps


def test_errors():
    with pytest.raises(SpecError, match="inception needs params.weights"):
        _fid(FidParams(features="inception"), None)
    with pytest.raises(SpecError, match="unknown dataset type 'nope'"):
        _fid(FidParams(dataset="nope"), None)
    fid = _fid(FidParams(**TINY), type("Ctx", (), {"registry": None})())  # cached in LDMCORE_CACHE
    with pytest.raises(DataError, match="at least 2"):
        fid(real=images(4, 1), fake=images(1, 1))


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LDMCORE_CACHE", str(tmp_path))
