"""Command line: ``python -m exporter serve | demo | catalog | config | build``."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from . import catalog, config as config_mod, logs


def _load_config() -> config_mod.Config:
    try:
        return config_mod.Config.from_env()
    except config_mod.ConfigError as e:
        print(f"anclora-exporter: configuration error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


class _StdoutUntilReaderGone:
    """stdout for the JSON log lines. Once its reader is gone (``serve | head``) the lines
    are dropped, where logging printed a '--- Logging error ---' traceback for each: the
    exporter keeps serving, and the ANCLORA_LOG_DIR files keep every line."""

    def __init__(self, stream):
        self.stream, self.gone = stream, False

    def write(self, text: str) -> None:
        if not self.gone:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._reader_gone()

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._reader_gone()

    def _reader_gone(self) -> None:
        self.gone = True
        _stdout_reader_gone()


def setup_logs(cfg: config_mod.Config, prog: str = "anclora-exporter") -> None:
    """logs.setup, with a log file that cannot be opened (say ``all.log`` is a directory;
    the directory itself is checked by Config.from_env) as the one-line configuration
    error and exit code 2, like any other bad setting."""
    try:
        logs.setup(cfg.log_level, cfg.service_name, cfg.log_dir,
                   stream=_StdoutUntilReaderGone(sys.stdout))
    except OSError as e:
        print(f"{prog}: configuration error: ANCLORA_LOG_DIR={cfg.log_dir!r}: cannot write "
              f"log files there ({e.strerror or e})", file=sys.stderr)
        raise SystemExit(2) from None


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set ``stop`` (where the platform allows signal handlers)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass


async def serve(cfg: config_mod.Config, stop: asyncio.Event | None = None) -> None:
    """Run the exporter until ``stop`` is set (or SIGINT/SIGTERM)."""
    from aiohttp import web

    from .app import Exporter
    from .server import GuardedSite, make_app, route_library_logs

    route_library_logs()
    exporter = Exporter(cfg)
    runner = web.AppRunner(make_app(exporter), access_log=None)
    await runner.setup()
    host, port = cfg.listen
    try:
        # Guarded: request headers have a deadline and connections a cap (see server.py).
        await GuardedSite(runner, host, port).start()
    except OSError as e:
        logs.get_logger("exporter").log(logs.LEVELS["fatal"][1], "cannot listen",
                                        extra={"listen": f"{host}:{port}", "error": str(e)})
        await runner.cleanup()
        raise SystemExit(1) from None
    await exporter.start()
    stop = stop or asyncio.Event()
    stop_on_signals(stop)
    logs.get_logger("exporter").info("listening", extra={"listen": f"{host}:{port}"})
    try:
        await stop.wait()
    finally:
        await exporter.stop()
        await runner.cleanup()


def _stdout_reader_gone() -> int:
    """The reader of our output stopped reading (``| head``): that is its choice, not our
    error, so end quietly with 0. stdout now points at /dev/null, or the interpreter's last
    flush raises again ("Exception ignored ... BrokenPipeError")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # inside the try: a reader gone is seen here, not at exit
        return code
    except BrokenPipeError:
        return _stdout_reader_gone()


def _main(argv: list[str] | None) -> int:
    p = argparse.ArgumentParser(prog="python -m exporter",
                                description="Prometheus exporter for WhatsApp business bots.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the exporter (configured from ANCLORA_* variables)")
    c = sub.add_parser("catalog", help="print the metric catalog")
    c.add_argument("--markdown", action="store_true", help="the metric reference (docs/metrics.md)")
    c.add_argument("--namespace", default="anclora")
    k = sub.add_parser("config", help="print the configuration reference")
    g = k.add_mutually_exclusive_group(required=True)
    g.add_argument("--markdown", action="store_true", help="the README's configuration table")
    g.add_argument("--env-example", action="store_true", help="the .env.example file")
    b = sub.add_parser("build", help="regenerate docs, .env.example, dashboards and alerts")
    b.add_argument("--check", action="store_true", help="write nothing; fail if anything is stale")
    d = sub.add_parser("demo", help="run the exporter with live WhatsApp-bot traffic (BullMQ + events)")
    d.add_argument("--scenario", choices=("calm", "busy", "incident"), default="calm")
    d.add_argument("--listen", help="host:port (default 127.0.0.1:9464)")
    d.add_argument("--seed", type=int, help="random seed, for reproducible traffic")
    d.add_argument("--duration", type=float, help="stop after this many seconds")
    args = p.parse_args(argv)

    if args.command == "demo":
        from . import demo
        return demo.main(args.scenario, args.listen, args.seed, args.duration)

    if args.command == "build":
        from . import build
        changed = build.build(check=args.check)
        for path in changed:
            print(("stale: " if args.check else "wrote: ") + path)
        return 1 if (args.check and changed) else 0

    if args.command == "catalog":
        print(catalog.as_markdown(args.namespace) if args.markdown else catalog.as_json(args.namespace))
        return 0
    if args.command == "config":
        from . import stack
        print(config_mod.as_markdown() if args.markdown else stack.as_env_example())
        return 0
    cfg = _load_config()
    setup_logs(cfg)
    asyncio.run(serve(cfg))
    return 0
