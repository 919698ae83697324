"""One UNet forward at the CFG batch: ours eager, ours compiled (inductor, with and without
`freezing`, oneDNN weight prepacking), against diffusers eager holding the same weights.

The model is vs_diffusers.py's (mc 64, mult 1-2-2, 16×16 latents, context 24×128, batch 2B).
Runs are interleaved with the order alternating; each row gives the median ms and the median
paired ratio to diffusers with its min–max. Both compiles start from an empty inductor cache.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/compile_vs_diffusers.py [--batch 4] [--repeats 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor_cold_")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vs_diffusers as vd  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4, help="images (the UNet sees 2x for CFG)")
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args(argv)
    model = vd.build_ours(vd.make_spec())
    unet, theirs = model.denoiser, vd.build_diffusers(model)
    context = vd.prompt_embeds(model, {"boxes": vd.random_boxes(args.batch, 8)})
    z = torch.randn(2 * args.batch, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    t = torch.full((2 * args.batch,), 501)
    runs = {"diffusers eager": lambda: theirs(z, t, encoder_hidden_states=context).sample,
            "ours eager": lambda: unet(z, t, context=context)}
    with torch.no_grad():
        reference = unet(z, t, context=context)
        variants = {"ours compiled": {}, "ours compiled, freezing": {"freezing": True}}
        for label, options in variants.items():
            torch._dynamo.reset()
            fn = torch.compile(unet, options=options)
            start = time.perf_counter()
            err = (fn(z, t, context=context) - reference).abs().max().item()
            took = time.perf_counter() - start
            print(f"{label}: compile {took:.1f} s, max |Δ| to eager {err:.1e}")
            runs[label] = lambda fn=fn: fn(z, t, context=context)
        times: dict[str, list[float]] = {k: [] for k in runs}
        for i in range(args.repeats + 1):
            for name in list(runs) if i % 2 == 0 else list(runs)[::-1]:
                start = time.perf_counter()
                runs[name]()
                if i:  # the first round warms up
                    times[name].append(time.perf_counter() - start)
    print(f"\nload average {os.getloadavg()[0]:.2f}; UNet batch {2 * args.batch}, "
          f"{args.repeats} interleaved repeats\n")
    print("| forward | ms | paired ratio to diffusers (min–max) |\n|---|---:|---:|")
    for name, ts in times.items():
        r = [a / b for a, b in zip(ts, times["diffusers eager"])]
        print(f"| {name} | {statistics.median(ts) * 1e3:.1f} | "
              f"{statistics.median(r):.3f} ({min(r):.3f}–{max(r):.3f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
