"""The real exporter (``exporter.cli.main(["serve"])``) with one recording hook, so the
fault tests can count events by stream id, which survives a SIGKILL, where the
exporter's own counters do not.

    python -m tests.faults.replica JOURNAL      # configured by ANCLORA_* like `serve`

The hook wraps ``EventsHandler.prepare``: the call the stream consumer makes for each
batch, returning the applier that the consumer calls with the ids whose XACK succeeded.
It is the narrowest stable point of the ingestion path (the ack and what surrounds it
may change; the contract "apply(acked ids) after the ack" does not). The wrapper adds,
and changes nothing applied:
    P id id ...   when the batch is prepared (before its ack is sent)
    A id id ...   right after the real applier returned, the ids it was given
one ``os.write`` per line on an O_APPEND file, no buffering: what a SIGKILL leaves in the
journal is exactly what had been applied. A journal ending with a ``P`` line means the
replica was between prepare and record (its ack possibly in flight) at that instant.
"""

from __future__ import annotations

import inspect
import os
import sys

HOOK_GONE = 3  # exit status when the hook point no longer exists: the tests say so loudly


def _line(tag: bytes, ids) -> bytes:
    return tag + b"".join(b" " + (i if isinstance(i, bytes) else str(i).encode())
                          for i in ids) + b"\n"


def install(journal_path: str) -> None:
    from exporter.ingest.stream import EventsHandler

    real_prepare = EventsHandler.__dict__.get("prepare")
    if real_prepare is None or not inspect.iscoroutinefunction(real_prepare):
        sys.stderr.write("fault harness: EventsHandler.prepare (async, returns the applier "
                         "apply(acked_ids)) is gone: update tests/faults/replica.py\n")
        raise SystemExit(HOOK_GONE)
    fd = os.open(journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    async def prepare(self, stream, entries):
        apply = await real_prepare(self, stream, entries)
        ids = [eid for eid, _ in entries]
        os.write(fd, _line(b"P", ids))

        def recording_apply(acked=None, *args, **kwargs):
            result = apply(acked, *args, **kwargs)  # the real apply, first, unchanged
            os.write(fd, _line(b"A", ids if acked is None else acked))
            return result
        return recording_apply

    EventsHandler.prepare = prepare


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m tests.faults.replica JOURNAL\n")
        return 2
    install(argv[0])
    from exporter.cli import main as exporter_main
    return exporter_main(["serve"])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
