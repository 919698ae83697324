"""`ldm plot RUN_DIR`: loss curves from metrics.jsonl."""

from __future__ import annotations

import json

import pytest

from ldmcore.cli.main import main


def _run(path, n=30):
    path.mkdir(parents=True)
    with open(path / "metrics.jsonl", "w") as f:
        for s in range(1, n + 1):
            f.write(json.dumps({"step": s, "loss": 1 / s, "rec": 2 / s, "lr": 1e-4,
                                "it_s": 3.0, "time": 0.0}) + "\n")


def test_plot_one_run_and_a_parent(tmp_path, capsys):
    _run(tmp_path / "exp" / "first_stage")
    _run(tmp_path / "exp" / "diffusion")
    assert main(["plot", str(tmp_path / "exp" / "diffusion")]) == 0
    png = tmp_path / "exp" / "diffusion" / "loss.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    w, h = Image.open(png).size
    assert w >= 3 * 400 and h >= 250  # loss, lr, rec panels
    assert main(["plot", str(tmp_path / "exp"), "--out", str(tmp_path / "all.png")]) == 0
    assert sorted(p.name for p in tmp_path.glob("all_*.png")) == [
        "all_diffusion.png", "all_first_stage.png"]


def test_plot_without_metrics_is_one_line(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no metrics.jsonl" in err


@pytest.mark.parametrize("n", [1])
def test_plot_single_point(tmp_path, n):
    _run(tmp_path / "r", n)
    assert main(["plot", str(tmp_path / "r")]) == 0
