"""`ldm components [KIND]`: every component with its params schema and ports."""

from __future__ import annotations

import json

HELP = "list components (optionally of one KIND) with params and ports"


def configure(parser) -> None:
    parser.add_argument("kind", nargs="?", help="first_stage, conditioner, denoiser, ...")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    from ..errors import SpecError
    from ..plugins import default_registry
    from ..registry import KINDS
    from ..registry_view import component_entries

    if args.kind and args.kind not in KINDS:
        raise SpecError(f"unknown kind '{args.kind}' (kinds: {', '.join(KINDS)})")
    entries = component_entries(default_registry())
    if args.kind:
        entries = {args.kind: entries[args.kind]}
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    for kind, named in entries.items():
        print(f"{kind}:")
        for name, entry in named.items():
            print(f"  {name:<20} ({entry['distribution']})  {entry['description']}")
            if entry["ports"]:
                print(f"  {'':<20} ports: {entry['ports']}")
            props = entry["params_schema"].get("properties", {})
            if props:
                print(f"  {'':<20} params: {', '.join(props)}")
    return 0
