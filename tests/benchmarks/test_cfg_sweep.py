"""benchmarks/cfg_sweep.py: a real (tiny) sweep on the shipped class2img card, its report and
the card record. No timing assertions."""

from __future__ import annotations

import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cfg_sweep.py"


def test_guidance_scale_changes_the_samples_and_the_report_shows_each_scale(bench, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(bench, "OUT_JSON", tmp_path / "sweep.json")
    monkeypatch.setattr(bench, "OUT_MD", tmp_path / "sweep.md")
    result = bench.sweep("shapes-class2img", [0.0, 2.0], n=8, seed=0, evaluators=["fidelity"])
    low, high = (r["metrics"]["fidelity.accuracy"] for r in result["rows"])
    assert (result["num_samples"], result["sampler"]) == (8, "ddim")
    # scale 0 is the unconditional branch: 12 classes, so about 1 in 12 by chance (0 of 8 here)
    assert low <= 0.25 and high >= 0.75
    bench.write_report(result)
    bench.write_report(result)  # the card's section is replaced, not appended
    text = (tmp_path / "sweep.md").read_text()
    assert text.count("### shapes-class2img") == 1
    assert "| 0 |" in text and "| 2 |" in text and "**" in text
    assert json.loads((tmp_path / "sweep.json").read_text())["shapes-class2img"] == result


def test_table_marks_the_best_accuracy(bench):
    rows = [{"scale": s, "metrics": {"fidelity.accuracy": a}} for s, a in [(1, 0.8), (2, 0.9)]]
    lines = bench.table({"rows": rows}).splitlines()
    assert lines[2] == "| 1 | 0.800 |" and lines[3] == "| 2 | **0.900** |"


def test_best_scale_is_the_lowest_fid_among_scales_as_accurate_as_the_best(bench):
    def sweep(*rows):
        return {"num_samples": 200, "rows": [
            {"scale": s, "metrics": {"fidelity.accuracy": a, "fid.dataset_feature_fid": f}}
            for s, a, f in rows]}

    # shapes-class2img's sweep: 1.5 is 0.015 below 4 (one SE of the difference: 0.022) at a
    # third of the FID; 2 is 0.025 below (SE 0.023)
    assert bench.best_scale(sweep((1, .87, 3.7), (1.5, .94, 5.6), (2, .93, 7.5),
                                  (3, .94, 10.4), (4, .955, 16.2))) == 1.5
    # shapes-txt2img's: 2 is best on both; 1.5 is 0.03 below (SE 0.029)
    assert bench.best_scale(sweep((1, .845, 7.0), (1.5, .895, 5.5), (2, .925, 5.0),
                                  (3, .905, 6.8), (4, .885, 10.1))) == 2
