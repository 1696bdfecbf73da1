"""Dead letters keep the original record bytes untouched; why and where from travel in headers.

That is the layout Kafka Connect uses for its dead-letter queues, so existing tooling can replay them.
One bad event of a batched record (a JSON array) is dead-lettered alone, as its own JSON object,
with its position in the array in ``cxpulse.source.index``. A record too large for the producer's
request limit (the broker may accept larger ones than cxpulse's producer sends) is kept as a
truncated copy, its original size in ``cxpulse.original.bytes``: refusing it would crash the fold,
which would read the same record again after restarting.
"""

from __future__ import annotations

from typing import Any

REASON = "cxpulse.error.reason"
KIND = "cxpulse.error.kind"
SOURCE_TOPIC = "cxpulse.source.topic"
SOURCE_PARTITION = "cxpulse.source.partition"
SOURCE_OFFSET = "cxpulse.source.offset"
SOURCE_INDEX = "cxpulse.source.index"
SOURCE_FILE = "cxpulse.source.file"
SOURCE_LINE = "cxpulse.source.line"
ORIGINAL_BYTES = "cxpulse.original.bytes"
# Below the producer's 1 MB request limit, with room for the key, headers and batch framing.
MAX_VALUE_BYTES = 900_000


def truncated(value: bytes | None) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """The value to dead-letter, cut to MAX_VALUE_BYTES, with the header that says it was cut."""
    if value is None or len(value) <= MAX_VALUE_BYTES:
        return value, []
    return value[:MAX_VALUE_BYTES], [(ORIGINAL_BYTES, str(len(value)).encode())]


def headers(
    kind: str, reason: str, topic: str, partition: int, offset: int, index: int | None = None
) -> list[tuple[str, bytes]]:
    found = [
        (KIND, kind.encode()),
        (REASON, reason.encode()),
        (SOURCE_TOPIC, topic.encode()),
        (SOURCE_PARTITION, str(partition).encode()),
        (SOURCE_OFFSET, str(offset).encode()),
    ]
    if index is not None:
        found.append((SOURCE_INDEX, str(index).encode()))
    return found


def file_headers(kind: str, reason: str, file: str, line: int) -> list[tuple[str, bytes]]:
    """Headers of a line of a file an adapter could not read: why, and which file and line (1-based)."""
    return [
        (KIND, kind.encode()),
        (REASON, reason.encode()),
        (SOURCE_FILE, file.encode()),
        (SOURCE_LINE, str(line).encode()),
    ]


def describe(record_headers: Any) -> dict[str, str]:
    """Headers of a dead letter as text, for tests and tools that read the dead-letter topic."""
    return {name: value.decode() for name, value in record_headers or ()}
