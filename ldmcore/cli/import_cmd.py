"""`ldm import CONFIG.yaml [--ckpt CKPT] --out spec.yaml`: a CompVis / SD config as a spec."""

from __future__ import annotations

HELP = "translate a CompVis / Stable Diffusion config.yaml into an ldmcore graph spec"

EPILOG = """\
Reads model.target, unet_config, first_stage_config, cond_stage_config, conditioning_key,
scale_factor, the schedule and parameterization. What has no ldmcore equivalent is listed
(and written as comments at the top of the spec), never dropped silently. With --ckpt the
checkpoint is loaded strictly into the built spec to prove they match.
"""


def configure(parser) -> None:
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("config", help="CompVis / SD config YAML (model: target: ...)")
    parser.add_argument("--out", required=True, help="spec YAML to write")
    parser.add_argument("--ckpt", help="checkpoint to load strictly into the spec as a check")
    parser.add_argument("--ema", action="store_true", help="with --ckpt: use its EMA weights")


def run(args) -> int:
    from ..checkpoint.compvis_config import import_config, write_spec

    imported = import_config(args.config)
    write_spec(imported, args.out)
    print(f"wrote {args.out} ({imported.summary})")
    for item in imported.unsupported:
        print(f"  not expressed: {item}")
    if args.ckpt:
        from ..sources import from_checkpoint

        model = from_checkpoint(args.ckpt, args.out, ema=args.ema)
        report = model.load_report
        print(f"  {args.ckpt}: loaded strictly ({report.summary()}; "
              f"{len(report.ignored)} bookkeeping tensors set aside)")
        for note in report.notes:
            print(f"  note: {note}")
    return 0
