"""``cxpulse replay``: publish a recording in event-time order, with progress, and optionally wait
until the service has counted every record it published."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, Sequence, TextIO

import httpx

from adapters.publisher import Publisher

CHUNK = 5000


class Progress:
    """A one-line progress bar on a terminal; a line per tenth elsewhere (logs stay readable)."""

    def __init__(self, total: int, out: TextIO = sys.stderr) -> None:
        self._total = max(total, 1)
        self._out = out
        self._tty = out.isatty()
        self._shown = -1
        self._started = time.monotonic()

    def update(self, done: int) -> None:
        share = done / self._total
        step = int(share * (100 if self._tty else 10))
        if step == self._shown:
            return
        self._shown = step
        rate = done / max(time.monotonic() - self._started, 1e-9)
        bar = "#" * int(share * 30)
        line = f"[{bar:<30}] {share:6.1%} {done:,}/{self._total:,} events, {rate:,.0f}/s"
        self._out.write(f"\r{line}" if self._tty else f"{line}\n")
        self._out.flush()

    def finish(self) -> None:
        if self._tty:
            self._out.write("\n")


async def publish_recording(
    bootstrap: str, events: Sequence[dict[str, Any]], progress: Progress, events_per_record: int = 1
) -> dict[tuple[str, int], int]:
    """Publish in chunks (the events are already in event-time order); returns the end offset reached
    per (topic, partition)."""
    sent: dict[tuple[str, int], int] = {}
    async with Publisher(bootstrap, events_per_record) as publisher:
        for start in range(0, len(events), CHUNK):
            for where, end in (await publisher.publish_tracked(events[start : start + CHUNK])).items():
                sent[where] = max(sent.get(where, 0), end)
            progress.update(min(start + CHUNK, len(events)))
    progress.finish()
    return sent


async def wait_until_counted(api_url: str, sent: dict[tuple[str, int], int], timeout_s: float) -> float:
    """Poll /v1/status until every published offset is processed; returns the seconds it took."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        while True:
            status = (await client.get("/v1/status")).json()
            done = {(p["topic"], p["partition"]): p["processed_offset"] for p in status["partitions"]}
            if all(done.get(where, 0) >= end for where, end in sent.items()):
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                missing = {f"{t}/{p}": end - done.get((t, p), 0) for (t, p), end in sent.items() if done.get((t, p), 0) < end}
                raise TimeoutError(f"not all published events were counted within {timeout_s:.0f} s; still missing {missing}")
            await asyncio.sleep(0.25)
