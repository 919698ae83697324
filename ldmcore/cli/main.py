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
    "inputs": "inputs_cmd",
    "train": "train",
    "eval": "evaluate",
    "convert": "convert",
    "import": "import_cmd",
    "plot": "plot",
    "serve": "serve",
}


def make_parser() -> argparse.ArgumentParser:
    parser, _ = _parsers()
    return parser


class _OneLineParser(argparse.ArgumentParser):
    """A usage error is one line, like every other error a user can cause (exit 2)."""

    def error(self, message: str):
        # parse_intermixed_args reports the optional `overrides` list as required too
        message = message.replace(", key=value", "")
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = _OneLineParser(
        prog="ldm",
        description="Latent diffusion models assembled from plugins by a YAML graph spec.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = {}
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"ldmcore.cli.{module_name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(p)
        p.set_defaults(_run=module.run, command=name)
        commands[name] = p
    return parser, commands


def parse(argv: list[str]) -> argparse.Namespace:
    """Options, positionals and key=value overrides in any order after the command
    (`ldm generate MODEL --prompt x guider.params.scale=2`)."""
    parser, commands = _parsers()
    at = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if at is None or argv[at] not in commands:
        return parser.parse_args(argv)
    parser.parse_args(argv[:at])  # --version / --help before the command
    command = commands[argv[at]]
    try:
        return command.parse_intermixed_args(argv[at + 1:])
    except TypeError:  # a command with sub-commands of its own (registry)
        return command.parse_args(argv[at + 1:])


def _version() -> str:
    from .. import __version__

    return f"ldm (ldmcore) {__version__}"


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else list(argv))
    if not getattr(args, "_run", None):
        make_parser().print_help()
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
