"""benchmarks/cast_cache.py at toy size: it runs, times each case and reports the cache size.
No timing assertions (benchmarks never assert speed)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ldm_plugin_unet")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cast_cache.py"


def test_quick_run_prints_each_case(bench, capsys):
    assert bench.main(["--quick", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert all(f"| {case} | " in out for case in ("uncached", "cached", "first"))
    assert "cache holds 10 MiB" in out  # bf16 copy of the 5.2 M-parameter narrow UNet
