"""Classifier-free guidance scale sweep on a shipped card (LDM Sec. 4.3, Fig. / Tab. 3 use).

The paper's claim: guidance ε̂ = ε(z, ∅) + s (ε(z, y) − ε(z, ∅)) with s > 1 raises the fidelity of
conditional samples at some cost in diversity (FID). On the shapes world fidelity is exact: the
share of samples that show the requested class / caption (`fidelity.accuracy`), next to the
dataset-feature FID and its real-vs-real floor at the same n.

Every scale samples the same held-out items from the same noise (seed), so the rows differ only by
s. The table lands in benchmarks/cfg_sweep.md (between the card's markers) and the raw numbers
in benchmarks/cfg_sweep.json; `--record` also writes the sweep onto the card
(registry/models/NAME.yaml, key `cfg_sweep`; the weights and their sha256 do not change).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cfg_sweep.py shapes-txt2img \\
        --scales 1 1.5 2 3 4 -n 200 --record
    .venv/bin/python benchmarks/cfg_sweep.py shapes-txt2img --report-only --record
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT_JSON = REPO / "benchmarks" / "cfg_sweep.json"
OUT_MD = REPO / "benchmarks" / "cfg_sweep.md"
#: the columns of the table: (metric key of `ldm eval`, heading)
COLUMNS = [
    ("fidelity.accuracy", "accuracy"),
    ("fidelity.relation_accuracy", "relation"),
    ("fid.dataset_feature_fid", "FID"),
    ("fid.dataset_feature_fid_floor", "FID floor"),
]


def sweep(card: str, scales: list[float], n: int, seed: int, evaluators: list[str]) -> dict:
    """`ldm eval` of `card` at each guidance scale: {"rows": [{"scale", "metrics", "s"}], ...}."""
    import torch

    from ldmcore.evaluation import evaluate
    from ldmcore.sources import open_model

    torch.set_num_threads(1)
    rows = []
    for scale in scales:
        model = open_model(card, [f"guider.params.scale={scale}"]).eval()
        started = time.perf_counter()
        result = evaluate(model, num_samples=n, seed=seed, evaluators=evaluators, progress=False)
        took = time.perf_counter() - started
        rows.append({"scale": scale, "seconds": round(took, 1),
                     "metrics": {k: round(v, 4) for k, v in result.metrics.items()}})
        print(f"  scale {scale:g}: " + ", ".join(
            f"{head} {result.metrics[key]:.3f}" for key, head in COLUMNS
            if key in result.metrics) + f"  ({took:.0f} s)", flush=True)
    spec = model.spec
    return {"card": card, "num_samples": n, "seed": seed, "sampler": spec.sampler.type,
            "steps": spec.sampler.params.steps, "evaluators": evaluators, "rows": rows}


def best_scale(result: dict) -> float:
    """The scale a card should default to: the lowest FID among the scales whose accuracy p is
    not below the best p* by more than one standard error of the difference of two
    proportions, sqrt((p* (1 - p*) + p (1 - p)) / n)."""
    n, rows = result["num_samples"], result["rows"]
    top = max(r["metrics"]["fidelity.accuracy"] for r in rows)

    def close(p: float) -> bool:
        return top - p <= ((top * (1 - top) + p * (1 - p)) / n) ** 0.5

    near = [r for r in rows if close(r["metrics"]["fidelity.accuracy"])]
    return min(near, key=lambda r: r["metrics"].get("fid.dataset_feature_fid", 0))["scale"]


def table(result: dict) -> str:
    """The sweep as a markdown table, one row per scale, the best accuracy in bold."""
    shown = [(k, h) for k, h in COLUMNS if any(k in r["metrics"] for r in result["rows"])]
    best = max(r["metrics"].get("fidelity.accuracy", 0) for r in result["rows"])
    lines = ["| scale | " + " | ".join(h for _, h in shown) + " |",
             "|---:|" + "---:|" * len(shown)]
    for row in result["rows"]:
        cells = []
        for key, _ in shown:
            value = row["metrics"].get(key)
            text = "–" if value is None else f"{value:.3f}"
            bold = key == "fidelity.accuracy" and value == best
            cells.append(f"**{text}**" if bold else text)
        lines.append(f"| {row['scale']:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(result: dict) -> None:
    """Replace this card's section of cfg_sweep.md and its entry of cfg_sweep.json."""
    data = json.loads(OUT_JSON.read_text()) if OUT_JSON.is_file() else {}
    data[result["card"]] = result
    OUT_JSON.write_text(json.dumps(data, indent=2) + "\n")
    start, end = f"<!-- {result['card']}:start -->", f"<!-- {result['card']}:end -->"
    section = (f"{start}\n### {result['card']}\n\n`ldm eval {result['card']} -n "
               f"{result['num_samples']}` per scale ({result['sampler']} {result['steps']} steps, "
               f"seed {result['seed']}, the same items and noise for every scale):\n\n"
               f"{table(result)}\n\nBest scale (the lowest FID among the scales whose accuracy "
               f"is within one standard error of a difference from the best): "
               f"**{best_scale(result):g}**.\n{end}")
    text = OUT_MD.read_text() if OUT_MD.is_file() else "# Classifier-free guidance sweeps\n"
    if start in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    OUT_MD.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("card", help="a shipped card with a cfg guider (shapes-txt2img)")
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 1.5, 2, 3, 4])
    parser.add_argument("-n", "--num-samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--evaluators", nargs="+", default=["fidelity", "fid"])
    parser.add_argument("--record", action="store_true",
                        help="also write the sweep onto the card (key cfg_sweep)")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the report from cfg_sweep.json, sampling nothing")
    args = parser.parse_args(argv)
    if args.report_only:
        result = json.loads(OUT_JSON.read_text())[args.card]
    else:
        print(f"CFG sweep of {args.card}, n={args.num_samples}, scales {args.scales}",
              flush=True)
        result = sweep(args.card, args.scales, args.num_samples, args.seed, args.evaluators)
    result["best_scale"] = best_scale(result)
    write_report(result)
    print(table(result))
    print(f"best scale: {result['best_scale']:g}")
    if args.record:
        from ldmcore import cards

        print(f"wrote {cards.record(args.card, 'cfg_sweep', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
