"""`ldm convert SRC DST --spec SPEC [--ema] [--to native|compvis|diffusers]`."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import CheckpointError

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


PARTS = ("first_stage", "denoiser", "conditioners")


def check_parts(parts: list[str], spec) -> None:
    """`--only` names parts of the model: first_stage, denoiser, conditioners[.NAME], or a
    dotted prefix inside one; anything else would write untrained weights without a word."""
    for part in parts:
        head, _, rest = part.partition(".")
        if head not in PARTS:
            raise CheckpointError(f"--only {part}: not a part of the model (parts: first_stage, "
                                  "denoiser, conditioners.NAME)")
        name = rest.partition(".")[0]
        if head == "conditioners" and name and spec is not None and name not in (
                spec.conditioners or {}):
            known = ", ".join(spec.conditioners) or "none"
            raise CheckpointError(f"--only {part}: the spec has no conditioner '{name}' "
                                  f"(conditioners: {known})")


def check_destination(dst: Path, to: str) -> None:
    """Refuse before converting anything: DST must be writable in the format's shape."""
    if to == "diffusers":
        if dst.exists() and not dst.is_dir():
            raise CheckpointError(f"{dst}: exists and is not a folder (diffusers writes one)")
    elif dst.is_dir():
        raise CheckpointError(f"{dst}: is a directory; give a file name (.safetensors/.ckpt)")
    parent = dst.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise CheckpointError(f"{dst}: cannot be created: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CheckpointError(f"{dst}: cannot be written: {parent} is not writable")


def run(args) -> int:
    from ..checkpoint.export import infer_format
    from ..checkpoint.native import remove_orphans
    from ..sources.convert import convert

    dst = Path(args.dst)
    parts = [p.strip() for p in args.only.split(",") if p.strip()] if args.only else None
    if args.only is not None and not parts:
        raise CheckpointError("--only: give part names, e.g. --only first_stage,denoiser")
    if parts:
        spec = None
        if args.spec:
            from ..spec.resolve import resolve_spec

            spec = resolve_spec(args.spec, args.overrides)
        check_parts(parts, spec)
    check_destination(dst, args.to or infer_format(dst))
    try:
        dst, report = convert(
            args.src, args.dst, spec=args.spec, to=args.to, overrides=args.overrides,
            ema=args.ema, strict=not args.non_strict, conditioner=args.conditioner,
            parts=parts,
        )
    except (OSError, RuntimeError) as exc:  # disk full, a path that cannot be written
        remove_orphans(dst)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CheckpointError(f"cannot write {dst}: {why.splitlines()[0]}") from None
    except Exception as exc:
        if type(exc).__name__ != "SafetensorError":
            raise
        remove_orphans(dst)
        raise CheckpointError(f"cannot write {dst}: {str(exc).splitlines()[0]}") from None
    print(f"wrote {dst}")
    if not report.ok:
        print(f"  not loaded: {report.summary()}")
    for note in report.notes:
        print(f"  note: {note}")
    if report.ignored:
        shown = ", ".join(report.ignored[:3]) + (", ..." if len(report.ignored) > 3 else "")
        print(f"  ignored {len(report.ignored)} checkpoint tensors ({shown})")
    return 0
