"""Benchmark: ldmcore vs diffusers, side by side in one run, on the CPU.

1. Sampling latency per step. Ours: a model built by `ldmcore.build` from a dict spec (first
   stage, layout_tokens conditioner on cross-attention, unet, DDIM, CFG) running
   `model.sample(...)`. That includes the conditioner, the guider and the sampler. Diffusers:
   UNet2DConditionModel with the SAME weights (converted by diffusers' own
   `convert_ldm_unet_checkpoint`), driven by DDIMScheduler (SD preset) with the same batched CFG,
   latent shape, batch, context and initial noise. Repeats are interleaved and the order
   alternates; we report the median ms/step and the max |Δ| between the two final latents (the
   proof that both sides did the same computation).
2. Peak memory: each side in a fresh subprocess; ru_maxrss after its imports, and after
   building the model and running a few sampling steps.
3. Import / startup time: fresh subprocesses, median wall time of several runs.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/vs_diffusers.py [--threads 1] [--write-readme]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "benchmarks" / "README.md"
BEGIN, END = "<!-- vs_diffusers:begin -->", "<!-- vs_diffusers:end -->"


# ----------------------------------------------------------------------------- configuration
def make_spec(
    latent: int = 16,
    channels: int = 4,
    first_stage: str = "identity",
    model_channels: int = 64,
    steps: int = 10,
    scale: float = 3.0,
    max_objects: int = 8,
) -> dict[str, Any]:
    """The graph spec of our side: SD noise schedule, DDIM landing on ᾱ_0 like diffusers' SD."""
    if first_stage == "identity":
        image_size, image_channels = latent, channels
        fs = {"type": "identity", "params": {"channels": channels}}
    elif first_stage == "kl":  # f = 4; the latents are compared, so it is never run
        image_size, image_channels = 4 * latent, 3
        fs = {"type": "kl", "params": {"ch": 32, "ch_mult": [1, 2, 2], "num_res_blocks": 1,
                                       "z_channels": channels, "embed_dim": channels,
                                       "resolution": 4 * latent, "f": 4}}
    else:
        raise ValueError(f"first stage must be identity or kl, got {first_stage!r}")
    return {
        "spec_version": 1,
        "image_size": image_size,
        "image_channels": image_channels,
        "task": {"type": "layout2img", "params": {"key": "boxes"}},
        "first_stage": fs,
        "conditioners": {"layout": {
            "type": "layout_tokens", "input": "boxes", "wiring": "crossattn",
            "null": "empty-input",
            "params": {"num_classes": 12, "grid": 32, "max_objects": max_objects, "dim": 128,
                       "depth": 2, "heads": 4},
        }},
        "denoiser": {"type": "unet", "params": {
            "model_channels": model_channels, "channel_mult": [1, 2, 2], "num_res_blocks": 2,
            "attention_resolutions": [2, 4], "num_head_channels": 32}},
        "diffusion": {"preset": "sd"},
        "sampler": {"type": "ddim",
                    "params": {"steps": steps, "eta": 0.0, "final_alpha": "alpha0"}},
        "guider": {"type": "cfg", "params": {"scale": scale}},
    }


def random_boxes(batch: int, max_objects: int, seed: int = 0):
    """(B, K, 5) layouts (class, x0, y0, x1, y1), 1–K objects each, padding rows class -1."""
    import torch

    g = torch.Generator().manual_seed(seed)
    boxes = torch.zeros(batch, max_objects, 5)
    boxes[..., 0] = -1
    for b in range(batch):
        n = int(torch.randint(1, max_objects + 1, (1,), generator=g))
        xy0 = torch.rand(n, 2, generator=g) * 0.6
        xy1 = xy0 + 0.1 + torch.rand(n, 2, generator=g) * 0.3
        boxes[b, :n, 0] = torch.randint(0, 12, (n,), generator=g).float()
        boxes[b, :n, 1:3], boxes[b, :n, 3:5] = xy0, xy1.clamp(max=1.0)
    return boxes


def randomize_(module, seed: int = 0) -> None:
    """Non-trivial weights everywhere (CompVis zero-inits residual outputs, so eps would be 0)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            for name, p in m.named_parameters(recurse=False):
                if isinstance(m, (torch.nn.GroupNorm, torch.nn.LayerNorm)) and name == "weight":
                    p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
                elif p.ndim >= 2:  # ~ unit-variance activations: std 1/sqrt(fan_in)
                    p.copy_(torch.randn(p.shape, generator=g) * p[0].numel() ** -0.5)
                else:
                    p.copy_(0.05 * torch.randn(p.shape, generator=g))


def build_ours(spec: dict[str, Any], seed: int = 0):
    import torch

    import ldmcore

    torch.manual_seed(seed)
    model = ldmcore.build(spec).eval()
    randomize_(model.denoiser, seed)
    return model


def diffusers_config(model) -> dict[str, Any]:
    from ldm_plugin_unet.compat import diffusers_unet_config

    return diffusers_unet_config(model.denoiser.params, sample_size=model.latent_shape[-1])


def build_diffusers(model):
    """diffusers' UNet2DConditionModel holding our denoiser's weights (their converter)."""
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    cfg = diffusers_config(model)
    unet = UNet2DConditionModel(**cfg).eval()
    ckpt = {"model.diffusion_model." + k: v for k, v in model.denoiser.state_dict().items()}
    unet.load_state_dict(convert_ldm_unet_checkpoint(ckpt, cfg), strict=True)
    return unet


def sd_ddim():
    """DDIMScheduler with the SD v1 preset (= our `sd` schedule, uniform +1, final ᾱ_0)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                         beta_schedule="scaled_linear", steps_offset=1, clip_sample=False,
                         set_alpha_to_one=False)


# ----------------------------------------------------------------------------- the two loops
def sample_ours(model, batch: dict, steps: int, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    return model.sample(batch, steps=steps, generator=g, progress=False, return_latents=True)


def sample_diffusers(unet, scheduler, context, scale: float, steps: int, shape, seed: int):
    """The diffusers pipeline loop: [uncond, cond] in one UNet call, then DDIMScheduler.step.

    `context` is the pipeline's `prompt_embeds`: cat([uncond, cond]) computed beforehand.
    """
    import torch

    noise = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        scheduler.set_timesteps(steps)
        z = noise * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            zin = scheduler.scale_model_input(torch.cat([z, z]), t)
            e_u, e_c = unet(zin, t, encoder_hidden_states=context).sample.chunk(2)
            z = scheduler.step(e_u + scale * (e_c - e_u), t, z).prev_sample
    return z


def prompt_embeds(model, batch: dict):
    """Our conditioner's [uncond, cond] context, handed to diffusers as precomputed embeds."""
    import torch

    with torch.no_grad():
        cond, uncond = model.condition_pair(batch)
    return torch.cat([uncond.context, cond.context])


def _ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def bench_latency(spec: dict[str, Any], batch_size: int, steps: int, repeats: int,
                  seed: int = 0) -> dict[str, Any]:
    """Interleaved sampling runs of both sides; medians of ms/step and of the paired ratio."""
    import torch

    model = build_ours(spec, seed)
    unet = build_diffusers(model)
    scale = spec["guider"]["params"]["scale"]
    batch = {"boxes": random_boxes(batch_size, spec["conditioners"]["layout"]["params"]
                                   ["max_objects"], seed)}
    context = prompt_embeds(model, batch)
    shape = (batch_size, *model.latent_shape)
    sched = sd_ddim()
    run = {
        "ours": lambda: sample_ours(model, batch, steps, seed),
        "diffusers": lambda: sample_diffusers(unet, sched, context, scale, steps, shape, seed),
    }
    ours, theirs = run["ours"](), run["diffusers"]()  # also the warm-up
    delta = (ours - theirs).abs().max().item()
    # the bare UNet call at the CFG batch, so the per-step overhead of each loop shows
    z2 = torch.randn((2 * batch_size, *model.latent_shape), generator=torch.Generator()
                     .manual_seed(seed + 1))
    t2 = torch.full((2 * batch_size,), 501, dtype=torch.long)
    fwd = {
        "ours": lambda: model.denoiser(z2, t2, context=context),
        "diffusers": lambda: unet(z2, t2, encoder_hidden_states=context).sample,
    }
    with torch.no_grad():
        fwd_delta = (fwd["ours"]() - fwd["diffusers"]()).abs().max().item()
    step_ms: dict[str, list[float]] = {"ours": [], "diffusers": []}
    fwd_ms: dict[str, list[float]] = {"ours": [], "diffusers": []}
    cond_ms: list[float] = []
    for i in range(repeats):
        order = ("ours", "diffusers") if i % 2 == 0 else ("diffusers", "ours")
        for who in order:
            step_ms[who].append(_ms(run[who]) / steps)
            with torch.no_grad():
                fwd_ms[who].append(_ms(fwd[who]))
        with torch.no_grad():
            cond_ms.append(_ms(lambda: model.condition_pair(batch)))

    def summary(times: dict[str, list[float]]) -> dict[str, float]:
        a, b = statistics.median(times["ours"]), statistics.median(times["diffusers"])
        paired = statistics.median(o / d for o, d in zip(times["ours"], times["diffusers"]))
        return {"ours": a, "diffusers": b, "ratio": a / b, "paired": paired}

    return {
        "step": summary(step_ms), "forward": summary(fwd_ms),
        "conditioner_ms": statistics.median(cond_ms),
        "max_abs_delta": delta, "latent_abs_max": ours.abs().max().item(),
        "forward_max_abs_delta": fwd_delta,
        "shape": list(shape), "context": list(context.shape), "steps": steps,
        "repeats": repeats, "params": sum(p.numel() for p in model.denoiser.parameters()),
    }


# ----------------------------------------------------------------------------- memory
def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _vmhwm_mb() -> float:
    """This address space's peak RSS (/proc/self/status VmHWM), a cross-check of ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def memory_child(side: str, job: dict[str, Any]) -> dict[str, float]:
    """Runs IN the fresh subprocess: import, build, a few sampling steps; peak RSS at each."""
    import torch

    torch.set_num_threads(job["threads"])
    spec, batch_size, steps = job["spec"], job["batch"], job["steps"]
    if side == "torch":  # the floor both sides stand on
        after_import = after_build = _maxrss_mb()
    elif side == "ours":
        import ldmcore

        after_import = _maxrss_mb()
        torch.manual_seed(0)
        model = ldmcore.build(spec).eval()
        boxes = random_boxes(batch_size, spec["conditioners"]["layout"]["params"]["max_objects"])
        after_build = _maxrss_mb()
        sample_ours(model, {"boxes": boxes}, steps, 0)
    else:  # diffusers alone: its UNet from the config dict, torch tensors for the embeds
        from diffusers import DDIMScheduler, UNet2DConditionModel  # noqa: F401

        after_import = _maxrss_mb()
        torch.manual_seed(0)
        unet = UNet2DConditionModel(**job["diffusers_config"]).eval()
        ctx = torch.randn(2 * batch_size, *job["context"][1:])
        after_build = _maxrss_mb()
        sample_diffusers(unet, sd_ddim(), ctx, 3.0, steps, job["shape"], 0)
    return {"after_import": after_import, "after_build": after_build, "peak": _maxrss_mb(),
            "vmhwm": _vmhwm_mb()}


def _child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "benchmarks"),
                                                      env.get("PYTHONPATH")]))
    return env


def bench_memory(job: dict[str, Any], repeats: int = 1) -> dict[str, dict[str, float]]:
    """Each side in its own fresh interpreter; the smallest peak of `repeats` runs.

    Linux carries a process's ru_maxrss across fork + exec, so a child started straight from
    this (large) process would report at least our own peak. The child is therefore started
    by a small /bin/sh, which forks it (the trailing `exit` keeps sh from exec'ing in place).
    """
    out: dict[str, dict[str, float]] = {}
    for side in ("torch", "ours", "diffusers"):
        code = (f"import json, vs_diffusers as b; "
                f"print(json.dumps(b.memory_child({side!r}, json.loads({json.dumps(job)!r}))))")
        runs = []
        for _ in range(repeats):
            res = subprocess.run(["/bin/sh", "-c", '"$0" -c "$1"; exit $?', sys.executable, code],
                                 capture_output=True, text=True, env=_child_env(job["threads"]),
                                 check=True)
            runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
        out[side] = min(runs, key=lambda r: r["peak"])
    return out


# ----------------------------------------------------------------------------- startup
def startup_commands(job: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(row, side, argv) of every fresh-process measurement."""
    py, ldm = sys.executable, str(Path(sys.executable).parent / "ldm")
    spec = json.dumps(job["spec"])
    n, (c, h, w), (_, m, d) = 2 * job["batch"], job["shape"][1:], job["context"]
    inputs = (f"z = torch.randn({n}, {c}, {h}, {w}); t = torch.full(({n},), 500); "
              f"ctx = torch.randn({n}, {m}, {d})")
    ours_fwd = (f"import json, torch, ldmcore; m = ldmcore.build(json.loads({spec!r})); "
                f"{inputs}; torch.no_grad().__enter__(); m.denoiser(z, t, context=ctx)")
    theirs_fwd = (f"import torch; from diffusers import UNet2DConditionModel; "
                  f"u = UNet2DConditionModel(**{job['diffusers_config']!r}); {inputs}; "
                  f"torch.no_grad().__enter__(); u(z, t, encoder_hidden_states=ctx)")
    return [
        ("python -c pass (floor)", "both", [py, "-c", "pass"]),
        ("import torch (floor)", "both", [py, "-c", "import torch"]),
        ("import (lazy)", "ours", [py, "-c", "import ldmcore"]),
        ("import (lazy)", "diffusers", [py, "-c", "import diffusers"]),
        ("`ldm --help`", "ours", [ldm, "--help"]),
        ("build + first UNet forward", "ours", [py, "-c", ours_fwd]),
        ("build + first UNet forward", "diffusers", [py, "-c", theirs_fwd]),
    ]


def bench_startup(job: dict[str, Any], repeats: int) -> list[tuple[str, str, float]]:
    """Median wall time of each command; all commands run once per round, rounds interleaved."""
    cmds = startup_commands(job)
    env = _child_env(job["threads"])
    times: list[list[float]] = [[] for _ in cmds]
    for r in range(repeats):
        order = range(len(cmds)) if r % 2 == 0 else reversed(range(len(cmds)))
        for i in order:
            start = time.perf_counter()
            subprocess.run(cmds[i][2], capture_output=True, env=env, check=True)
            times[i].append((time.perf_counter() - start) * 1e3)
    return [(row, side, statistics.median(t)) for (row, side, _), t in zip(cmds, times)]


# ----------------------------------------------------------------------------- report
def machine() -> dict[str, Any]:
    import diffusers
    import torch

    info: dict[str, str] = {}
    try:  # the first processor's block of /proc/cpuinfo
        for line in Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines():
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
    except OSError:
        pass
    cpu = info.get("model name", platform.processor() or platform.machine())
    if "cpu family" in info:
        cpu += f" (family {info['cpu family']}, model {info.get('model', '?')}"
        cpu += ", AVX-512)" if "avx512f" in info.get("flags", "").split() else ")"
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": os.cpu_count(), "memory": mem,
        "python": platform.python_version(), "torch": torch.__version__,
        "diffusers": diffusers.__version__, "threads": torch.get_num_threads(),
    }


def markdown(res: dict[str, Any]) -> str:
    m, lat, mem = res["machine"], res["latency"], res["memory"]
    load = (f"{res['load_start'][0]:.2f} / {res['load_start'][1]:.2f} at start, "
            f"{res['load_end'][0]:.2f} / {res['load_end'][1]:.2f} at end (1 / 5 min)")
    b, c, h, w = lat["shape"]
    a = res["args"]
    lines = [
        f"Run {m['date']}, {res['wall_s']:.0f} s: {m['cpu']}, {m['cores']} cores, "
        f"{m['memory']} RAM; Python {m['python']}, torch {m['torch']}, diffusers "
        f"{m['diffusers']}; {m['threads']} torch thread(s); load average {load}.",
        "",
        f"Model: unet mc {a.model_channels}, mult 1-2-2, 2 ResBlocks/level, attention at ds 2 "
        f"and 4 ({lat['params'] / 1e6:.2f} M params), latents {b}×{c}×{h}×{w} "
        f"(first stage `{a.first_stage}`), context {lat['context'][1]}×{lat['context'][2]} "
        f"(layout_tokens), DDIM {lat['steps']} steps, CFG scale {a.scale} batched "
        f"(UNet batch {2 * b}), fp32. Final latents: max |Δ| = {lat['max_abs_delta']:.2e} "
        f"(largest |z| {lat['latent_abs_max']:.2f}); one UNet forward: max |Δ| = "
        f"{lat['forward_max_abs_delta']:.2e}.",
        "",
        "| measurement | ours | diffusers | ratio ours/diffusers | median paired ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in (("step", "sampling, ms per step (whole `sample` call / steps)"),
                       ("forward", "one UNet forward at the CFG batch, ms")):
        s = lat[key]
        lines.append(f"| {label} | {s['ours']:.1f} | {s['diffusers']:.1f} | {s['ratio']:.3f} "
                     f"| {s['paired']:.3f} |")
    lines.append(f"| our conditioner (cond + null) once per `sample` call, ms | "
                 f"{lat['conditioner_ms']:.1f} | (given as embeds) | | |")
    for key, label in (("after_import", "RSS after imports, MB"),
                       ("after_build", "RSS after building the model, MB"),
                       ("peak", f"peak RSS, build + {a.memory_steps} sampling steps, MB")):
        o, d = mem["ours"][key], mem["diffusers"][key]
        lines.append(f"| {label} | {o:.0f} | {d:.0f} | {o / d:.3f} | |")
    floor = mem["torch"]["peak"]
    lines.append(f"| RSS of `import torch` alone (floor), MB | {floor:.0f} | {floor:.0f} | | |")
    for row, side, ms in res["startup"]:
        if side == "both":
            lines.append(f"| startup: {row}, ms | {ms:.0f} | {ms:.0f} | | |")
    rows = {row: {} for row, side, _ in res["startup"] if side != "both"}
    for row, side, ms in res["startup"]:
        if side != "both":
            rows[row][side] = ms
    for row, sides in rows.items():
        o, d = sides.get("ours"), sides.get("diffusers")
        cells = [f"{x:.0f}" if x is not None else "–" for x in (o, d)]
        ratio = f"{o / d:.3f}" if o is not None and d is not None else ""
        lines.append(f"| startup: {row}, ms | {cells[0]} | {cells[1]} | {ratio} | |")
    lines += [
        "",
        f"Peak RSS cross-check (/proc/self/status VmHWM): ours {mem['ours']['vmhwm']:.0f} MB, "
        f"diffusers {mem['diffusers']['vmhwm']:.0f} MB.",
        f"Latency: median of {lat['repeats']} interleaved repeats (order alternating). Memory: "
        f"one fresh process per side (`ru_maxrss`). Startup: median of {a.startup_repeats} "
        "fresh processes per command, wall time including the interpreter.",
    ]
    return "\n".join(lines)


def write_readme(block: str, command: str) -> None:
    text = README.read_text() if README.exists() else ""
    body = f"{BEGIN}\n\n    {command}\n\n{block}\n\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + body + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n## ldmcore vs diffusers\n\n" + body + "\n"
    README.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (children: OMP too)")
    ap.add_argument("--latent", type=int, default=16, help="latent side h = w")
    ap.add_argument("--channels", type=int, default=4, help="latent channels")
    ap.add_argument("--first-stage", choices=["identity", "kl"], default="identity")
    ap.add_argument("--model-channels", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4, help="images per sample call (UNet: 2×)")
    ap.add_argument("--steps", type=int, default=10, help="DDIM steps S per sample call")
    ap.add_argument("--scale", type=float, default=3.0, help="CFG scale")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved latency repeats")
    ap.add_argument("--memory-steps", type=int, default=3)
    ap.add_argument("--startup-repeats", type=int, default=3)
    ap.add_argument("--write-readme", action="store_true",
                    help=f"write the results into {README.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    t0, load_start = time.perf_counter(), os.getloadavg()
    spec = make_spec(args.latent, args.channels, args.first_stage, args.model_channels,
                     args.steps, args.scale)
    print("latency ...", flush=True)
    lat = bench_latency(spec, args.batch, args.steps, args.repeats)
    model = build_ours(spec)
    job = {"spec": spec, "batch": args.batch, "steps": args.memory_steps,
           "threads": args.threads, "shape": lat["shape"], "context": lat["context"],
           "diffusers_config": diffusers_config(model)}
    del model
    print("memory ...", flush=True)
    mem = bench_memory(job)
    print("startup ...", flush=True)
    startup = bench_startup(job, args.startup_repeats)
    res = {"machine": machine(), "latency": lat, "memory": mem, "startup": startup,
           "load_start": load_start, "load_end": os.getloadavg(),
           "wall_s": time.perf_counter() - t0, "args": args}
    block = markdown(res)
    print("\n" + block)
    if args.write_readme:
        cli = " ".join(argv if argv is not None else sys.argv[1:])
        cli = " ".join(a for a in cli.split() if a != "--write-readme")
        cmd = f"OMP_NUM_THREADS={args.threads} .venv/bin/python benchmarks/vs_diffusers.py"
        write_readme(block, textwrap.shorten(f"{cmd} {cli}".strip(), 200))
        print(f"\nwrote {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
