"""Which fp32 islands does a bf16 UNet forward need? Time and error of each choice.

The SD-shaped narrow UNet of unet.md (mc 64, mult 1-2-4-4, 16×16, context 77×768, random
weights ~ unit-variance activations), batch 2 (one CFG pair). Variants: the attention
softmax (SDPA) upcast to fp32 or run in bf16 (torch's CPU kernel accumulates in fp32 either
way), GroupNorm statistics in fp32 or bf16. Error: relative L2 to the fp32 forward. Interleaved
repeats, medians. `--width 320 --latent 64 --device cuda`: SD-1.5's width at 512² on a GPU
(where an fp32 softmax also means no bf16 flash-attention kernel).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bf16_numerics.py [--repeats 7]
        [--device cuda] [--width 320] [--latent 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from ldm_plugin_unet import attention as attn_mod
from ldm_plugin_unet import layers
from ldm_plugin_unet.params import UNetParams
from ldm_plugin_unet.unet import UNetModel
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vs_diffusers import randomize_  # noqa: E402

NARROW = dict(model_channels=64, channel_mult=[1, 2, 4, 4], num_res_blocks=2,
              attention_resolutions=[4, 2, 1], num_heads=8, context_dim=768)


def gn_upcast(self, x):
    return F.group_norm(x.float(), self.num_groups, self.weight.float(), self.bias.float(),
                        self.eps).to(x.dtype)


def gn_native(self, x):
    return F.group_norm(x, self.num_groups, self.weight.to(x.dtype), self.bias.to(x.dtype),
                        self.eps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--width", type=int, default=64, help="model_channels (SD-1.5: 320)")
    ap.add_argument("--latent", type=int, default=16)
    args = ap.parse_args()
    dev = torch.device(args.device)
    if dev.type == "cpu":
        torch.set_num_threads(1)
    torch.manual_seed(0)
    arch = {**NARROW, "model_channels": args.width}
    net = UNetModel(UNetParams(in_channels=4, out_channels=4, **arch)).eval()
    randomize_(net, 0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, args.latent, args.latent, generator=g).to(dev)
    ctx, t = torch.randn(2, 77, 768, generator=g).to(dev), torch.tensor([500, 500], device=dev)
    net16 = UNetModel(UNetParams(in_channels=4, out_channels=4, **arch)).eval()
    net16.load_state_dict(net.state_dict())
    net16.to(dev, torch.bfloat16)
    net.to(dev)
    with torch.no_grad():
        ref = net(x, t, context=ctx)
    upcast0, gn0 = attn_mod.UPCAST, layers.GroupNorm32.forward
    gn_fp32 = gn_upcast
    variants = {
        "fp32": (net, False, True),
        "bf16, softmax fp32, GN fp32": (net16, True, True),
        "bf16, softmax bf16, GN fp32": (net16, False, True),
        "bf16, softmax fp32, GN bf16": (net16, True, False),
        "bf16, softmax bf16, GN bf16": (net16, False, False),
    }

    def run(name):
        model, upcast, gn32 = variants[name]
        attn_mod.UPCAST = (torch.float16, torch.bfloat16) if upcast else (torch.float16,)
        layers.GroupNorm32.forward = gn_fp32 if gn32 else gn_native
        dtype = next(model.parameters()).dtype
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            out = model(x.to(dtype), t, context=ctx.to(dtype)).float()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) * 1e3, out

    times = {k: [] for k in variants}
    errs = {}
    for name in variants:
        run(name)  # warm-up
    for i in range(args.repeats):
        for name in (list(variants) if i % 2 == 0 else list(variants)[::-1]):
            ms, out = run(name)
            times[name].append(ms)
            errs[name] = ((out - ref).norm() / ref.norm()).item()
    attn_mod.UPCAST, layers.GroupNorm32.forward = upcast0, gn0
    base = times["fp32"]
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "1 thread"
    print(f"SD-shaped UNet mc {args.width}, batch 2, {args.latent}×{args.latent}, ctx 77×768, "
          f"{where}, {args.repeats} interleaved repeats\n")
    print("| variant | ms (median) | paired ratio to fp32 | rel. L2 error vs fp32 |")
    print("|---|---:|---:|---:|")
    for name, ts in times.items():
        ratio = statistics.median(a / b for a, b in zip(ts, base))
        print(f"| {name} | {statistics.median(ts):.1f} | {ratio:.3f} | {errs[name]:.2e} |")


if __name__ == "__main__":
    main()
