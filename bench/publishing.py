"""Publishing for the pipeline bench: the product's own Publisher, and waiting until what it published is counted.

The bench publishes through ``adapters.publisher.Publisher`` (what ``cxpulse simulate`` and ``replay``
use), so the records the worker reads are the ones a user's producer would write, batching included.
"Counted" is judged against the offsets the broker acknowledged, not its reported end offsets: the
embedded broker reports a short end offset for the last batch of a partition (README, Limits).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any, Awaitable, Callable, Iterable

from adapters.publisher import Publisher

CHUNK_EVENTS = 50_000
Ends = dict[tuple[str, int], int]


def merge_ends(into: Ends, more: Ends) -> None:
    """Keep the highest acknowledged end offset per (topic, partition)."""
    for where, end in more.items():
        into[where] = max(into.get(where, 0), end)


async def publish_all(publisher: Publisher, events: Iterable[dict[str, Any]]) -> Ends:
    """Publish in order, a chunk at a time (a million events never sit in memory at once, nor their
    futures); the acknowledged end offset per partition."""
    ends: Ends = {}
    stream = iter(events)
    while chunk := list(itertools.islice(stream, CHUNK_EVENTS)):
        merge_ends(ends, await publisher.publish_tracked(chunk))
    return ends


def behind(ends: Ends, processed: Ends) -> int:
    """Records published (acknowledged) and not yet reflected in the served numbers."""
    return sum(max(0, end - processed.get(where, 0)) for where, end in ends.items())


async def wait_counted(
    processed: Callable[[], Awaitable[Ends]], ends: Ends, timeout_s: float, every_s: float
) -> tuple[float, Ends]:
    """Poll until every acknowledged record is counted; return when that was seen (epoch s) and the offsets.

    TimeoutError names how many records were still missing, so a slow run says how slow.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        seen = await processed()
        if behind(ends, seen) == 0:
            return time.time(), seen
        if time.monotonic() > deadline:
            raise TimeoutError(f"{behind(ends, seen):,} published records still not counted after {timeout_s:.0f} s")
        await asyncio.sleep(every_s)
