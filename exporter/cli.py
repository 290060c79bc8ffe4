"""Command line: ``python -m exporter serve | catalog | config | replay``. The demo
(``python -m anclora_demo``) and the build (``python -m tools.build``) are commands of
their own."""

from __future__ import annotations

import argparse
import asyncio
import sys

from . import catalog, config as config_mod


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # inside the try: a reader gone is seen here, not at exit
        return code
    except BrokenPipeError:
        from .app import stdout_reader_gone
        return stdout_reader_gone()


def _settings_help() -> str:
    lines = ["settings (environment variables only; default in brackets):"]
    lines += [f"  {s.env} [{s.default}]" for s in config_mod.SETTINGS]
    lines.append("what each one means: python -m exporter config --markdown")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="python -m exporter",
                                description="Prometheus exporter for WhatsApp business bots.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the exporter (configured from ANCLORA_* variables)",
                   description="Serve /metrics, /health and POST /events.",
                   epilog=_settings_help(), formatter_class=raw)
    c = sub.add_parser("catalog", help="print the metric catalog")
    c.add_argument("--markdown", action="store_true", help="the metric reference (docs/metrics.md)")
    c.add_argument("--namespace", default="anclora")
    k = sub.add_parser("config", help="print the configuration reference",
                       epilog="every variable the stack uses, the exporter's and its own: "
                              ".env.example in the repository")
    k.set_defaults(print_help=k.print_help)  # bare `config` prints this help
    k.add_argument("--markdown", action="store_true",
                   help="the configuration table (docs/configuration.md)")
    r = sub.add_parser("replay", help="post recorded Meta/Evolution webhooks to an exporter",
                       description="Post each file's webhook (or JSON array of webhooks), "
                                   "signed with ANCLORA_META_APP_SECRET (Meta) or carrying "
                                   "ANCLORA_EVOLUTION_WEBHOOK_TOKEN (Evolution).")
    r.add_argument("files", nargs="+", metavar="FILE")
    r.add_argument("--url", default="http://127.0.0.1:9464",
                   help="the exporter (default http://127.0.0.1:9464)")
    return p


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)

    if args.command == "catalog":
        print(catalog.as_markdown(args.namespace) if args.markdown else catalog.as_json(args.namespace))
        return 0
    if args.command == "config":
        if not args.markdown:
            args.print_help()
            return 0
        print(config_mod.as_markdown())
        return 0
    from . import app
    if args.command == "replay":
        from .replay import replay
        return replay(args.files, args.url, app.load_config("replay"))
    cfg = app.load_config("anclora-exporter")
    app.setup_logs(cfg)
    asyncio.run(app.run(cfg))
    return 0
