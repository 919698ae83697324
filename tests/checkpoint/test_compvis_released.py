"""Every released CompVis / SD config imports, validates, and takes its checkpoint strictly.

tests/fixtures/compvis/released/ holds the configs of CompVis/latent-diffusion (models/ldm,
models/first_stage_models, configs/latent-diffusion), SD v1 (v1-inference.yaml) and SD v2
(v2-inference(-v).yaml) and, per config, the key/shape manifest of the state dict the ORIGINAL
code builds from it (full size, on the meta device). Here the imported spec is built full size
on the meta device and the manifest, as a checkpoint, must load with nothing missing,
unexpected or mis-shaped.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch

from ldmcore.builder import build
from ldmcore.checkpoint.compvis import compvis_to_model, default_conditioner
from ldmcore.checkpoint.compvis_config import import_config, validate
from ldmcore.checkpoint.loading import check

RELEASED = Path(__file__).resolve().parents[1] / "fixtures" / "compvis" / "released"
CONFIGS = sorted(p.stem for p in RELEASED.glob("*.yaml"))


def _manifest(name: str) -> dict[str, torch.Tensor]:
    with gzip.open(RELEASED / f"{name}.json.gz", "rt") as fh:
        shapes = json.load(fh)
    return {k: torch.empty(s, device="meta") for k, s in shapes.items()}


def test_every_released_config_has_a_manifest():
    assert len(CONFIGS) >= 30
    assert all((RELEASED / f"{n}.json.gz").is_file() for n in CONFIGS)


@pytest.mark.parametrize("name", CONFIGS)
def test_imports_validates_and_loads_strictly(name, monkeypatch):
    from ldmcore.checkpoint import report as report_module

    # meta tensors carry shapes, no values: the loader's finiteness check has nothing to read
    monkeypatch.setattr(report_module, "_finite", lambda t: True)
    imported = import_config(RELEASED / f"{name}.yaml")
    validate(imported)
    with torch.device("meta"):
        model = build(imported.spec)
    fs = model.first_stage  # scalar buffers the load report reads: real values, not meta
    fs.scale_factor = torch.tensor(float(imported.spec["first_stage"]["params"]["scale_factor"]))
    fs.shift_factor = torch.tensor(0.0)
    state = _manifest(name)
    cond = default_conditioner(model)
    mapped = compvis_to_model(state, conditioners=[cond] if cond else list(model.conditioners),
                              expected=model.state_dict().keys(), source=name)
    report, _ = check(model, mapped)
    assert report.ok, f"{name}: {report.summary()}"
    if imported.spec["conditioners"]:
        assert any(k.startswith("conditioners.") for k in mapped.state) or name.startswith(
            ("inpainting", "bsr_sr"))


def test_inpainting_import_keeps_the_original_hole_value():
    imported = import_config(RELEASED / "inpainting_big.yaml")
    assert imported.spec["task"] == {"type": "inpainting", "params": {"masked_fill": -1.0}}


def test_what_cannot_be_expressed_is_listed():
    bare = import_config(RELEASED / "vq-f4.yaml")
    assert any("first-stage model only" in u for u in bare.unsupported)
    sd2 = import_config(RELEASED / "v2-inference-v.yaml")
    assert sd2.spec["diffusion"]["prediction"] == "v"
    assert sd2.spec["conditioners"]["text"]["params"]["layer"] == "penultimate"
    assert any("training" in n for n in sd2.notes)
