"""Image-guided convolutional sampling (LDM Appendix C, Fig. 14), small, on the shapes world.

An unconditional model samples at 2× its training size (64² from a 32² model: a 16×16 latent of
an 8×8-trained denoiser) and is guided by a held-out 32² image y through
    ε̂ = ε − s √(1−ᾱ_t) ∇_{z_t} log p(y | z_t),   log p(y | z_t) = −½ ‖y − T(D(ẑ0(z_t)))‖²
with T the antialiased bicubic downsampling 64² → 32² (the `image_l2` guider). Until an
unconditional model ships, the model is the shipped shapes-txt2img with the empty caption: its
unconditional branch (it was trained with 10 % caption dropout to the empty input).

y is a real held-out image: item i of the validation split rendered at 32². Its ground truth at 2×
is the same scene rendered at 64² by the shapes world (it renders any resolution), so the samples
are scored against a true 2× image, not an upsampling of y.

Measured per guidance setting (no guidance, then several scales s; the same initial noise for all):
    ‖y − T(x̂)‖      RMS per value in [-1, 1] units (the guided quantity; x̂ = the final sample)
    PSNR / SSIM      x̂ against the 64² ground truth (images in [0, 1])
    detail           RMS of x̂ − up(T(x̂)) (what lies above y's band; up = bicubic 32² → 64²),
                     next to the ground truth's: texture noise shows as detail above the truth's
and, as references, bicubic upsampling of y (PSNR / SSIM) and T(ground truth) against y (the
floor of ‖y − T(x̂)‖ for a perfect 2× image: the 64² render is not exactly y once downsampled).

The results land in benchmarks/image_guidance.{json,png} and in the generated part of
benchmarks/image_guidance.md (between its `results` markers; the text around them is kept).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/image_guidance.py          # ~6 min, one core
    .venv/bin/python benchmarks/image_guidance.py --report-only               # rebuild the report
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "registry" / "models" / "shapes-txt2img.safetensors"
OUT = REPO / "benchmarks"
START, END = "<!-- results:start -->", "<!-- results:end -->"
_T0 = time.perf_counter()


def note(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def held_out(model: Any, n: int, first: int) -> tuple[Any, Any]:
    """(y at the training size, the same scenes at 2×): items first.. of the validation split."""
    import torch
    from ldm_plugin_shapes.dataset import ShapesDataset
    from ldm_plugin_shapes.params import ShapesParams

    params = model.spec.training.val_dataset.params
    params = params if isinstance(params, dict) else params.model_dump()
    size = model.spec.image_size
    out = []
    for side in (size, 2 * size):
        ds = ShapesDataset(ShapesParams(**{**params, "size": side}), side)
        out.append(torch.stack([ds[first + i]["image"] for i in range(n)]))
    return out[0], out[1]


def scores(x, y, truth) -> dict[str, float]:
    """Mean over images of the quantities in the module docstring."""
    from ldm_plugin_metrics.pixel import psnr, ssim
    from ldm_plugin_samplers.image_guidance import degrade
    from torch.nn import functional as F

    low = degrade(x, tuple(y.shape[-2:]), "bicubic")
    up = F.interpolate(low, size=x.shape[-2:], mode="bicubic", align_corners=False)
    x01, t01 = (x + 1) / 2, (truth + 1) / 2
    return {
        "y_rmse": (y - low).pow(2).flatten(1).mean(1).sqrt().mean().item(),
        "psnr": psnr(t01, x01.clamp(0, 1)).mean().item(),
        "ssim": ssim(t01, x01.clamp(0, 1)).mean().item(),
        "detail": (x - up).pow(2).flatten(1).mean(1).sqrt().mean().item(),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from torch.nn import functional as F

    import ldmcore
    from ldmcore.viz import save_grid

    torch.set_num_threads(1)
    base = ldmcore.load(MODEL, ["guider.type=none"])
    y, truth = held_out(base, args.n, args.first)
    size = base.spec.image_size
    latent = tuple(2 * s for s in base.latent_shape[1:])
    note(f"{args.n} held-out images, y {size}², truth {2 * size}², latent {latent}")

    up_y = F.interpolate(y, size=truth.shape[-2:], mode="bicubic", align_corners=False)
    refs = {"bicubic_up_y": scores(up_y.clamp(-1, 1), y, truth),
            "truth": scores(truth, y, truth)}
    rows, samples = [], {}
    settings = [("none", 0.0)] + [(args.transform, s) for s in args.scales]
    for transform, scale in settings:
        if transform == "none":
            model, guidance = base, None
        else:
            overrides = ["guider.type=image_l2", f"guider.params.scale={scale}",
                         f"guider.params.transform={transform}"]
            model, guidance = ldmcore.load(MODEL, overrides), {"y": y}
        model.eval()
        t0 = time.perf_counter()
        x = model.sample({"caption": [""] * args.n}, latent_size=latent, guidance=guidance,
                         steps=args.steps, progress=False,
                         generator=torch.Generator().manual_seed(args.seed))
        seconds = time.perf_counter() - t0
        row = {"guider": "none" if transform == "none" else "image_l2", "transform": transform,
               "scale": scale, "seconds": round(seconds, 1), **scores(x, y, truth)}
        rows.append(row)
        samples[f"{transform}:{scale}"] = x
        note(f"{transform} s={scale}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()
                                                       if isinstance(v, float)))

    # the grid: per image y (nearest 2×), truth, bicubic(y), then every setting
    show = min(args.n, args.grid_rows)
    cols = [F.interpolate(y[:show], scale_factor=2, mode="nearest"), truth[:show],
            up_y[:show].clamp(-1, 1)] + [samples[f"{t}:{s}"][:show] for t, s in settings]
    names = [f"y {size}x{size}", f"truth {2 * size}x{2 * size}", "bicubic(y)"] + [
        "none" if t == "none" else f"s={s:g}" for t, s in settings]
    cells = torch.stack(cols, 1).flatten(0, 1)
    if args.name == "main":
        save_grid(cells, OUT / "image_guidance.png", nrow=len(cols), captions=names * show,
                  upscale=2)

    best = max((r for r in rows if r["guider"] != "none"), key=lambda r: r["psnr"])
    return {
        "model": str(MODEL.relative_to(REPO)),
        "n": args.n, "first_item": args.first, "steps": args.steps, "sampler": "ddim",
        "seed": args.seed, "y_size": size, "sample_size": 2 * size, "latent_size": list(latent),
        "threads": 1, "machine": f"{platform.machine()}, {os.cpu_count()} cpus (shared)",
        "torch": torch.__version__, "references": refs, "rows": rows,
        "best_scale_by_psnr": best["scale"],
        "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/image_guidance.py " + " ".join(
            sys.argv[1:]),
    }


def report(runs: dict[str, dict[str, Any]]) -> str:
    order = sorted(runs, key=lambda name: (name != "main", name))  # main first
    return "\n\n".join(f"### {name}\n\n{table(runs[name], name == 'main')}" for name in order)


def table(data: dict[str, Any], picture: bool) -> str:
    r = data["references"]
    lines = [
        f"`{data['command'].strip()}` — {data['model']}, empty caption, {data['n']} held-out "
        f"validation images (items {data['first_item']}…{data['first_item'] + data['n'] - 1}), "
        f"DDIM {data['steps']} steps, sampled at {data['sample_size']}² (latent "
        f"{data['latent_size'][0]}×{data['latent_size'][1]}), y at {data['y_size']}², "
        f"{data['threads']} thread, {data['machine']}, torch {data['torch']}.",
        "",
        "| guidance | T | s | ‖y − T(x̂)‖ (RMS) | PSNR vs 2× truth (dB) | SSIM | detail | "
        "time (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in data["rows"]:
        s = "—" if row["guider"] == "none" else f"{row['scale']:g}"
        t = "—" if row["guider"] == "none" else row["transform"]
        lines.append(
            f"| {row['guider']} | {t} | {s} | {row['y_rmse']:.4f} | {row['psnr']:.2f} | "
            f"{row['ssim']:.3f} | {row['detail']:.4f} | {row['seconds']:.0f} |"
        )
    lines += [
        f"| *reference:* bicubic upsampling of y | | | {r['bicubic_up_y']['y_rmse']:.4f} | "
        f"{r['bicubic_up_y']['psnr']:.2f} | {r['bicubic_up_y']['ssim']:.3f} | "
        f"{r['bicubic_up_y']['detail']:.4f} | |",
        f"| *reference:* the 2× truth itself | | | {r['truth']['y_rmse']:.4f} | ∞ | 1.000 | "
        f"{r['truth']['detail']:.4f} | |",
        "",
        f"Best scale by PSNR against the 2× truth: **s = {data['best_scale_by_psnr']:g}**.",
    ]
    if picture:
        lines += ["", "Rows: held-out images; columns: y (shown 2×, nearest), the 2× truth, "
                  "bicubic(y), no guidance, then each scale s (same initial noise).", "",
                  "![y, truth, bicubic(y), no guidance, then each scale](image_guidance.png)"]
    return "\n".join(lines)


def write_markdown(path: Path, generated: str) -> None:
    block = f"{START}\n{generated}\n{END}"
    if path.is_file() and START in (text := path.read_text()) and END in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = f"# Image-guided convolutional sampling (LDM Appendix C)\n\n{block}\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=8, help="held-out images")
    ap.add_argument("--first", type=int, default=0, help="first validation item")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scales", type=float, nargs="+", default=[0.1, 0.3, 0.5, 0.7, 1.0, 1.5, 3.0])
    ap.add_argument("--transform", default="bicubic", choices=["bicubic", "area", "identity"])
    ap.add_argument("--grid-rows", type=int, default=4, help="images shown in the PNG")
    ap.add_argument("--name", default="main",
                    help="results key in the JSON; only 'main' draws the PNG")
    ap.add_argument("--report-only", action="store_true", help="rebuild the .md from the .json")
    args = ap.parse_args(argv)
    path = OUT / "image_guidance.json"
    runs = json.loads(path.read_text())["runs"] if path.is_file() else {}
    if not args.report_only:
        runs[args.name] = run(args)
        path.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    write_markdown(OUT / "image_guidance.md", report(runs))
    print(report(runs))


if __name__ == "__main__":
    main()
