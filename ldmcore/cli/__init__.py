"""The `ldm` command line. Each subcommand is a module with HELP, configure(parser), run(args).

Subcommand modules import nothing heavy at module level, so `ldm --help` stays fast.
"""
