"""`ldm registry build|check|add-model|share|set-default`: registry/ and its model cards."""

from __future__ import annotations

from pathlib import Path

HELP = "build or check registry/ from the installed plugins; add a trained model with a card"


def configure(parser) -> None:
    parser.add_argument("--dir", default="registry", help="registry folder (default: registry)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("build", help="write components.json and graph.schema.json")
    actions.add_parser("check", help="fail when registry/ is stale or a model card is wrong")
    add = actions.add_parser("add-model", help="ship trained weights (fp16) with a model card")
    add.add_argument("weights", help="a native .safetensors (e.g. RUN/diffusion/model.safetensors)")
    add.add_argument("--name", required=True)
    add.add_argument("--task", required=True)
    add.add_argument("--description", default="")
    add.add_argument("--first-stage", metavar="CARD",
                     help="the first-stage card the model was trained on: named by the file "
                          "(with its sha256), not embedded")
    add.add_argument("--eval", dest="eval_json", help="`ldm eval --out` JSON with its metrics")
    add.add_argument("--command", dest="commands", action="append", default=[],
                     help="a training command that produced the weights (repeatable)")
    share = actions.add_parser("share", help="rewrite a card's file to name its first-stage "
                                             "card instead of embedding a copy (same model)")
    share.add_argument("name", help="the model card to rewrite")
    share.add_argument("--first-stage", metavar="CARD", required=True,
                       help="the first-stage card whose weights the model embeds")
    default = actions.add_parser("set-default", help="change a card's sampling defaults "
                                                     "(sampler, guider, sampling), with the "
                                                     "metrics measured at them")
    default.add_argument("name", help="the model card")
    default.add_argument("overrides", nargs="+", metavar="key=value",
                         help="e.g. guider.params.scale=1.5")
    default.add_argument("--eval", dest="eval_json", required=True,
                         help="`ldm eval NAME key=value... --out` JSON: the card's new metrics")


def run(args) -> int:
    from .. import registry_view
    from ..errors import PluginError, SpecError
    from ..plugins import default_registry

    root = Path(args.dir)
    if args.action == "add-model":

        from .. import cards

        metrics = _read_eval(args.eval_json) if args.eval_json else None
        path = cards.export(args.weights, args.name, task=args.task, commands=args.commands,
                            metrics=metrics, description=args.description,
                            first_stage=args.first_stage, root=root / "models")
        print(f"wrote {path}")
        return 0
    if args.action == "share":
        from .. import cards

        path = cards.share(args.name, args.first_stage, root / "models")
        print(f"wrote {path} (first stage: card {args.first_stage})")
        return 0
    if args.action == "set-default":
        from .. import cards

        path = cards.set_defaults(args.name, args.overrides, _read_eval(args.eval_json),
                                  root / "models")
        print(f"wrote {path} (defaults: {' '.join(args.overrides)})")
        return 0
    registry = default_registry()
    if registry.failures:
        raise PluginError(registry.failures[0].describe())
    if args.action == "build":
        for path in registry_view.write(registry, root):
            print(f"wrote {path}")
        return 0
    registry_view.check(registry, root)
    from ..cards import verify

    problems = verify(root / "models")
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise SpecError(problems[0] + more)
    print(f"{root} is up to date")
    return 0


def _read_eval(path: str) -> dict:
    """The `ldm eval --out` JSON a card records as its metrics."""
    import json

    from ..errors import DataError

    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise DataError(f"--eval {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"--eval {path}: not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise DataError(f"--eval {path}: expected the JSON object `ldm eval --out` writes")
    return data
