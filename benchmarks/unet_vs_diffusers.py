"""Benchmark: our `unet` vs diffusers' UNet2DConditionModel at identical configs and weights.

Forward (no_grad) and forward+backward, batch 8, on the CPU. Runs are interleaved (ours,
diffusers, ours, ...) so machine load hits both alike; we report the median ms and the ratio
ours/diffusers (target <= 1.0). Weights are copied through diffusers' own CompVis converter,
and outputs are checked equal before timing.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/unet_vs_diffusers.py [--repeats 11] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from diffusers import UNet2DConditionModel  # noqa: E402
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint  # noqa: E402
from ldm_plugin_unet.compat import diffusers_unet_config  # noqa: E402
from ldm_plugin_unet.params import UNetParams  # noqa: E402
from ldm_plugin_unet.unet import UNetModel  # noqa: E402

CONFIGS = {
    # name: (UNetParams kwargs, latent side, context tokens)
    "small (mc 32, mult 1-2, 16x16)": (
        dict(model_channels=32, channel_mult=[1, 2], num_res_blocks=2,
             attention_resolutions=[1, 2], num_heads=4, context_dim=64), 16, 8),
    "SD-shaped narrow (mc 64, mult 1-2-4-4, 16x16, ctx 77x768)": (
        dict(model_channels=64, channel_mult=[1, 2, 4, 4], num_res_blocks=2,
             attention_resolutions=[4, 2, 1], num_heads=8, context_dim=768), 16, 77),
}
BATCH = 8


def make_pair(kwargs: dict, seed: int = 0):
    p = UNetParams(in_channels=4, out_channels=4, **kwargs)
    torch.manual_seed(seed)
    ours = UNetModel(p)
    with torch.no_grad():
        for t in ours.parameters():
            t.normal_(0, 0.02)
    cfg = diffusers_unet_config(p)
    theirs = UNet2DConditionModel(**cfg)
    ckpt = {"model.diffusion_model." + k: v for k, v in ours.state_dict().items()}
    theirs.load_state_dict(convert_ldm_unet_checkpoint(ckpt, cfg), strict=True)
    return ours, theirs


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def bench(name: str, kwargs: dict, side: int, tokens: int, repeats: int) -> list[str]:
    ours, theirs = make_pair(kwargs)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, 4, side, side, generator=g)
    ctx = torch.randn(BATCH, tokens, kwargs["context_dim"], generator=g)
    t = torch.randint(0, 1000, (BATCH,), generator=g)
    run = {
        "ours": lambda: ours(x, t, context=ctx),
        "diffusers": lambda: theirs(x, t, encoder_hidden_states=ctx).sample,
    }
    with torch.no_grad():
        delta = (run["ours"]() - run["diffusers"]()).abs().max().item()
    assert delta < 1e-4, f"{name}: outputs differ by {delta}"

    def fwd(who):
        with torch.no_grad():
            run[who]()

    def fwd_bwd(who):
        model = ours if who == "ours" else theirs
        model.zero_grad(set_to_none=True)
        run[who]().square().mean().backward()

    rows = []
    for label, fn in (("forward", fwd), ("forward+backward", fwd_bwd)):
        fn("ours"), fn("diffusers")  # warm-up
        times: dict[str, list[float]] = {"ours": [], "diffusers": []}
        for i in range(repeats):
            order = ("ours", "diffusers") if i % 2 == 0 else ("diffusers", "ours")
            for who in order:
                times[who].append(timed(lambda w=who, f=fn: f(w)))
        a, b = statistics.median(times["ours"]), statistics.median(times["diffusers"])
        # each repeat timed both back to back: the median of per-pair ratios resists load drift
        paired = statistics.median(o / d for o, d in zip(times["ours"], times["diffusers"]))
        rows.append(f"| {name} | {label} | {a:.1f} | {b:.1f} | {a / b:.3f} | {paired:.3f} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, batch {BATCH}, "
          f"{args.repeats} interleaved repeats, fp32\n")
    print("| config | pass | ours ms (median) | diffusers ms (median) | ratio of medians "
          "| median paired ratio |")
    print("|---|---|---:|---:|---:|---:|")
    for name, (kwargs, side, tokens) in CONFIGS.items():
        bench(name, kwargs, side, tokens, args.repeats)


if __name__ == "__main__":
    main()
