"""`ldm plugins`: installed plugins, their versions and components, load failures and
registrations rejected by the precedence rule (ldmcore.registry.PRECEDENCE)."""

from __future__ import annotations

import json
import os
import sys

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
                     "version": info.version, "first_party": info.first_party,
                     "components": comps})
    return rows


def conflict_table(registry) -> list[dict]:
    return [{"kind": c.kind, "name": c.name, "kept": c.kept.label(),
             "rejected": c.rejected.label(), "plugin": c.rejected.name,
             "message": c.describe()} for c in registry.conflicts]


def _lines(registry, as_json: bool) -> list[str]:
    rows = plugin_table(registry)
    failures = [f.__dict__ for f in registry.failures]
    if as_json:
        return [json.dumps({"plugins": rows, "failures": failures,
                            "conflicts": conflict_table(registry)}, indent=2)]
    out = []
    for row in rows:
        out.append(f"{row['name']:<16} {row['distribution']} {row['version']}")
        out += [f"    {comp}" for comp in row["components"]]
    out += [f"FAILED {failure.describe()}" for failure in registry.failures]
    out += [f"REJECTED {conflict.describe()}" for conflict in registry.conflicts]
    if not rows and not failures:
        out.append("no plugins installed")
    return out


def run(args) -> int:
    from ..plugins import default_registry

    try:
        for line in _lines(default_registry(), args.json):
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:  # `ldm plugins --json | head`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
    return 0
