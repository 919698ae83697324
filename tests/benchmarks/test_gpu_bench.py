"""benchmarks/gpu_bench.py: skips cleanly without CUDA; its two measurements run (tiny, CPU).
No timing assertions."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("ldm_plugin_unet")
pytest.importorskip("ldm_plugin_conditioners")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_bench.py"


def test_skips_with_a_message_without_cuda(bench, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.main([]) == 0
    assert "no CUDA device" in capsys.readouterr().out


def test_sampling_throughput_rows(bench):
    lines = bench.bench_sampling([1, 2], latent=8, steps=2, repeats=1, device="cpu")
    rows = [ln for ln in lines if ln.startswith("| 1 ") or ln.startswith("| 2 ")]
    assert len(rows) == 2
    assert all(float(r.split("|")[4]) > 0 and "bit-identical" in r for r in rows)  # images/s


def test_training_step_counts_flops(bench):
    row = bench.bench_training("shapes-txt2img", 1, peak=1.0, device="cpu", batch_size=2)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == "shapes-txt2img" and cells[1] == "2"
    assert float(cells[3]) > 0.1  # GFLOP per step: a real forward + backward was counted
    assert cells[5].endswith("%")
