"""The paper's compression trade-off (Sec. 4.1, Fig. 6 / 7), reproduced small on the shapes world.

LDM-f for f in {1, 2, 4, 8}: LDM-1 is pixel-space diffusion (identity first stage); LDM-2/4/8 run
the same diffusion on the latent of a KL autoencoder with f = 2^(len(ch_mult)-1). The denoiser is
the same UNet for every f (benchmarks/configs/compression/base.yaml), trained for the SAME number
of steps at the same batch size, learning rate and EMA: the paper's protocol (Fig. 6 compares
at equal training steps). Equal steps hand the pixel model the most compute, since its steps are
the most expensive, so "latent is better at equal steps" implies "better at equal compute"; the
plot puts every evaluation on a training-time axis too. The autoencoders are trained first, for
equal steps among themselves, and (as in the paper) are not counted in the diffusion budget.

Measured per model:
    first stage   reconstruction PSNR (dB) and reconstruction FID on the validation images
    throughput    diffusion training samples/s (forward + backward + AdamW, encoder included) and
                  sampling samples/s (DDIM, same steps, decoder included), interleaved rounds on
                  randomly initialised copies of the models; median over rounds
    quality       after each training segment: dataset-feature FID (`fid`, features: dataset) and
                  shapes-world fidelity (`shapes_fidelity`, objects mode) on N samples

Every finished piece is cached as JSON under --root (runs/compression/): a rerun skips trained
autoencoders, finished segments (training resumes from the last checkpoint), evaluations and the
throughput bench. The results land in benchmarks/compression.{json,png} and in the generated part
of benchmarks/compression.md (between its `results` markers; the text around them is kept).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/compression.py            # ~25 min, one core
    .venv/bin/python benchmarks/compression.py --report-only                # rebuild the report
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
BASE_SPEC = REPO / "benchmarks" / "configs" / "compression" / "base.yaml"
FACTORS = (1, 2, 4, 8)
#: KL autoencoder per f: ch_mult of length log2(f) + 1; z channels as the paper's KL-f4 (3) and
#: KL-f8 (4) first stages (Table 8)
CH_MULT = {2: [1, 2], 4: [1, 2, 2], 8: [1, 2, 2, 4]}
Z_CHANNELS = {2: 3, 4: 3, 8: 4}
PAPER_SPEEDUP = 2.7
START, END = "<!-- results:start -->", "<!-- results:end -->"
_T0 = time.perf_counter()


def note(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- specs
def first_stage_node(f: int, ch: int = 32) -> dict[str, Any]:
    """The first stage of LDM-f: identity for f = 1, else a KL autoencoder with that factor."""
    if f == 1:
        return {"type": "identity"}
    if f not in CH_MULT:
        raise ValueError(f"no autoencoder for f={f}; choose one of {sorted(CH_MULT)}")
    z = Z_CHANNELS[f]
    return {"type": "kl", "params": {"ch": ch, "ch_mult": CH_MULT[f], "num_res_blocks": 1,
                                     "z_channels": z, "embed_dim": z, "resolution": 32, "f": f}}


def model_spec(base: dict[str, Any], f: int, args: argparse.Namespace,
               steps: int | None = None) -> dict[str, Any]:
    """The full spec of LDM-f: the shared base with this f's first stage and the flags applied."""
    spec = copy.deepcopy(base)
    spec["first_stage"] = first_stage_node(f, args.ae_width)
    spec["denoiser"]["params"]["model_channels"] = args.width
    spec["sampler"]["params"]["steps"] = args.sampler_steps
    t = spec["training"]
    t.update(steps=steps or args.steps, batch_size=args.batch_size,
             output_dir=str(Path(args.root) / f"ldm{f}"))
    t["stage_overrides"]["first_stage"]["steps"] = args.ae_steps
    if f == 1:  # pixel-space DDPM on x in [-1, 1] as is; latents are rescaled to unit variance
        t["scale_factor"] = "keep"
    fid = spec["evaluators"]["fid"]["params"]
    fid["weights"] = args.fid_weights
    if args.fid_train_steps:
        fid["train_steps"] = args.fid_train_steps
    return spec


def segment_steps(total: int, segments: int) -> list[int]:
    """Step counts at which training pauses for an evaluation (the last is `total`)."""
    segments = max(1, min(segments, total))
    return sorted({max(1, round(total * (k + 1) / segments)) for k in range(segments)})


# ----------------------------------------------------------------------------- cache
def read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def write_json(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")
    tmp.replace(path)  # atomic: a crash never leaves half a result behind
    return data


def _jsonable(v: Any) -> Any:
    return str(v)


def finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


# ----------------------------------------------------------------------------- stages
def train_first_stage(spec: dict, f: int, root: Path, progress: bool) -> dict[str, Any]:
    """Train the autoencoder of LDM-f (cached: root/ldm{f}/first_stage.json)."""
    from ldmcore.training import train

    done = root / f"ldm{f}" / "first_stage.json"
    if (cached := read_json(done)) is not None:
        return cached
    t0 = time.perf_counter()
    result = train(spec, stage="first_stage", resume="auto", progress=progress)
    if result.status != "done":
        raise SystemExit(f"ldm{f}: first stage stopped at step {result.step}")
    note(f"ldm{f}: first stage trained ({result.step} steps) -> {result.export}")
    return write_json(done, {"steps": result.step, "wall_s": time.perf_counter() - t0,
                             "export": str(result.export)})


def load_first_stage(spec: dict, path: str, registry: Any) -> Any:
    from ldmcore.builder import BuildContext
    from ldmcore.checkpoint.first_stage import load_first_stage as load
    from ldmcore.spec.resolve import resolve_spec
    from ldmcore.spec.wiring import check_wiring

    resolved = resolve_spec(spec, registry=registry)
    ctx = BuildContext(spec=resolved, wiring=check_wiring(resolved), registry=registry)
    fs = ctx.instantiate("first_stage", resolved.first_stage, "first_stage")
    load(fs, path, resolved)
    return fs.eval()


def val_images(spec: dict, n: int, registry: Any):
    """The first n validation images (the ones every evaluation compares against)."""
    import torch
    from torch.utils.data import default_collate

    from ldmcore.evaluation import evaluation_dataset
    from ldmcore.spec.resolve import resolve_spec

    dataset, _, _ = evaluation_dataset(resolve_spec(spec, registry=registry), registry)
    with torch.no_grad():
        return default_collate([dataset[i] for i in range(n)])["image"].float()


def reconstruction(spec: dict, f: int, export: str | None, evaluators: dict, real,
                   registry: Any, root: Path) -> dict[str, Any]:
    """PSNR (dB, posterior mode) and FID of D(E(x)) on the validation images (cached)."""
    import torch

    path = root / f"ldm{f}" / "reconstruction.json"
    if (cached := read_json(path)) is not None:
        return cached
    if export is None:  # identity: D(E(x)) = x
        return write_json(path, {"psnr": None, "fid": None, "note": "identity (lossless)"})
    fs = load_first_stage(spec, export, registry)
    with torch.no_grad():
        rec = torch.cat([fs.decode(fs.encode(real[i:i + 64])).clamp(-1, 1)
                         for i in range(0, len(real), 64)])
        out = {k: float(v) for k, v in evaluators["psnr"](real=real, fake=rec).items()}
        fid = evaluators["fid"](real=real, fake=rec, images=rec, batch={})
    return write_json(path, {"psnr": out.get("psnr", next(iter(out.values()))),
                             "fid": float(next(iter(fid.values())))})


def reference_fid(spec: dict, n: int, evaluators: dict, real, registry: Any,
                  root: Path) -> dict[str, Any]:
    """FID of n training images against the n validation images: the floor at this n."""
    from torch.utils.data import default_collate

    from ldmcore.spec.resolve import resolve_spec
    from ldmcore.training.data import build_dataset

    path = root / "reference.json"
    if (cached := read_json(path)) is not None:
        return cached
    resolved = resolve_spec(spec, registry=registry)
    train_set = build_dataset(resolved, registry, resolved.training.dataset)
    other = default_collate([train_set[i] for i in range(n)])["image"].float()
    fid = evaluators["fid"](real=real, fake=other, images=other, batch={})
    return write_json(path, {"fid_train_vs_val": float(next(iter(fid.values()))), "n": n})


def train_segment(spec: dict, f: int, step: int, root: Path, progress: bool) -> dict[str, Any]:
    """Train LDM-f's diffusion stage up to `step` (resuming), cached as train_{step}.json."""
    from ldmcore.training import train

    path = root / f"ldm{f}" / f"train_{step:06d}.json"
    if (cached := read_json(path)) is not None:
        return cached
    t0 = time.perf_counter()
    result = train(spec, stage="diffusion", resume="auto", progress=progress)
    if result.status != "done" or result.step != step:
        raise SystemExit(f"ldm{f}: diffusion stopped at step {result.step}, wanted {step}")
    metrics = result.run_dir / "metrics.jsonl"
    rates = [json.loads(line).get("it_s") for line in metrics.read_text().splitlines()]
    rates = [r for r in rates if r]
    note(f"ldm{f}: diffusion at step {step} ({time.perf_counter() - t0:.0f}s)")
    return write_json(path, {"step": step, "wall_s": time.perf_counter() - t0,
                             "trainer_it_s": statistics.median(rates) if rates else None,
                             "export": str(result.export)})


def evaluate_model(export: str, f: int, step: int, n: int, evaluators: dict, root: Path,
                   progress: bool) -> dict[str, Any]:
    """FID and fidelity of n samples of the exported model (cached as eval_{step}.json)."""
    import ldmcore
    from ldmcore.checkpoint.native import read_metadata
    from ldmcore.evaluation import evaluate, save_eval_grid

    path = root / f"ldm{f}" / f"eval_{step:06d}.json"
    if (cached := read_json(path)) is not None:
        return cached
    saved = int(read_metadata(export).get("ldmcore.step", -1))
    if saved != step:
        raise SystemExit(f"{export} holds step {saved}, not {step}: delete {path.parent} "
                         "and rerun")
    model = ldmcore.load(export).eval()
    t0 = time.perf_counter()
    result = evaluate(model, num_samples=n, batch_size=64, seed=0, progress=progress,
                      evaluators=evaluators)
    save_eval_grid(result, path.with_suffix(".png"), max_images=32)
    m = result.metrics
    note(f"ldm{f}: step {step}: " + ", ".join(f"{k}={v:.4g}" for k, v in m.items()))
    return write_json(path, {"step": step, "eval_wall_s": time.perf_counter() - t0,
                             "metrics": {k: finite(v) for k, v in m.items()}})


# ----------------------------------------------------------------------------- throughput
def bench(specs: dict[int, dict], batch_size: int, rounds: int, train_steps: int,
          registry: Any, progress: bool) -> dict[str, Any]:
    """Median samples/s of training and sampling per f, interleaved so load changes hit all."""
    import torch

    from ldmcore.builder import build

    models, opts = {}, {}
    for f, spec in specs.items():
        torch.manual_seed(0)
        models[f] = build(spec, registry=registry)
        models[f].first_stage.requires_grad_(False)
        params = [p for p in models[f].parameters() if p.requires_grad]
        opts[f] = torch.optim.AdamW(params, lr=1e-4)
    x = torch.rand(batch_size, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    train_t: dict[int, list[float]] = {f: [] for f in specs}
    sample_t: dict[int, list[float]] = {f: [] for f in specs}
    for r in range(rounds):
        for f, model in models.items():
            g = torch.Generator().manual_seed(r)
            model.train()
            model.first_stage.eval()
            for i in range(train_steps + 1):  # the first step of a round is a warm-up
                t0 = time.perf_counter()
                loss = model.loss({"image": x}, g)
                opts[f].zero_grad(set_to_none=True)
                loss.backward()
                opts[f].step()
                if i:
                    train_t[f].append(time.perf_counter() - t0)
            model.eval()
            with torch.no_grad():
                t0 = time.perf_counter()
                model.sample({"image": x}, num_samples=batch_size, generator=g, progress=False)
                sample_t[f].append(time.perf_counter() - t0)
        if progress:
            note(f"bench round {r + 1}/{rounds}")
    out = {}
    for f, model in models.items():
        out[str(f)] = {
            "train_samples_s": batch_size / statistics.median(train_t[f]),
            "sample_samples_s": batch_size / statistics.median(sample_t[f]),
            "denoiser_params": sum(p.numel() for p in model.denoiser.parameters()),
            "first_stage_params": sum(p.numel() for p in model.first_stage.parameters()),
        }
    return out


def latent_shape(f: int, spec: dict) -> list[int]:
    c = 3 if f == 1 else spec["first_stage"]["params"]["embed_dim"]
    return [c, 32 // f, 32 // f]


# ----------------------------------------------------------------------------- claims
def verdicts(models: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The paper's three claims, checked on the final numbers (None: not measurable)."""
    pixel = models.get("1")
    latent = {k: m for k, m in models.items() if k != "1"}
    out = []
    if pixel and latent:
        for k, m in latent.items():
            tr = m["train_samples_s"] / pixel["train_samples_s"]
            sa = m["sample_samples_s"] / pixel["sample_samples_s"]
            out.append({"claim": f"LDM-{k} trains and samples >= {PAPER_SPEEDUP}x faster than "
                                 "LDM-1", "holds": tr >= PAPER_SPEEDUP and sa >= PAPER_SPEEDUP,
                        "evidence": f"training {tr:.2f}x, sampling {sa:.2f}x"})
        for k, m in latent.items():
            a, b = m.get("fid"), pixel.get("fid")
            sa, sb = m.get("shape_rate"), pixel.get("shape_rate")
            holds = None if a is None or b is None else a < b
            out.append({"claim": f"LDM-{k} has better quality than LDM-1 at equal steps "
                                 "(less pixel compute)", "holds": holds,
                        "evidence": f"FID {_f(a)} vs {_f(b)}; shape rate {_f(sa, 3)} vs "
                                    f"{_f(sb, 3)}"})
    fids = {k: m.get("fid") for k, m in latent.items() if m.get("fid") is not None}
    if "8" in fids and len(fids) > 1:
        best = min((k for k in fids if k != "8"), key=lambda k: fids[k])
        out.append({"claim": "too much compression hurts: LDM-8 is worse than the best "
                             "smaller-f latent model", "holds": fids["8"] > fids[best],
                    "evidence": f"FID LDM-8 {_f(fids['8'])} vs LDM-{best} {_f(fids[best])}; "
                                f"AE PSNR LDM-8 {_f(latent['8'].get('psnr'))} dB vs LDM-{best} "
                                f"{_f(latent[best].get('psnr'))} dB"})
    return out


def _f(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


# ----------------------------------------------------------------------------- report
def collect(root: Path, factors: list[int], specs: dict[int, dict],
            seg: list[int]) -> dict[str, Any]:
    """Gather the cached pieces into one results dict (missing pieces stay None)."""
    benchd = read_json(root / "bench.json") or {}
    models = {}
    for f in factors:
        b = benchd.get(str(f), {})
        rec = read_json(root / f"ldm{f}" / "reconstruction.json") or {}
        ae = read_json(root / f"ldm{f}" / "first_stage.json") or {}
        evals = []
        for s in seg:
            e = read_json(root / f"ldm{f}" / f"eval_{s:06d}.json")
            t = read_json(root / f"ldm{f}" / f"train_{s:06d}.json") or {}
            if e is None:
                continue
            m = e["metrics"]
            evals.append({"step": s, "fid": m.get("fid.dataset_feature_fid"),
                          "shape_rate": m.get("fidelity.shape_rate"),
                          "object_rate": m.get("fidelity.object_rate"),
                          "segment_wall_s": t.get("wall_s"),
                          "trainer_it_s": t.get("trainer_it_s")})
        last = evals[-1] if evals and evals[-1]["step"] == seg[-1] else {}
        models[str(f)] = {
            "f": f, "latent": latent_shape(f, specs[f]),
            "first_stage": specs[f]["first_stage"],
            "train_samples_s": b.get("train_samples_s"),
            "sample_samples_s": b.get("sample_samples_s"),
            "denoiser_params": b.get("denoiser_params"),
            "first_stage_params": b.get("first_stage_params"),
            "ae_steps": ae.get("steps"), "ae_wall_s": ae.get("wall_s"),
            "psnr": rec.get("psnr"), "recon_fid": rec.get("fid"),
            "evals": evals,
            "fid": last.get("fid"), "shape_rate": last.get("shape_rate"),
            "object_rate": last.get("object_rate"),
            "train_wall_s": sum(e["segment_wall_s"] or 0 for e in evals) or None,
        }
    return {"models": models, "reference": read_json(root / "reference.json") or {},
            "bench": read_json(root / "bench_info.json") or {}}


def markdown(results: dict[str, Any]) -> str:
    cfg, models = results["config"], results["models"]
    px = models.get("1", {})
    ratio = lambda m, k: (f" ({m[k] / px[k]:.1f}×)" if px.get(k) and m.get(k) else "")  # noqa: E731
    head = ("| model | latent (c×h×w) | AE PSNR dB | AE recon FID | train samples/s | "
            "sampling samples/s | " + " | ".join(f"FID @{s}" for s in cfg["segments"])
            + " | shape rate | object rate | diffusion wall s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for k, m in models.items():
        fids = {e["step"]: e["fid"] for e in m["evals"]}
        psnr = "∞ (pixels)" if k == "1" else _f(m["psnr"])
        recon = "0 (pixels)" if k == "1" else _f(m["recon_fid"], 2)
        lines.append(
            f"| LDM-{k} | {'×'.join(map(str, m['latent']))} | {psnr} | {recon} | "
            f"{_f(m['train_samples_s'])}{ratio(m, 'train_samples_s')} | "
            f"{_f(m['sample_samples_s'])}{ratio(m, 'sample_samples_s')} | "
            + " | ".join(_f(fids.get(s), 2) for s in cfg["segments"])
            + f" | {_f(m['shape_rate'], 3)} | {_f(m['object_rate'], 3)} | "
            f"{_f(m['train_wall_s'], 0)} |")
    ref = results["reference"].get("fid_train_vs_val")
    out = [f"Command: `{cfg['command']}`", "",
           f"Run: {cfg['finished']}, {cfg['threads']} torch thread(s), load average "
           f"{cfg['load_start']} at start / {cfg['load_end']} at end, total "
           f"{cfg['total_wall_s'] / 60:.1f} min over {cfg['invocations']} invocation(s).", "",
           f"Budget: {cfg['steps']} diffusion steps × batch {cfg['batch_size']} per model "
           f"(UNet width {cfg['width']}, {_params(models)}), autoencoders {cfg['ae_steps']} "
           f"steps each; evaluation on {cfg['eval_samples']} samples, DDIM "
           f"{cfg['sampler_steps']} steps, against the first {cfg['eval_samples']} validation "
           f"images. FID floor (train vs val images, same n): {_f(ref, 2)}.", "",
           *lines, "", "| claim | holds | evidence |", "|---|---|---|"]
    for v in results["claims"]:
        holds = {True: "yes", False: "**no**", None: "–"}[v["holds"]]
        out.append(f"| {v['claim']} | {holds} | {v['evidence']} |")
    out += ["", "![compression trade-off](compression.png)"]
    return "\n".join(out)


def _params(models: dict) -> str:
    p = next((m["denoiser_params"] for m in models.values() if m.get("denoiser_params")), None)
    return f"{p / 1e6:.2f} M parameters" if p else "same parameters"


def write_markdown(path: Path, generated: str) -> None:
    """Replace the generated block of `path` (between the markers), keeping the rest."""
    block = f"{START}\n{generated}\n{END}"
    if path.is_file() and START in (text := path.read_text()) and END in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = ("# Compression trade-off (LDM-1/2/4/8), reproduced small\n\n"
                "Generated by `benchmarks/compression.py`.\n\n" + block + "\n")
    path.write_text(text)


def plot(results: dict[str, Any], path: Path, root: Path | None = None) -> None:
    """FID and shape rate vs training compute, FID vs sampling throughput (Fig. 7), and the first
    row of each model's final sample grid (from root/ldm{f}/eval_*.png) when present."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, ScalarFormatter

    cfg, models = results["config"], results["models"]
    strips = _sample_strips(root, models, cfg["segments"][-1]) if root else {}
    fig = plt.figure(figsize=(15, 6.2 if strips else 4.4))
    grid = fig.add_gridspec(2 if strips else 1, 3, height_ratios=[4.4, 1.8] if strips else [1])
    axes = [fig.add_subplot(grid[0, i]) for i in range(3)]
    bs = cfg["batch_size"]
    for k, m in models.items():
        ev = [e for e in m["evals"] if e["fid"] is not None]
        if not ev or not m.get("train_samples_s"):
            continue
        # one-core compute seconds: steps x batch / the benched training throughput
        secs = [e["step"] * bs / m["train_samples_s"] for e in ev]
        kw = {"marker": "o", "label": f"LDM-{k}"}
        axes[0].plot(secs, [e["fid"] for e in ev], **kw)
        axes[1].plot(secs, [e["shape_rate"] for e in ev], **kw)
        for s, e in zip(secs, ev):
            axes[0].annotate(f"{e['step']}", (s, e["fid"]), fontsize=7, alpha=0.6,
                             xytext=(3, 3), textcoords="offset points")
        if m.get("fid") is not None:
            axes[2].scatter(m["sample_samples_s"], m["fid"], s=60, label=f"LDM-{k}")
            axes[2].annotate(f"LDM-{k}", (m["sample_samples_s"], m["fid"]), xytext=(4, 4),
                             textcoords="offset points")
    ref = results["reference"].get("fid_train_vs_val")
    if ref is not None:
        for ax in (axes[0], axes[2]):
            ax.axhline(ref, color="grey", ls=":", lw=1, label="real vs real (floor)")
    compute = "diffusion training compute (1-core seconds)"
    axes[0].set(xscale="log", yscale="log", xlabel=compute,
                ylabel="dataset-feature FID (log, lower is better)", title="quality vs training")
    axes[1].set(xscale="log", xlabel=compute, ylabel="shape rate (higher is better)",
                title="shapes-world fidelity")
    axes[2].set(xscale="log", yscale="log", xlabel="sampling throughput (samples/s)",
                ylabel="dataset-feature FID (log)", title="quality vs sampling speed (cf. Fig. 7)")
    for ax in axes:
        ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    if strips:
        import numpy as np

        ax = fig.add_subplot(grid[1, :])
        ax.set_axis_off()
        ax.set_title(f"samples after {cfg['segments'][-1]} steps (DDIM {cfg['sampler_steps']}), "
                     "left to right: " + ", ".join(f"LDM-{k}" for k in strips), fontsize=9)
        pad = ((0, 0), (0, 16), (0, 0))
        ax.imshow(np.concatenate([np.pad(s, pad, constant_values=1.0) for s in strips.values()],
                                 axis=1))
    fig.suptitle(f"LDM-f on the 32² shapes world, {cfg['steps']} steps each (batch {bs}); "
                 "the number at a point is its training step", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _sample_strips(root: Path, models: dict, step: int) -> dict[str, Any]:
    """The top row of each model's evaluation grid at `step` (RGB float arrays)."""
    import matplotlib.image as mpimg

    out = {}
    for k in models:
        png = root / f"ldm{k}" / f"eval_{step:06d}.png"
        if png.is_file():
            img = mpimg.imread(str(png))[..., :3]
            rows = math.ceil(min(32, results_n(png)) / 6)
            out[k] = img[: img.shape[0] // rows, : img.shape[1] // 2]
    return out


def results_n(png: Path) -> int:
    """How many samples the evaluation grid next to this json holds."""
    data = read_json(png.with_suffix(".json")) or {}
    return int((data.get("metrics") or {}).get("fidelity.num_images") or 32)


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=800, help="diffusion steps per model")
    p.add_argument("--segments", type=int, default=2,
                   help="evaluate after each of this many equal parts of --steps")
    p.add_argument("--ae-steps", type=int, default=400, help="autoencoder steps per f")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--width", type=int, default=32, help="UNet model_channels (all models)")
    p.add_argument("--ae-width", type=int, default=32, help="autoencoder ch")
    p.add_argument("--models", default="1,2,4,8", help="comma-separated f values")
    p.add_argument("--eval-samples", type=int, default=256)
    p.add_argument("--sampler-steps", type=int, default=20, help="DDIM steps (all models)")
    p.add_argument("--bench-rounds", type=int, default=3)
    p.add_argument("--bench-steps", type=int, default=3, help="timed train steps per round")
    p.add_argument("--fid-weights", default="runs/dataset_features/shapes_32px.safetensors")
    p.add_argument("--fid-train-steps", type=int, default=0,
                   help="feature-CNN steps if it must be trained (0: the evaluator's default)")
    p.add_argument("--root", default="runs/compression", help="run dirs and cached results")
    p.add_argument("--out", default=str(REPO / "benchmarks"), help="where compression.* go")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    import torch

    from ldmcore.evaluation import build_evaluators
    from ldmcore.plugins import default_registry
    from ldmcore.spec.resolve import resolve_spec

    registry = default_registry()
    root, out, progress = Path(args.root), Path(args.out), not args.no_progress
    factors = [int(x) for x in args.models.split(",")]
    base = yaml.safe_load(BASE_SPEC.read_text())
    seg = segment_steps(args.steps, args.segments)
    specs = {f: model_spec(base, f, args) for f in factors}
    load_start = _load()
    if not args.report_only:
        root.mkdir(parents=True, exist_ok=True)
        for f in factors:  # the exact spec of every model, for `ldm train` by hand
            (root / f"ldm{f}").mkdir(exist_ok=True)
            (root / f"ldm{f}" / "spec.yaml").write_text(yaml.safe_dump(specs[f], sort_keys=False))
        if read_json(root / "bench.json") is None:
            note("throughput bench (interleaved rounds)")
            write_json(root / "bench.json", bench(specs, args.batch_size, args.bench_rounds,
                                                  args.bench_steps, registry, progress))
            write_json(root / "bench_info.json", {"rounds": args.bench_rounds,
                                                  "steps": args.bench_steps})
        exports = {f: train_first_stage(specs[f], f, root, progress)["export"] if f > 1
                   else None for f in factors}
        resolved = resolve_spec(specs[factors[0]], registry=registry)
        with torch.enable_grad():  # the dataset-feature CNN trains on first use
            evaluators = build_evaluators(resolved, None, registry, progress=progress)
            evaluators.update(build_evaluators(resolved, None, registry, ["psnr"]))
        real = val_images(specs[factors[0]], args.eval_samples, registry)
        reference_fid(specs[factors[0]], args.eval_samples, evaluators, real, registry, root)
        for f in factors:
            reconstruction(specs[f], f, exports[f], evaluators, real, registry, root)
        for step in seg:  # all models to each step before any goes further
            for f in factors:
                spec = model_spec(base, f, args, steps=step)
                done = train_segment(spec, f, step, root, progress)
                evaluate_model(done["export"], f, step, args.eval_samples,
                               {k: v for k, v in evaluators.items() if k != "psnr"}, root,
                               progress)
    command = "OMP_NUM_THREADS=" + os.environ.get("OMP_NUM_THREADS", "(unset)") + " " + \
        shlex.join([".venv/bin/python", "benchmarks/compression.py",
                    *(sys.argv[1:] if argv is None else argv)])
    runs = (read_json(root / "runs.json") or {}).get("runs", [])
    if not args.report_only:  # every invocation that did work (a resumed run has several)
        runs.append({"command": command, "wall_s": time.perf_counter() - _T0,
                     "load_start": load_start, "load_end": _load(),
                     "finished": time.strftime("%Y-%m-%d %H:%M")})
        write_json(root / "runs.json", {"runs": runs})
    last = runs[-1] if runs else {"command": command, "wall_s": 0.0, "load_start": load_start,
                                  "load_end": _load(), "finished": time.strftime("%Y-%m-%d %H:%M")}
    results = collect(root, factors, specs, seg)
    results["claims"] = verdicts(results["models"])
    results["config"] = {
        "command": last["command"], "invocations": len(runs),
        "steps": args.steps, "segments": seg, "ae_steps": args.ae_steps,
        "batch_size": args.batch_size, "width": args.width, "ae_width": args.ae_width,
        "eval_samples": args.eval_samples, "sampler": "ddim", "sampler_steps": args.sampler_steps,
        "threads": torch.get_num_threads(), "load_start": last["load_start"],
        "load_end": last["load_end"], "total_wall_s": sum(r["wall_s"] for r in runs),
        "finished": last["finished"],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "compression.json", results)
    plot(results, out / "compression.png", root)
    write_markdown(out / "compression.md", markdown(results))
    note(f"wrote {out / 'compression.md'}, compression.png, compression.json")
    return results


def _load() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


if __name__ == "__main__":
    main()
