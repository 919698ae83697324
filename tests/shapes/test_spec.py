"""The data and evaluator components inside a real spec: validation, key checks, building."""

import copy
import importlib
import sys
from pathlib import Path

import pytest
import torch

from ldmcore.builder import BuildContext
from ldmcore.errors import SpecError
from ldmcore.plugins.loader import register_plugin
from ldmcore.registry import PluginInfo, Registry
from ldmcore.spec.resolve import resolve_spec
from ldmcore.spec.wiring import check_wiring

sys.path.insert(0, str(Path(__file__).parents[1] / "core"))
toy_plugin = importlib.import_module("toy_plugin")


@pytest.fixture
def registry():
    reg = Registry()
    register_plugin(reg, toy_plugin, PluginInfo("toy", "ldm-plugin-toy", "0"))
    for name in ("shapes", "data", "metrics"):
        mod = importlib.import_module(f"ldm_plugin_{name}.plugin")
        register_plugin(reg, mod, PluginInfo(name, f"ldm-plugin-{name}", "0"))
    assert not reg.failures, reg.failures
    return reg


def spec(**training):
    s = copy.deepcopy(toy_plugin.TOY_SPEC)
    s["image_size"] = 16
    s["training"] = {"dataset": {"type": "shapes", "params": {"num_items": 8}}, **training}
    s["evaluators"] = {"fidelity": {"type": "shapes_fidelity", "params": {"mode": "class"}},
                       "psnr": {"type": "psnr"}}
    return s


def test_spec_with_shapes_builds_dataset_and_evaluators(registry):
    sp = resolve_spec(spec(val_dataset={"type": "shapes", "params": {"split": "val"}}),
                      registry=registry)
    ctx = BuildContext(spec=sp, wiring=check_wiring(sp), registry=registry)
    ds = ctx.instantiate("dataset", sp.training.dataset, "training.dataset")
    assert len(ds) == 8 and ds[0]["image"].shape == (3, 16, 16)  # size from image_size
    ev = ctx.instantiate("evaluator", sp.evaluators["fidelity"], "evaluators.fidelity")
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=8)))
    assert ev(images=batch["image"], batch=batch)["accuracy"] == 1.0


def test_missing_batch_key_names_it(registry):
    s = spec()
    s["training"]["dataset"] = {"type": "image_folder", "params": {"root": "/nowhere"}}
    with pytest.raises(SpecError, match="batch key 'class' is not provided.*image_folder"):
        resolve_spec(s, registry=registry)
    s["training"]["dataset"]["params"]["labels"] = "dirs"
    resolve_spec(s, registry=registry)  # validates; the folder is only read when built


def test_bad_dataset_params_name_the_path(registry):
    s = spec()
    s["training"]["dataset"]["params"]["shapes"] = ["hexagon"]
    with pytest.raises(SpecError, match="training.dataset.params.shapes"):
        resolve_spec(s, registry=registry)
