"""Publishes a time-ordered event stream at the pace of its event times, so the demo runs "live"."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Iterable

from adapters.publisher import Publisher
from streams.contract import parse_time


async def publish_paced(
    publisher: Publisher,
    events: Iterable[dict[str, Any]],
    clock: Callable[[], float] = time.time,
    max_batch: int = 5000,
) -> int:
    """Send each event once the clock reaches its time; events already due go out in batches."""
    sent = 0
    batch: list[dict[str, Any]] = []
    for event in events:
        due = parse_time(event["time"])
        if due > clock() or len(batch) >= max_batch:
            sent += await publisher.publish(batch)
            batch = []
            delay = due - clock()
            if delay > 0:
                await asyncio.sleep(delay)
        batch.append(event)
    sent += await publisher.publish(batch)
    return sent
