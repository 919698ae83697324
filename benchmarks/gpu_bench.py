"""GPU benchmark, one command: bf16 sampling throughput at SD-1.5 scale, training step / MFU.

1. Sampling: the SD-1.5 UNet architecture (860 M parameters, random weights) with a random
   CLIP text encoder (77 × 768, as benchmarks/sd15_vs_diffusers.py), latent 4×64×64 (512²
   images), batched CFG, DPM-Solver++(2M) with log-SNR steps, `model.sample(precision="bf16")`
   (cross-attention K/V cached per call): images/s at a few batch sizes.
2. Training: one optimiser step of the shipped shapes models (registry/models/shapes-txt2img,
   shapes-layout2img) at their training batch size under bf16 autocast: ms/step and model FLOP
   utilisation, MFU = (FLOPs of one step, counted by torch's FlopCounterMode) / step time / peak.

On a machine without CUDA it prints why it skips and exits 0. Under 10 minutes on one GPU.

    .venv/bin/python benchmarks/gpu_bench.py [--peak-tflops 989] [--batches 1,4,8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
UNET_QUICK = {"model_channels": 32, "channel_mult": [1, 2], "num_res_blocks": 1,
              "attention_resolutions": [2], "num_heads": 4, "transformer_depth": 1}
# dense bf16 tensor-core peaks (TFLOP/s), by device-name substring
PEAKS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0,
         "RTX 4090": 165.0, "L4": 121.0}
def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def bench_sampling(batches: list[int], latent: int, steps: int, repeats: int,
                   device: str = "cuda") -> list[str]:
    """images/s of `model.sample` (bf16) for the SD-1.5-shaped txt2img of sd15_vs_diffusers."""
    import tempfile

    import torch
    from sd15_vs_diffusers import PROMPT, UNET_SD15, make_spec, make_text_encoder

    import ldmcore

    tmp = Path(tempfile.mkdtemp(prefix="gpu_bench_"))
    tok_dir = make_text_encoder(tmp / "clip")
    spec = make_spec(tmp / "clip", tok_dir, UNET_SD15 if device == "cuda" else UNET_QUICK,
                     latent)
    spec["sampler"] = {"type": "dpm_solver_pp", "params": {"steps": steps, "spacing": "logsnr"}}
    torch.manual_seed(0)
    model = ldmcore.build(spec).eval().to(device)
    n_params = sum(p.numel() for p in model.denoiser.parameters())
    lines = [f"SD-1.5-shaped UNet ({n_params / 1e6:.0f} M params), random CLIP text encoder "
             f"(77 × 768), latent 4×{latent}×{latent}, DPM-Solver++(2M) log-SNR {steps} steps, "
             f"CFG 7.5 batched, bf16; eager and replayed from CUDA graphs (sampling.cuda_graph), "
             f"interleaved, median of {repeats}", "",
             "| batch | eager s per call | graphed s per call | eager images/s | "
             "graphed images/s | graphed / eager (paired) |", "|---:|---:|---:|---:|---:|---:|"]
    for b in batches:
        y = {"caption": [PROMPT] * b}
        times: dict[bool, list[float]] = {False: [], True: []}
        outs = {}
        for i in range(repeats + 1):  # the first round warms up
            for graph in ((False, True) if i % 2 == 0 else (True, False)):
                sync(device)
                t0 = time.perf_counter()
                outs[graph] = model.sample(y, generator=torch.Generator().manual_seed(0),
                                           progress=False, return_latents=True,
                                           precision="bf16", cuda_graph=graph)
                sync(device)
                if i:
                    times[graph].append(time.perf_counter() - t0)
        same = "bit-identical" if torch.equal(outs[False], outs[True]) else (
            f"DIFFER by {(outs[False] - outs[True]).abs().max().item():.2e}")
        eager, graphed = (statistics.median(times[g]) for g in (False, True))
        ratio = statistics.median(g / e for g, e in zip(times[True], times[False]))
        lines.append(f"| {b} | {eager:.3f} | {graphed:.3f} | {b / eager:.2f} | "
                     f"{b / graphed:.2f} | {ratio:.3f} ({same}) |")
    if device == "cuda":
        torch.cuda.empty_cache()
    return lines


def bench_training(card: str, steps: int, peak: float, device: str = "cuda",
                   batch_size: int | None = None) -> str:
    """ms per optimiser step of a shipped model's diffusion stage, and its MFU."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import ldmcore
    from ldmcore.plugins import load_registry
    from ldmcore.training.data import build_dataset, fixed_batch, to_device

    model = ldmcore.load(card).to(device).train()
    spec = model.spec
    bs = batch_size or spec.training.batch_size
    dataset = build_dataset(spec, load_registry())
    batch = to_device(fixed_batch(dataset, bs), torch.device(device))
    params = [p for p in model.denoiser.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = model.loss(batch, torch.Generator().manual_seed(0))
        loss.backward()
        opt.step()

    step()  # warm-up
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    times = []
    for _ in range(steps):
        sync(device)
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    return (f"| {card} | {bs} | {sec * 1e3:.1f} | {flops / 1e9:.1f} | "
            f"{flops / sec / 1e12:.2f} | {100 * flops / sec / (peak * 1e12):.2f} % |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="1,4,8")
    ap.add_argument("--latent", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-steps", type=int, default=20)
    ap.add_argument("--peak-tflops", type=float, default=None,
                    help="dense bf16 peak of this GPU (default: looked up by name)")
    args = ap.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu_bench: no CUDA device on this machine (torch.cuda.is_available() is False); "
              "skipping. Run it on a GPU machine: .venv/bin/python benchmarks/gpu_bench.py")
        return 0
    name = torch.cuda.get_device_name()
    peak = args.peak_tflops or next((v for k, v in PEAKS.items() if k in name), None)
    print(f"{name}; torch {torch.__version__}; bf16 supported: "
          f"{torch.cuda.is_bf16_supported()}\n")
    t0 = time.perf_counter()
    batches = [int(b) for b in args.batches.split(",")]
    print("\n".join(bench_sampling(batches, args.latent, args.steps, args.repeats)))
    print(f"\n({time.perf_counter() - t0:.0f} s)\n")
    if peak is None:
        print(f"no bf16 peak known for '{name}': pass --peak-tflops to get MFU; skipping training")
        return 0
    print(f"training step, bf16 autocast, AdamW; MFU against {peak:.0f} TFLOP/s dense bf16\n")
    print("| model | batch | ms/step | GFLOP/step | TFLOP/s | MFU |")
    print("|---|---:|---:|---:|---:|---:|")
    for card in ("shapes-txt2img", "shapes-layout2img"):
        print(bench_training(card, args.train_steps, peak), flush=True)
    print(f"\n({time.perf_counter() - t0:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
