"""One SD-1.5 UNet forward on a GPU: ours vs diffusers' UNet2DConditionModel, same weights.

Variants per (dtype, latent): each library eager in its default NCHW layout and with its
weights in channels_last, and ours replayed from a CUDA graph (ldmcore/cuda_graphs.py). Batch
2 (one CFG pair), context 77×768, CUDA-event times of single forwards, variants interleaved
over rounds; medians and the ratio to diffusers NCHW. Then torch.profiler's top CUDA kernels of
one bf16 forward on each side, to show where the time goes.

    python benchmarks/gpu_forward.py [--latents 32,64] [--rounds 5] [--iters 10] [--out DIR]

On a machine without CUDA it prints why it skips and exits 0.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def build_pair():
    """Our SD-1.5 UNet (random weights ~ unit-variance activations) and diffusers' with them."""
    from ldm_plugin_unet.params import UNetParams
    from ldm_plugin_unet.unet import UNetModel
    from sd15_vs_diffusers import UNET_SD15
    from vs_diffusers import randomize_

    torch.manual_seed(0)
    ours = UNetModel(UNetParams(in_channels=4, out_channels=4, context_dim=768, **UNET_SD15))
    randomize_(ours.eval(), 0)
    ours.params = ours.p  # as the builder sets it

    class Holder:  # what diffusers_unet reads from a model
        denoiser, latent_shape = ours, (4, 64, 64)

    from sd15_vs_diffusers import diffusers_unet

    return ours, diffusers_unet(Holder)


def variants(ours, theirs) -> dict:
    """name -> fn(x, t, context): each library as is and in channels_last, ours graphed."""
    from ldmcore.cuda_graphs import GraphedDenoiser

    ours_cl = copy.deepcopy(ours).to(memory_format=torch.channels_last)
    theirs_cl = copy.deepcopy(theirs).to(memory_format=torch.channels_last)
    graphed, graphed_cl = GraphedDenoiser(ours), GraphedDenoiser(ours_cl)

    def diff(m):
        return lambda x, t, c: m(x, t, encoder_hidden_states=c).sample

    return {"diffusers NCHW": diff(theirs), "diffusers channels_last": diff(theirs_cl),
            "ours NCHW": lambda x, t, c: ours(x, t, context=c),
            "ours channels_last": lambda x, t, c: ours_cl(x, t, context=c),
            "ours NCHW, CUDA graph": lambda x, t, c: graphed(x, t, context=c),
            "ours channels_last, CUDA graph": lambda x, t, c: graphed_cl(x, t, context=c)}


def time_forwards(fns: dict, inputs: tuple, rounds: int, iters: int) -> dict[str, list[float]]:
    x, t, ctx = inputs
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up (and the graph's capture)
        for _ in range(3):
            fn(x, t, ctx)
    torch.cuda.synchronize()
    for r in range(rounds):
        for name in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
            for _ in range(iters):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(
                    enable_timing=True)
                start.record()
                fns[name](x, t, ctx)
                end.record()
                end.synchronize()
                times[name].append(start.elapsed_time(end))
    return times


def top_kernels(fn, inputs, rows: int = 12) -> str:
    from torch.profiler import ProfilerActivity, profile

    fn(*inputs)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn(*inputs)
        torch.cuda.synchronize()
    return prof.key_averages().table(sort_by="cuda_time_total", row_limit=rows,
                                     max_name_column_width=70)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latents", default="32,64")
    ap.add_argument("--dtypes", default="bf16,fp32")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--out", type=Path, default=None, help="also write the kernel tables here")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_forward: no CUDA device on this machine; skipping")
        return 0
    ours32, theirs32 = build_pair()
    dev = torch.device("cuda")
    print(f"{torch.cuda.get_device_name()}; torch {torch.__version__}; SD-1.5 UNet "
          f"({sum(p.numel() for p in ours32.parameters()) / 1e6:.1f} M params), batch 2, "
          f"context 77×768; {args.rounds} interleaved rounds × {args.iters} forwards; ms per "
          f"forward (median), ratio to diffusers NCHW\n")
    print("| dtype | latent | variant | ms | ratio |")
    print("|---|---:|---|---:|---:|")
    tables = []
    for dname in args.dtypes.split(","):
        dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[dname]
        fns = variants(copy.deepcopy(ours32).to(dev, dtype),
                       copy.deepcopy(theirs32).to(dev, dtype))
        for latent in (int(v) for v in args.latents.split(",")):
            g = torch.Generator().manual_seed(1)
            inputs = (torch.randn(2, 4, latent, latent, generator=g).to(dev, dtype),
                      torch.tensor([500, 500], device=dev),
                      torch.randn(2, 77, 768, generator=g).to(dev, dtype))
            with torch.no_grad():
                ref = fns["diffusers NCHW"](*inputs).float()
                err = (fns["ours NCHW"](*inputs).float() - ref).norm() / ref.norm()
                times = time_forwards(fns, inputs, args.rounds, args.iters)
                base = statistics.median(times["diffusers NCHW"])
                for name, ts in times.items():
                    ms = statistics.median(ts)
                    print(f"| {dname} | {latent} | {name} | {ms:.2f} | {ms / base:.3f} |",
                          flush=True)
                print(f"| {dname} | {latent} | (ours vs diffusers output, rel. L2) | "
                      f"{err.item():.1e} | |")
                if dname == "bf16" and latent == max(int(v) for v in args.latents.split(",")):
                    for name in ("ours NCHW", "diffusers NCHW", "ours channels_last"):
                        tables.append(f"### {name}, bf16, latent {latent}\n\n"
                                      + top_kernels(fns[name], inputs))
        del fns
        torch.cuda.empty_cache()
    text = "\n\n".join(tables)
    print("\n" + text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_forward_kernels.txt").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
