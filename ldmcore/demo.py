"""`make demo`: the main job on the embedded default, offline.

Generates layout-to-image and text-to-image grids from the shipped shapes-world models
(registry/models/), measures their conditional fidelity exactly (the shapes world is its own
ground truth) and says where the pictures are and what to try next.

    python -m ldmcore.demo [--out outputs/demo] [--num-samples 32] [--steps 50]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

LAYOUTS = [
    "circle red 0.1 0.1 0.45 0.45; square blue 0.55 0.55 0.9 0.9",
    "triangle green 0.3 0.05 0.7 0.45; circle yellow 0.3 0.55 0.7 0.95",
    "square yellow 0.05 0.3 0.4 0.7; triangle red 0.6 0.3 0.95 0.7",
    "circle blue 0.25 0.25 0.75 0.75",
]
PROMPTS = [
    "a red circle",
    "a blue square",
    "a green triangle above a yellow circle",
    "a yellow square left of a red triangle",
]
#: (card name, task, the CLI option that conditions it, example inputs)
DEMOS = [
    ("shapes-layout2img", "layout2img", "layout", LAYOUTS),
    ("shapes-txt2img", "txt2img", "prompt", PROMPTS),
]


def _open(card: str, task: str, steps: int):
    from . import build, cards
    from .errors import CheckpointError
    from .sources import open_model

    overrides = [f"sampler.params.steps={steps}"]
    try:
        cards.read(card)
    except CheckpointError:  # no shipped model: say so and show the plumbing
        print(f"  ! {card} is not shipped in registry/models yet (train it: see README, "
              f"'Shipped models'); using an UNTRAINED configs/{task}.yaml instead")
        return build(f"configs/{task}.yaml", overrides), False
    return open_model(card, overrides), True


def _grid(model, option: str, texts: list[str], out: Path, seed: int) -> Path:
    import torch

    from .inputs import read_inputs
    from .viz import save_grid

    per = 2
    batches = [read_inputs(model.spec, {option: t}).batch(per) for t in texts]
    batch = {k: (torch.cat([b[k] for b in batches]) if isinstance(batches[0][k], torch.Tensor)
                 else sum((b[k] for b in batches), [])) for k in batches[0]}
    images = model.sample(batch, generator=torch.Generator().manual_seed(seed), progress=False)
    captions = [_short(t) for t in texts for _ in range(per)]
    return save_grid(images, out, nrow=per * 2, captions=captions, boxes=batch.get("boxes"),
                     upscale=4)


def _short(text: str) -> str:
    """'circle red 0.1 0.1 0.4 0.4; square blue ...' -> 'circle red, square blue'."""
    if ";" not in text and not any(c.isdigit() for c in text):
        return text
    return ", ".join(" ".join(part.split()[:2]) for part in text.split(";"))


def _fidelity(model, num_samples: int, seed: int) -> dict[str, float]:
    from .evaluation import evaluate

    names = [n for n, node in model.spec.evaluators.items() if node.type == "shapes_fidelity"]
    result = evaluate(model, num_samples=num_samples, seed=seed, progress=False,
                      evaluators=names, batch_size=32)
    return result.metrics


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(prog="python -m ldmcore.demo", description=__doc__)
    parser.add_argument("--out", default="outputs/demo")
    parser.add_argument("--num-samples", type=int, default=64,
                        help="held-out items to measure fidelity on, per model")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    print("ldmcore demo: latent diffusion on the procedural shapes world (offline, CPU)\n")
    started = time.time()
    written, trained_all = [], True
    for card, task, option, texts in DEMOS:
        print(f"[{task}] {card}")
        model, trained = _open(card, task, args.steps)
        trained_all &= trained
        model.eval()
        t0 = time.time()
        path = _grid(model, option, texts, out / f"{task}.png", args.seed)
        metrics = _fidelity(model, args.num_samples, args.seed)
        took = time.time() - t0
        written.append(path)
        shown = ", ".join(f"{k.split('.')[-1]} {v:.3f}" for k, v in metrics.items()
                          if not k.endswith(("num_boxes", "num_samples", "num_images")))
        print(f"  wrote {path}  ({took:.1f}s of sampling, {args.steps} DDIM steps)")
        print(f"  conditional fidelity on {args.num_samples} held-out "
              f"{'layouts' if option == 'layout' else 'captions'}: {shown}\n")
    print(f"done in {time.time() - started:.0f}s. Pictures: {', '.join(map(str, written))}")
    print("\nnext:")
    print('  .venv/bin/ldm generate shapes-layout2img --layout "circle red 0.1 0.1 0.5 0.5; '
          'square blue 0.5 0.5 0.9 0.9" --out outputs/mine.png')
    print('  .venv/bin/ldm generate shapes-txt2img --prompt "a blue circle above a red square" '
          "--scale 3 --size 64   # larger than trained: convolutional sampling")
    print("  .venv/bin/ldm eval shapes-layout2img -n 200 --evaluator fidelity  # card metric")
    print("  .venv/bin/ldm train configs/class2img.yaml --stage first_stage   # train your own")
    if not trained_all:
        print("\nnote: some models above were untrained (no shipped weights found)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
