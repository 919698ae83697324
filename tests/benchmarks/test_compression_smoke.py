"""Smoke test of benchmarks/compression.py at toy size: every stage runs, results are cached."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
import yaml

os.environ["HF_HUB_OFFLINE"] = "1"
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "compression.py"


@pytest.fixture(scope="module")
def compression():
    spec = importlib.util.spec_from_file_location("compression_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_first_stage_nodes_have_the_requested_factor(compression):
    assert compression.first_stage_node(1) == {"type": "identity"}
    for f, length in ((2, 2), (4, 3), (8, 4)):
        node = compression.first_stage_node(f)
        assert node["type"] == "kl" and len(node["params"]["ch_mult"]) == length
        assert 2 ** (length - 1) == node["params"]["f"] == f
    with pytest.raises(ValueError):
        compression.first_stage_node(16)


def test_specs_share_everything_but_the_first_stage(compression):
    args = compression.parse_args(["--steps", "10", "--width", "64", "--root", "/x"])
    base = yaml.safe_load(compression.BASE_SPEC.read_text())
    specs = {f: compression.model_spec(base, f, args) for f in (1, 4)}
    for spec in specs.values():
        assert spec["denoiser"]["params"]["model_channels"] == 64
        assert spec["training"]["steps"] == 10
    a, b = (dict(s) for s in specs.values())
    for s in (a, b):
        s.pop("first_stage")
        s["training"] = {k: v for k, v in s["training"].items()
                         if k not in ("output_dir", "scale_factor")}
    assert a == b
    assert specs[1]["training"]["scale_factor"] == "keep"  # pixels stay in [-1, 1]
    assert specs[4]["training"]["scale_factor"] == "auto"
    assert specs[4]["training"]["output_dir"] == "/x/ldm4"


def test_segments_end_at_the_budget(compression):
    assert compression.segment_steps(800, 2) == [400, 800]
    assert compression.segment_steps(3, 5) == [1, 2, 3]
    assert compression.segment_steps(5, 1) == [5]


def test_verdicts_follow_the_numbers(compression):
    models = {
        "1": {"train_samples_s": 10.0, "sample_samples_s": 1.0, "fid": 50.0, "psnr": None},
        "4": {"train_samples_s": 40.0, "sample_samples_s": 3.0, "fid": 20.0, "psnr": 25.0},
        "8": {"train_samples_s": 50.0, "sample_samples_s": 4.0, "fid": 30.0, "psnr": 18.0},
    }
    got = {v["claim"].split(" ")[0] + str(i): v["holds"]
           for i, v in enumerate(compression.verdicts(models))}
    assert list(got.values()) == [True, True, True, True, True]
    models["8"]["fid"] = 60.0  # worse than pixels: not better, and compression hurts
    holds = [v["holds"] for v in compression.verdicts(models)]
    assert holds == [True, True, True, False, True]
    models["4"]["sample_samples_s"] = 2.0  # 2x: below the paper's 2.7x
    assert compression.verdicts(models)[0]["holds"] is False


def test_markdown_block_is_replaced_not_duplicated(compression, tmp_path):
    md = tmp_path / "c.md"
    compression.write_markdown(md, "first")
    md.write_text("# Title\n\nmy notes\n\n" + md.read_text().split("\n\n", 2)[2] + "\ntail\n")
    compression.write_markdown(md, "second")
    text = md.read_text()
    assert "my notes" in text and "tail" in text and "second" in text
    assert "first" not in text and text.count(compression.START) == 1


def test_toy_run_end_to_end_and_cached(compression, tmp_path):
    root, out = tmp_path / "runs", tmp_path / "out"
    argv = ["--models", "1,2", "--steps", "2", "--segments", "2", "--ae-steps", "1",
            "--batch-size", "4", "--eval-samples", "6", "--sampler-steps", "2",
            "--bench-rounds", "1", "--bench-steps", "1", "--fid-train-steps", "2",
            "--fid-weights", str(tmp_path / "fid.safetensors"), "--root", str(root),
            "--out", str(out), "--no-progress"]
    results = compression.main(argv)
    assert set(results["models"]) == {"1", "2"}
    m1, m2 = results["models"]["1"], results["models"]["2"]
    assert m1["latent"] == [3, 32, 32] and m2["latent"] == [3, 16, 16]
    assert [e["step"] for e in m2["evals"]] == [1, 2]
    assert m2["psnr"] is not None and m1["psnr"] is None
    assert m1["train_samples_s"] > 0 and m2["sample_samples_s"] > 0
    for e in m1["evals"] + m2["evals"]:
        assert 0.0 <= e["shape_rate"] <= 1.0 and 0.0 <= e["object_rate"] <= 1.0
    saved = json.loads((out / "compression.json").read_text())
    assert saved["config"]["segments"] == [1, 2]
    assert (out / "compression.png").stat().st_size > 0
    assert "| LDM-2 | 3×16×16 |" in (out / "compression.md").read_text()
    export = root / "ldm2" / "first_stage" / "first_stage.safetensors"
    stamp = export.stat().st_mtime_ns
    again = compression.main(argv)  # everything cached: nothing retrains
    assert export.stat().st_mtime_ns == stamp
    assert again["models"]["2"]["evals"] == m2["evals"]
    assert again["config"]["invocations"] == 2
