"""Driving a stream consumer in tests, and reading an exporter's registry."""

from __future__ import annotations

from tests.ingest_cases import NS


def val(exporter, name: str, labels=()) -> float:
    """A sample of the exporter's registry (``name`` without the namespace), 0 if absent."""
    return exporter.registry.get_sample_value(f"{NS}_{name}", dict(labels)) or 0


async def drain(consumer, rounds: int = 50) -> int:
    """Poll until a poll finds nothing; the number of entries handled."""
    total = 0
    for _ in range(rounds):
        n = await consumer.poll_once()
        total += n
        if n == 0:
            return total
    return total
