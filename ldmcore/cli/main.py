"""Entry point of `ldm`: dispatch to a subcommand; user errors -> one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import LdmError

# name -> module under ldmcore.cli; each defines HELP, configure(parser) and run(args) -> int.
COMMANDS = {
    "plugins": "plugins",
    "components": "components",
    "validate": "validate",
    "schema": "schema",
    "registry": "registry_cmd",
    "generate": "generate",
    "train": "train",
    "eval": "evaluate",
    "convert": "convert",
    "import": "import_cmd",
    "plot": "plot",
}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ldm",
        description="Latent diffusion models assembled from plugins by a YAML graph spec.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"ldmcore.cli.{module_name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


def _version() -> str:
    from .. import __version__

    return f"ldm (ldmcore) {__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except LdmError as exc:
        print(f"ldm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ldm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
