"""`make demo`: the main job on the embedded default, offline.

Samples a grid from each of the seven shipped shapes-world models (registry/models/), one per
task of the paper, its conditioning drawn (captions, boxes, or the input picture beside the
sample and the ground truth). Measures each task's metric on held-out items (the shapes world
is its own ground truth), prints it beside the card's number, and says what to try next.

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
CLASSES = ["red circle", "blue square", "green triangle", "yellow circle"]
#: (card name, task, the CLI option that conditions it, example inputs or None: the grid shows
#: held-out items, each input beside its sample, and the headline metrics of the task)
DEMOS = [
    ("shapes-unconditional", "unconditional", None, None),
    ("shapes-class2img", "class2img", "class", CLASSES),
    ("shapes-txt2img", "txt2img", "prompt", PROMPTS),
    ("shapes-layout2img", "layout2img", "layout", LAYOUTS),
    ("shapes-semantic2img", "semantic2img", None, None),
    ("shapes-superres", "superres", None, None),
    ("shapes-inpainting", "inpainting", None, None),
]
#: the paper's metric for each task, as `evaluator.metric` keys of `ldm eval`
HEADLINE = {
    "unconditional": ["fidelity.object_rate", "precision_recall.dataset_feature_precision",
                      "precision_recall.dataset_feature_recall"],
    "class2img": ["fidelity.accuracy"],
    "txt2img": ["fidelity.accuracy"],
    "layout2img": ["fidelity.recall", "fidelity.mean_iou"],
    "semantic2img": ["miou", "miou.pixel_accuracy"],
    "superres": ["psnr", "bicubic.psnr"],
    "inpainting": ["restored", "known.known_error"],
}
#: evaluators whose features must be trained first (minutes): left to `ldm eval`
_SLOW = ("fid", "kid", "precision_recall")


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


def _measure(model, num_samples: int, seed: int):
    """`ldm eval` on the first held-out items with the task's quick evaluators."""
    from .evaluation import evaluate

    names = [n for n, node in model.spec.evaluators.items() if node.type not in _SLOW]
    return evaluate(model, num_samples=num_samples, seed=seed, progress=False,
                    evaluators=names, batch_size=32)


def _headline(task: str, measured: dict, card: dict) -> str:
    """'accuracy 0.938 (card: 0.925 on 200)' for each headline metric of the task."""
    shown = []
    card_metrics = card.get("metrics", {}).get("metrics", {})
    n = card.get("metrics", {}).get("num_samples")
    for key in HEADLINE[task]:
        part = key.split(".", 1)[1] if key.startswith(("fidelity.", "precision_recall.")) else key
        here = f"{measured[key]:.3f}" if key in measured else "-"
        there = f" (card: {card_metrics[key]:.3f} on {n})" if key in card_metrics else ""
        if key in measured or there:
            shown.append(f"{part} {here}{there}")
    return ", ".join(shown)


def main(argv: list[str] | None = None) -> int:
    import torch

    from . import cards

    parser = argparse.ArgumentParser(prog="python -m ldmcore.demo", description=__doc__)
    parser.add_argument("--out", default="outputs/demo")
    parser.add_argument("--num-samples", type=int, default=32,
                        help="held-out items to measure each task's metric on")
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
        result = _measure(model, args.num_samples, args.seed)
        if texts:
            path = _grid(model, option, texts, out / f"{task}.png", args.seed)
        else:
            from .evaluation import save_eval_grid

            path = save_eval_grid(result, out / f"{task}.png", max_images=8)
        took = time.time() - t0
        written.append(path)
        info = cards.read(card) if trained else {}
        print(f"  wrote {path}  ({took:.1f}s of sampling, {args.steps} DDIM steps)")
        print(f"  {_headline(task, result.metrics, info)}  [{args.num_samples} held-out]\n")
    print(f"done in {time.time() - started:.0f}s. Pictures: {', '.join(map(str, written))}")
    print("\nnext:")
    print('  .venv/bin/ldm generate shapes-layout2img --layout "circle red 0.1 0.1 0.5 0.5; '
          'square blue 0.5 0.5 0.9 0.9" --out outputs/mine.png')
    print('  .venv/bin/ldm generate shapes-txt2img --prompt "a blue circle above a red square" '
          "--size 64   # larger than trained: convolutional sampling")
    print("  .venv/bin/ldm generate shapes-class2img --class 'blue circle' -n 8")
    print("  .venv/bin/ldm eval shapes-semantic2img -n 200   # a card's metric, FID included")
    print("  .venv/bin/ldm train configs/class2img.yaml --stage first_stage   # train your own")
    if not trained_all:
        print("\nnote: some models above were untrained (no shipped weights found)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
