"""`ldm convert --to compvis` writes what the original LatentDiffusion loads strictly (#13).

The original's own state-dict manifests (tests/fixtures/compvis/) are the judge: the exported
keys and shapes must be exactly the original's (its 12 schedule buffers, model_ema.* when the
config keeps an EMA, scale_factor only with scale_by_std, inpainting's cond_stage_model copy),
with the original's values.
"""

from __future__ import annotations

import gzip
import json

import pytest
import torch

from ldmcore.builder import build
from ldmcore.checkpoint.compvis import read_compvis_ema
from ldmcore.checkpoint.compvis_config import import_config
from ldmcore.checkpoint.export import default_options, original_options, original_state
from ldmcore.checkpoint.readers import read_file
from ldmcore.sources import from_checkpoint
from ldmcore.sources.convert import convert

from .compvis_fixtures import NAMES, OVERRIDES, TINY, compvis_state, manifest, write_ckpt
from .test_compvis_released import CONFIGS, RELEASED


@pytest.mark.parametrize("name", NAMES)
def test_tiny_export_is_the_original_state_dict(name, tmp_path):
    original = compvis_state(name)
    spec = import_config(TINY / f"{name}.yaml").spec
    model = from_checkpoint(write_ckpt(name, tmp_path), spec, OVERRIDES.get(name, []))
    options = original_options(TINY / f"{name}.yaml", ema=read_compvis_ema(original))
    out = original_state(model, **options)
    assert sorted(out) == sorted(manifest(name))
    for key, want in original.items():
        got = out[key]
        assert got.shape == want.shape, key
        if want.dtype.is_floating_point:
            tol = 1e-6 * float(want.abs().max().clamp(min=1e-12))
            assert float((got.double() - want.double()).abs().max()) <= tol, key
        else:
            assert torch.equal(got, want.to(got.dtype)), key


def test_convert_cli_path_writes_a_ckpt_the_original_layout(tmp_path):
    """`ldm convert SRC DST.ckpt --spec` (default options: LatentDiffusion's use_ema) then
    reading it back gives the same weights."""
    name = "class2img"
    spec_path = tmp_path / "spec.yaml"
    from ldmcore.checkpoint.compvis_config import write_spec

    write_spec(import_config(TINY / f"{name}.yaml"), spec_path)
    dst, report = convert(write_ckpt(name, tmp_path), tmp_path / "out.ckpt", spec=spec_path)
    assert report.ok
    state, _ = read_file(dst)
    assert sorted(state) == sorted(manifest(name))  # cin: use_ema default, no scale_by_std
    back = from_checkpoint(dst, spec_path)
    first = from_checkpoint(write_ckpt(name, tmp_path), spec_path)
    for k, v in first.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k


@pytest.mark.parametrize("name", [n for n in CONFIGS if import_config(
    RELEASED / f"{n}.yaml").spec["denoiser"].get("params")])
def test_released_export_keys_are_the_originals(name):
    """Full size on the meta device: exported keys/shapes == the original's manifest."""
    imported = import_config(RELEASED / f"{name}.yaml")
    with torch.device("meta"):
        model = build(imported.spec)
    options = {**default_options(model), **{k: v for k, v in original_options(
        RELEASED / f"{name}.yaml").items() if k != "ema"}}
    out = original_state(model, **options)
    with gzip.open(RELEASED / f"{name}.json.gz", "rt") as fh:
        want = json.load(fh)
    assert sorted(out) == sorted(want)
    bad = [k for k, v in out.items() if list(v.shape) != want[k]]
    assert not bad
