"""2-process DDP (gloo, CPU, torchrun) gives the parameters of 1 process with the same batch.

The global batch of 4 is cut into shards of 2: on 2 processes each rank runs one shard; in one
process the same two shards run as 2 gradient-accumulation steps. Data order and noise are keyed
to the shard (data.py / loop.py), so the two runs must agree up to float summation order.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ldmcore.training.checkpointing import latest_checkpoint, load_checkpoint
from ldmcore.training.metrics import read_metrics

HERE = Path(__file__).parent


def _floats(state: dict) -> dict:
    """Parameters and EMA, not BatchNorm running statistics (per-rank by design)."""
    return {k: v for k, v in state.items() if v.is_floating_point() and "running_" not in k}


def test_two_process_gloo_matches_one_process(tmp_path, toys, registry):
    sys.path.insert(0, str(HERE))
    try:
        from ddp_worker import RUNS, run_all
    finally:
        sys.path.remove(str(HERE))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the torchrun ranks below: same kernels, same float order
    try:
        single = run_all(str(tmp_path / "one"), registry, grad_accum=2)
    finally:
        torch.set_num_threads(threads)

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", str(HERE / "ddp_worker.py"), str(tmp_path / "two"), "1"]
    for _ in range(2):
        shutil.rmtree(tmp_path / "two", ignore_errors=True)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        # a rank can abort inside gloo's C++ code on a loaded machine ("terminate called
        # without an active exception", SIGABRT; 1 of 3 CI runs on 2026-12-03, 0 of 3 reruns
        # alone): that crash, and only that one, gets a second run from scratch
        if proc.returncode == 0 or "terminate called without an active exception" not in (
                proc.stderr):
            break
    assert proc.returncode == 0, proc.stderr[-3000:]

    for name, result in single.items():
        two_dir = tmp_path / "two" / name / RUNS[name][0]
        one, two = load_checkpoint(result.checkpoint), load_checkpoint(latest_checkpoint(two_dir))
        assert one["step"] == two["step"] == 3
        parts = ["model", "ema"] if RUNS[name][0] == "diffusion" else ["model", "loss"]  # disc
        if name == "noisy":  # the latent scale estimated on 2 ranks = on 1 process
            sf = "first_stage.scale_factor"
            assert one["model"][sf].item() != 1.0
            torch.testing.assert_close(two["model"][sf], one["model"][sf], rtol=1e-6, atol=0)
        for part in parts:
            a, b = _floats(one[part]), _floats(two[part])
            assert a.keys() == b.keys() and len(a) > 3
            for k in a:
                torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6, msg=f"{part}.{k}")
        l1 = [r["loss"] for r in read_metrics(result.run_dir / "metrics.jsonl")]
        l2 = [r["loss"] for r in read_metrics(two_dir / "metrics.jsonl")]
        assert len(l2) == 3  # only rank 0 writes; values averaged over the ranks
        assert l2 == pytest.approx(l1, rel=1e-5)
