"""``python -m anclora_demo [--scenario calm|busy|incident] [--listen host:port] ...``"""

from __future__ import annotations

import argparse
import sys

# One line per scenario (--help); demo.SCENARIOS holds their numbers.
SCENARIOS = {
    "calm": "a quiet afternoon",
    "busy": "a campaign day: 5x the traffic, bigger bulk sends",
    "incident": "long slow periods (API slow and failing, breaker open, heap high): alerts fire",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m anclora_demo",
        description="Run the exporter with live WhatsApp-bot traffic (BullMQ jobs and "
                    "application events) on a Redis of its own.",
        epilog="scenarios:\n" + "\n".join(f"  {name:<9} {about}"
                                          for name, about in SCENARIOS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", choices=tuple(SCENARIOS), default="calm",
                   help="the traffic to make (default calm; see below)")
    p.add_argument("--listen", help="host:port (default 127.0.0.1:9464)")
    p.add_argument("--seed", type=int, help="random seed, for reproducible traffic")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--traffic-only", action="store_true",
                   help="no Redis nor exporter of its own: traffic into ANCLORA_REDIS_URL "
                        "for an exporter running elsewhere (the compose `demo` profile)")
    p.add_argument("--webhooks-to", metavar="URL",
                   help="with --traffic-only: also send the WhatsApp platforms' webhooks to "
                        "the exporter at URL, signed with ANCLORA_META_APP_SECRET and "
                        "carrying ANCLORA_EVOLUTION_WEBHOOK_TOKEN")
    args = p.parse_args(argv)
    if args.webhooks_to and not args.traffic_only:
        p.error("--webhooks-to goes with --traffic-only (the demo's own exporter gets them)")
    try:
        import bullmq  # noqa: F401 - only to say which extra is missing, before starting
    except ImportError:
        print("anclora_demo: the demo needs the `bullmq` package: "
              "pip install 'anclora-exporter[demo]'", file=sys.stderr)
        return 2
    from .demo import main as run
    return run(args.scenario, args.listen, args.seed, args.duration, args.traffic_only,
               args.webhooks_to)


if __name__ == "__main__":
    raise SystemExit(main())
