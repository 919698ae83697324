"""`ldm train SPEC [key=value ...] [--stage first_stage|diffusion] [--resume [RUN_DIR|auto]]`."""

from __future__ import annotations

import argparse

HELP = "train the first stage or the latent diffusion model of a spec (torchrun for multi-GPU)"

EPILOG = """\
stages: `first_stage` trains the autoencoder (L1 + perceptual + PatchGAN + KL/VQ) into
<output_dir>/first_stage/first_stage.safetensors; `diffusion` trains the denoiser on the frozen
first stage (first_stage.checkpoint, or that export) into <output_dir>/diffusion/model.safetensors
(EMA weights; load with ldmcore.load). Without --stage the stage is inferred when obvious.
multi-GPU: torchrun --nproc_per_node N -m ldmcore.cli.main train SPEC ...
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("spec", help="graph spec YAML with a training: section")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="spec overrides, e.g. training.steps=2000 training.lr=2e-4")
    parser.add_argument("--stage", choices=("first_stage", "diffusion"), default=None,
                        help="what to train (default: inferred from the spec)")
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="RUN_DIR",
                        help="resume from RUN_DIR's (or a checkpoint file's) latest state; "
                             "'auto' or no value: this spec's run dir, if it has a checkpoint")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda, cuda:1 ... (default: this process's GPU, else CPU)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import os
    import sys
    from pathlib import Path

    from ..training.loop import train

    if args.resume and "=" in args.resume and not Path(args.resume).exists():
        args.overrides.append(args.resume)  # `--resume a.b=1`: the override is not a run dir
        args.resume = "auto"
    result = train(args.spec, args.overrides, stage=args.stage, resume=args.resume,
                   progress=not args.no_progress, device=args.device)
    main_rank = os.environ.get("RANK", "0") == "0"
    if result.status == "interrupted":
        if main_rank:
            print(f"ldm train: interrupted at step {result.step}; checkpoint "
                  f"{result.checkpoint}", file=sys.stderr)
        return 130
    if main_rank:
        print(f"{result.stage}: {result.step} steps in {result.run_dir}; weights "
              f"{result.export}")
    return 0
