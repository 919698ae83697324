"""`ldm inputs MODEL`: which conditioning inputs a model takes, and how to give them."""

from __future__ import annotations

HELP = "list the inputs a model takes (options for `ldm generate`) and their formats"


def configure(parser) -> None:
    parser.add_argument("model", help="a card name, .safetensors, a run's .pt or a spec (.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="spec overrides")
    parser.add_argument("--json", action="store_true", help="machine-readable")


def model_spec(name: str, overrides: list[str]):
    """The resolved spec of a model without building it (the file is read once)."""
    from ..sources import resolve
    from ..spec.resolve import resolve_spec

    source = resolve(name)
    if source.spec is None:
        return source, resolve_spec(source.path, overrides)
    return source, resolve_spec(source.spec, overrides, name=str(source.path))


def run(args) -> int:
    import json

    from ..inputs import describe_inputs, model_inputs

    source, spec = model_spec(args.model, list(args.overrides))
    formats = model_inputs(spec)
    palette = None
    if any(f.kind == "label_map" for f in formats.values()) and spec.training is not None:
        palette = spec.training.dataset.params.palette()
    if args.json:
        print(json.dumps({
            "model": args.model, "task": spec.task.type, "kind": source.kind,
            "inputs": [{"key": f.key, "option": f.flag, "kind": f.kind, "format": f.describe,
                        "num_classes": f.num_classes, "scale": f.scale}
                       for f in formats.values()],
            "palette": palette,
        }, indent=2))
        return 0
    print(f"{args.model}: task {spec.task.type}, {spec.image_size}² images")
    for line in describe_inputs(spec):
        print(f"  {line}")
    if palette:
        print("  segmentation palette (id: R G B): " + ", ".join(
            f"{i}: {r} {g} {b}" for i, (r, g, b) in enumerate(palette)))
    return 0
