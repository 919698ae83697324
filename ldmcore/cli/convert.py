"""`ldm convert SRC DST --spec SPEC [--ema] [--to native|compvis|diffusers]`."""

from __future__ import annotations

HELP = "convert a checkpoint between native, CompVis/SD (.ckpt/.safetensors) and diffusers"

EPILOG = """\
formats: native = one .safetensors with the spec inside; compvis = .ckpt/.safetensors with
model.diffusion_model./first_stage_model. keys; diffusers = a folder (unet/, vae/).
CompVis and diffusers sources need --spec (their files do not say the architecture) unless
they were written by ldm convert. Loading is strict: any missing, unexpected or mis-shaped key
is an error naming the file and the first keys.
"""


def configure(parser) -> None:
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("src", help="checkpoint file or diffusers folder to read")
    parser.add_argument("dst", help="file (.safetensors, .ckpt) or folder to write")
    parser.add_argument("--spec", help="graph spec (YAML) describing the architecture")
    parser.add_argument("--to", choices=("native", "compvis", "diffusers"),
                        help="output format (default: from DST: .ckpt compvis, "
                             ".safetensors native, otherwise a diffusers folder)")
    parser.add_argument("--ema", action="store_true",
                        help="use the EMA weights (model_ema.*) of a CompVis checkpoint")
    parser.add_argument("--conditioner", metavar="NAME",
                        help="the spec conditioner that receives cond_stage_model.* weights")
    parser.add_argument("--only", metavar="PARTS",
                        help="load only these parts, comma separated (e.g. first_stage,denoiser);"
                             " the others keep the spec's initialisation")
    parser.add_argument("--non-strict", action="store_true",
                        help="load what fits and report the rest instead of failing")
    parser.add_argument("overrides", nargs="*", default=[], metavar="KEY=VALUE",
                        help="spec overrides (dot-list)")


def run(args) -> int:
    from ..sources.convert import convert

    parts = [p.strip() for p in args.only.split(",") if p.strip()] if args.only else None
    dst, report = convert(
        args.src, args.dst, spec=args.spec, to=args.to, overrides=args.overrides,
        ema=args.ema, strict=not args.non_strict, conditioner=args.conditioner, parts=parts,
    )
    print(f"wrote {dst}")
    if not report.ok:
        print(f"  not loaded: {report.summary()}")
    for note in report.notes:
        print(f"  note: {note}")
    if report.ignored:
        shown = ", ".join(report.ignored[:3]) + (", ..." if len(report.ignored) > 3 else "")
        print(f"  ignored {len(report.ignored)} checkpoint tensors ({shown})")
    return 0
