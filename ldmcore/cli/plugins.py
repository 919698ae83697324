"""`ldm plugins`: installed plugins, their versions and components, and load failures."""

from __future__ import annotations

import json

HELP = "list installed plugins, their components and load failures"


def configure(parser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def plugin_table(registry) -> list[dict]:
    rows = []
    for info in registry.plugins:
        comps = [
            f"{kind}:{name}"
            for kind, named in registry.components.items()
            for name, c in sorted(named.items())
            if c.plugin == info
        ]
        rows.append({"name": info.name, "distribution": info.distribution,
                     "version": info.version, "components": comps})
    return rows


def run(args) -> int:
    from ..plugins import default_registry

    registry = default_registry()
    rows = plugin_table(registry)
    failures = [f.__dict__ for f in registry.failures]
    if args.json:
        print(json.dumps({"plugins": rows, "failures": failures}, indent=2))
        return 0
    for row in rows:
        print(f"{row['name']:<16} {row['distribution']} {row['version']}")
        for comp in row["components"]:
            print(f"    {comp}")
    for failure in registry.failures:
        print(f"FAILED {failure.describe()}")
    if not rows and not failures:
        print("no plugins installed")
    return 0
