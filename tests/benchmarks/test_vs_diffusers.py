"""Smoke test of benchmarks/vs_diffusers.py at toy size: the functions run and the two sides
compute the same thing. No timing assertions (benchmarks never assert speed)."""

from __future__ import annotations

import os
from argparse import Namespace
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402

pytest.importorskip("diffusers")
pytest.importorskip("ldm_plugin_unet")
pytest.importorskip("ldm_plugin_samplers")
pytest.importorskip("ldm_plugin_conditioners")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "vs_diffusers.py"


def toy_spec(bench, **kw):
    return bench.make_spec(latent=8, model_channels=32, steps=2, max_objects=2, **kw)


def test_latency_sides_agree(bench):
    res = bench.bench_latency(toy_spec(bench), batch_size=2, steps=2, repeats=1)
    # same weights, same noise, same schedule: the final latents agree
    assert res["latent_abs_max"] > 0.1  # the randomised UNet really moves the latent
    assert res["max_abs_delta"] < 1e-3
    assert res["forward_max_abs_delta"] < 1e-4
    assert res["shape"] == [2, 4, 8, 8] and res["context"] == [4, 6, 128]
    for key in ("step", "forward"):
        assert set(res[key]) == {"ours", "diffusers", "ratio", "paired"}
        assert all(v > 0 for v in res[key].values())


def test_kl_first_stage_spec_builds(bench):
    spec = toy_spec(bench, first_stage="kl")
    model = bench.build_ours(spec)
    assert model.latent_shape == (4, 8, 8)
    with pytest.raises(ValueError, match="identity or kl"):
        bench.make_spec(first_stage="vq")


def test_memory_child_in_process(bench):
    spec = toy_spec(bench)
    model = bench.build_ours(spec)
    job = {"spec": spec, "batch": 1, "steps": 1, "threads": 1, "shape": [1, 4, 8, 8],
           "context": [2, 6, 128], "diffusers_config": bench.diffusers_config(model)}
    for side in ("torch", "ours", "diffusers"):
        rss = bench.memory_child(side, job)
        assert 0 < rss["after_import"] <= rss["after_build"] <= rss["peak"]


def test_startup_commands_and_report(bench, tmp_path, monkeypatch):
    job = {"spec": toy_spec(bench), "batch": 1, "shape": [1, 4, 8, 8], "context": [2, 6, 128],
           "diffusers_config": {}, "threads": 1}
    cmds = bench.startup_commands(job)
    assert {side for _, side, _ in cmds} == {"ours", "diffusers", "both"}
    # the floor command runs through the real timing path
    monkeypatch.setattr(bench, "startup_commands", lambda job: cmds[:1])
    [(row, side, ms)] = bench.bench_startup(job, repeats=1)
    assert side == "both" and ms > 0

    side_stats = {"ours": 1.0, "diffusers": 2.0, "ratio": 0.5, "paired": 0.5}
    mem = {"after_import": 10.0, "after_build": 20.0, "peak": 30.0, "vmhwm": 30.0}
    res = {
        "machine": bench.machine(), "load_start": (1.0, 1.0, 1.0), "load_end": (2.0, 2.0, 2.0),
        "wall_s": 1.0,
        "latency": {"step": side_stats, "forward": side_stats, "conditioner_ms": 0.1,
                    "max_abs_delta": 1e-6, "latent_abs_max": 3.0,
                    "forward_max_abs_delta": 0.0, "shape": [1, 4, 8, 8],
                    "context": [2, 6, 128], "steps": 2, "repeats": 1, "params": 1000},
        "memory": {"ours": mem, "diffusers": mem, "torch": mem},
        "startup": [("python -c pass (floor)", "both", 5.0), ("import (lazy)", "ours", 1.0),
                    ("import (lazy)", "diffusers", 4.0)],
        "args": Namespace(model_channels=32, first_stage="identity", scale=3.0,
                          memory_steps=1, startup_repeats=1),
    }
    text = bench.markdown(res)
    assert "| startup: import (lazy), ms | 1 | 4 | 0.250 | |" in text
    assert "| sampling, ms per step" in text and "load average" in text

    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\n## ldmcore vs diffusers\n\nprose\n")
    monkeypatch.setattr(bench, "README", readme)
    bench.write_readme("first", "cmd")
    bench.write_readme("second", "cmd")  # replaces the block between the markers
    out = readme.read_text()
    assert out.count(bench.BEGIN) == 1 and "second" in out and "first" not in out
