"""`ldm registry build|check`: write or verify registry/ from the installed plugins."""

from __future__ import annotations

from pathlib import Path

HELP = "build or check the registry's published view (registry/)"


def configure(parser) -> None:
    parser.add_argument("action", choices=["build", "check"])
    parser.add_argument("--dir", default="registry", help="registry folder (default: registry)")


def run(args) -> int:
    from .. import registry_view
    from ..plugins import default_registry

    registry = default_registry()
    if registry.failures:
        from ..errors import PluginError

        raise PluginError(registry.failures[0].describe())
    root = Path(args.dir)
    if args.action == "build":
        for path in registry_view.write(registry, root):
            print(f"wrote {path}")
        return 0
    registry_view.check(registry, root)
    print(f"{root} is up to date")
    return 0
