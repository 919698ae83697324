"""`make demo` (python -m ldmcore.demo): every task of the paper from its shipped card, a grid
each and the task's metric printed beside the card's number (tiny n and steps here)."""

from __future__ import annotations

import re

from ldmcore import demo


def test_demo_samples_every_task_from_its_shipped_card(tmp_path, capsys):
    assert demo.main(["--out", str(tmp_path), "--num-samples", "2", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    tasks = [task for _, task, _, _ in demo.DEMOS]
    assert len(tasks) == 7 and "UNTRAINED" not in out and "untrained" not in out
    for card, task, _, _ in demo.DEMOS:
        assert (tmp_path / f"{task}.png").stat().st_size > 1000, task
        block = out.split(f"[{task}] {card}", 1)[1].split("\n\n", 1)[0]
        # each headline metric measured here and the card's own number beside it
        first = demo.HEADLINE[task][0]
        name = first.split(".", 1)[1] if first.startswith(("fidelity.", "precision_recall.")) \
            else first
        assert re.search(rf"{re.escape(name)} \d\.\d{{3}}|{re.escape(name)} \d+\.\d{{3}}",
                         block), block
        assert "(card: " in block, block
