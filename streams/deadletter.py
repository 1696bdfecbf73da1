"""Dead letters keep the original record bytes untouched; why and where from travel in headers.

That is the layout Kafka Connect uses for its dead-letter queues, so existing tooling can replay them.
"""

from __future__ import annotations

from typing import Any

REASON = "cxpulse.error.reason"
KIND = "cxpulse.error.kind"
SOURCE_TOPIC = "cxpulse.source.topic"
SOURCE_PARTITION = "cxpulse.source.partition"
SOURCE_OFFSET = "cxpulse.source.offset"


def headers(kind: str, reason: str, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    return [
        (KIND, kind.encode()),
        (REASON, reason.encode()),
        (SOURCE_TOPIC, topic.encode()),
        (SOURCE_PARTITION, str(partition).encode()),
        (SOURCE_OFFSET, str(offset).encode()),
    ]


def describe(record_headers: Any) -> dict[str, str]:
    """Headers of a dead letter as text, for tests and tools that read the dead-letter topic."""
    return {name: value.decode() for name, value in record_headers or ()}
