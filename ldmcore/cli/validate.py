"""`ldm validate SPEC [key=value ...]`: everything but building — schema, types, ports."""

from __future__ import annotations

HELP = "validate a spec (schema, component types, ports) without building it"


def configure(parser) -> None:
    parser.add_argument("spec", help="path to a YAML graph spec")
    parser.add_argument("overrides", nargs="*", help="key=value overrides (dot-list)")


def run(args) -> int:
    from ..spec.resolve import resolve_spec
    from ..spec.wiring import check_wiring

    spec = resolve_spec(args.spec, args.overrides)
    wiring = check_wiring(spec, args.spec)
    conds = ", ".join(f"{n}:{node.type}->{node.wiring}" for n, node in spec.conditioners.items())
    print(
        f"{args.spec}: ok — {spec.task.type}: {spec.first_stage.type} "
        f"latent {wiring.latent.channels}×/{wiring.latent.factor}, "
        f"denoiser {spec.denoiser.type} in {wiring.in_channels} out {wiring.out_channels}"
        f"{f' context {wiring.context_dim}' if wiring.context_dim else ''}"
        f"{f', conditioners {conds}' if conds else ''}"
    )
    return 0
