"""`ldm eval SPEC_OR_MODEL --num-samples N`: sample N held-out items, print metrics, write JSON."""

from __future__ import annotations

HELP = "evaluate a model (or a spec + --checkpoint) on N held-out items: metrics table + JSON"


def configure(parser) -> None:
    from .generate import add_model_options

    add_model_options(parser, what="the model to score")
    parser.add_argument("-n", "--num-samples", type=int, required=True,
                        help="number of held-out items to sample and score")
    parser.add_argument("--batch-size", type=int, default=16, help="sampling batch size")
    parser.add_argument("--evaluator", action="append", default=None, metavar="NAME",
                        help="only this evaluator (an entry of the spec's evaluators:, or an "
                        "evaluator type with default params); repeatable")
    parser.add_argument("--out", default="outputs/eval.json", help="JSON results path")
    parser.add_argument("--grid", default=None, metavar="PNG", help="also save a grid of samples")
    parser.add_argument("--reconstruct", action="store_true",
                        help="score the first stage's reconstructions D(E(x)) instead of samples "
                        "(automatic for a first-stage export)")


def run(args) -> int:
    from ..errors import DataError

    if args.num_samples <= 0:
        raise DataError(f"--num-samples must be positive, got {args.num_samples}")
    if args.batch_size <= 0:
        raise DataError(f"--batch-size must be positive, got {args.batch_size}")
    from ..devices import pick_device
    from .generate import check_out, sampling_overrides

    device = pick_device(args.device, default_gpu=False)
    overrides = sampling_overrides(args)
    check_out(args.out, ".json")
    if args.grid:
        check_out(args.grid)

    import torch

    from ..evaluation import evaluate, format_table, save_eval_grid
    from ..sources import open_for_use

    torch.manual_seed(args.seed)  # untrained weights (a spec alone) are then reproducible too
    opened = open_for_use(args.model, overrides, args.checkpoint)
    model, notes = opened.model, opened.notes
    reconstruct = args.reconstruct or (
        args.checkpoint is None and not opened.source.trained_denoiser
    )
    model.to(device)
    info = {"spec": args.model, "checkpoint": args.checkpoint, "overrides": overrides}
    result = evaluate(model, num_samples=args.num_samples, batch_size=args.batch_size,
                      seed=args.seed, progress=not args.no_progress, notes=notes, info=info,
                      evaluators=args.evaluator, reconstruct=reconstruct)
    if args.grid:
        result.info["grid"] = str(save_eval_grid(result, args.grid))
    path = result.write_json(args.out)
    print(format_table(result.metrics))
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {path}" + (f" and {result.info['grid']}" if args.grid else ""))
    return 0
