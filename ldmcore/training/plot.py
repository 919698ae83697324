"""Loss curves from run_dir/metrics.jsonl, drawn with matplotlib (Agg) into a PNG."""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import DataError
from .metrics import METRICS_FILE, read_metrics

_NOT_CURVES = {"step", "time", "it_s"}


def _smooth(values: list[float], weight: float) -> list[float]:
    out, last = [], None
    for v in values:
        last = v if last is None or not math.isfinite(last) else weight * last + (1 - weight) * v
        out.append(last)
    return out


def plot_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    path = run_dir / METRICS_FILE
    if not path.is_file():
        raise DataError(f"{run_dir}: no {METRICS_FILE} (not a training run directory)")
    rows = read_metrics(path)
    keys = sorted({k for r in rows for k, v in r.items()
                   if k not in _NOT_CURVES and isinstance(v, (int, float))})
    keys.sort(key=lambda k: (k != "loss", k))
    if not rows or not keys:
        raise DataError(f"{path}: no metrics logged yet")
    cols = min(3, len(keys))
    nrows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.0 * nrows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
        steps, values = [p[0] for p in pts], [p[1] for p in pts]
        ax.plot(steps, values, color="tab:blue", alpha=0.3, linewidth=1)
        ax.plot(steps, _smooth(values, 0.9 if len(values) > 50 else 0.6), color="tab:blue")
        finite = [v for v in values if math.isfinite(v)]
        if finite and min(finite) > 0 and max(finite) / min(finite) > 100:
            ax.set_yscale("log")
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.suptitle(str(run_dir))
    fig.tight_layout()
    out = Path(out) if out else run_dir / "loss.png"
    if out.suffix.lower() != ".png":
        plt.close(fig)
        raise DataError(f"--out {out}: expected a .png file name")
    tmp = out.with_name(f".{out.name}.tmp")
    try:  # atomic: an existing plot is replaced whole or not at all
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.is_dir():
            raise IsADirectoryError(21, "is a directory")
        fig.savefig(tmp, dpi=100, format="png")
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return out


def plot_runs(root: str | Path, out: str | Path | None = None) -> list[Path]:
    """Plot `root` if it is a run, else every run one level below it (e.g. both stages)."""
    root = Path(root)
    if not root.is_dir():
        what = "no such directory" if not root.exists() else "not a directory"
        raise DataError(f"{root}: {what} (expected a training run directory)")
    if (root / METRICS_FILE).is_file():
        return [plot_run(root, out)]
    runs = sorted(p.parent for p in root.glob(f"*/{METRICS_FILE}"))
    if not runs:
        raise DataError(f"{root}: no {METRICS_FILE} here or one level below")
    if out and len(runs) > 1:
        out = Path(out)
        return [plot_run(r, out.with_name(f"{out.stem}_{r.name}{out.suffix}")) for r in runs]
    return [plot_run(r, out) for r in runs]
