"""`ldm schema`: the JSON Schema of the graph spec for the installed plugins."""

from __future__ import annotations

import json

HELP = "print the JSON Schema of the graph spec (for YAML editors)"


def configure(parser) -> None:
    pass


def run(args) -> int:
    from ..plugins import default_registry
    from ..registry_view import graph_schema

    print(json.dumps(graph_schema(default_registry()), indent=2, sort_keys=True))
    return 0
