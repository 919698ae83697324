"""`ldm serve [MODEL...]`: the local web studio (ldmcore.serve) on an ASGI server (uvicorn)."""

from __future__ import annotations

HELP = "a local web studio: draw layouts, paint masks and maps, generate with any shipped model"


def exposure_warning(host: str) -> str | None:
    """The warning for an address other machines may reach (None for loopback)."""
    import ipaddress

    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return None
    except ValueError:  # a host name: it may resolve to anything
        pass
    return (f"warning: listening on {host}: the server has no authentication; anyone who can "
            "reach this address can use it")


def configure(parser) -> None:
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help="card names in registry/models (default: every card with a "
                             "denoiser)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default loopback; the server has no "
                             "authentication)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--out-dir", default="outputs/serve",
                        help="the server's own folder for uploads and results")
    parser.add_argument("--queue", type=int, default=16,
                        help="jobs that may wait; one more is answered 503")


def run(args) -> int:
    import sys

    from ..errors import DataError

    if not 0 <= args.port <= 65535:
        raise DataError(f"--port must be in 0..65535, got {args.port}")
    if args.queue <= 0:
        raise DataError(f"--queue must be positive, got {args.queue}")
    try:
        import uvicorn

        from ..serve.app import create_app
    except ImportError as exc:  # fastapi/uvicorn are dependencies; a broken install says so
        raise DataError(f"ldm serve needs fastapi and uvicorn ({exc}); run `make install`") \
            from None
    warning = exposure_warning(args.host)
    if warning:
        print(warning, file=sys.stderr)
    app = create_app(args.models, out_dir=args.out_dir, max_queued=args.queue)
    names = ", ".join(app.state.catalog) or "none"
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    server = uvicorn.Server(config)
    _announce(server, args.host, names)
    server.run()
    return 0


def _announce(server, host: str, names: str) -> None:
    """Print the URL once uvicorn is listening (the real port, also for --port 0)."""
    startup = server.startup

    async def started(sockets=None):
        await startup(sockets)
        if server.started:
            port = server.servers[0].sockets[0].getsockname()[1]
            shown = f"[{host}]" if ":" in host else host
            print(f"ldm serve: http://{shown}:{port}/  (models: {names}; Ctrl-C stops)",
                  flush=True)

    server.startup = started
