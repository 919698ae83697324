"""`ldm plot RUN_DIR [--out FILE]`: loss curves of a training run (metrics.jsonl) as a PNG."""

from __future__ import annotations

import argparse

HELP = "draw the loss curves of a training run directory to a PNG"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory (holding metrics.jsonl), or a parent "
                                        "of several (e.g. <output_dir> with both stages)")
    parser.add_argument("--out", default=None,
                        help="output PNG (default: RUN_DIR/loss.png, one per run)")


def run(args: argparse.Namespace) -> int:
    from ..training.plot import plot_runs

    for path in plot_runs(args.run_dir, args.out):
        print(path)
    return 0
