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


class WaitFailed(Exception):
    """--wait gave up: the message says why (the deadline passed, or the API refused the request)."""


# An answer that will not change by asking again: the URL, the token or the API is wrong.
PERMANENT = frozenset({400, 401, 403, 404, 405, 422})
REQUEST_TIMEOUT_S = 10.0
POLL_S = 0.25


class _Notes:
    """One line when a trouble starts (or changes) and one when it ends, not one per poll."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._current: str | None = None

    def trouble(self, line: str) -> None:
        if line != self._current:
            self._current = line
            self._out.write(f"cxpulse replay: {line}\n")
            self._out.flush()

    def fine(self) -> None:
        if self._current is not None:
            self._current = None
            self._out.write("cxpulse replay: the API and the broker answer again; waiting for the count\n")
            self._out.flush()


async def wait_until_counted(
    api_url: str,
    sent: dict[tuple[str, int], int],
    timeout_s: float,
    out: TextIO = sys.stderr,
    request_timeout_s: float = REQUEST_TIMEOUT_S,
) -> float:
    """Poll /v1/status until every published offset is processed; returns the seconds it took.

    Rides out faults until ``timeout_s``: an API that does not answer (restarting, overloaded), a
    5xx or 503, a broker the API cannot reach. Each is said once on ``out`` and retried; a request
    that cannot succeed (401, 404, ...) and the deadline raise ``WaitFailed`` with the reason."""
    started = time.monotonic()
    notes = _Notes(out)
    done: dict[tuple[str, int], int] = {}
    async with httpx.AsyncClient(base_url=api_url, timeout=request_timeout_s) as client:
        while True:
            try:
                response = await client.get("/v1/status")
            except httpx.TransportError as exc:
                notes.trouble(f"the API at {api_url} does not answer ({type(exc).__name__}); retrying")
            else:
                if response.status_code in PERMANENT:
                    raise WaitFailed(f"{api_url}/v1/status answered {response.status_code}: {response.text[:300]}")
                if response.status_code != 200:
                    notes.trouble(f"the API at {api_url} answered {response.status_code}; retrying")
                else:
                    status = response.json()
                    done = {(p["topic"], p["partition"]): p["processed_offset"] for p in status["partitions"]}
                    broker = status.get("broker") or {}
                    if broker.get("reachable") is False:
                        notes.trouble(f"the API cannot reach the broker ({broker.get('error')}); waiting")
                    else:
                        notes.fine()
                    if all(done.get(where, 0) >= end for where, end in sent.items()):
                        return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                missing = {f"{t}/{p}": end - done.get((t, p), 0) for (t, p), end in sent.items() if done.get((t, p), 0) < end}
                raise WaitFailed(f"not all published events were counted within {timeout_s:.0f} s; still missing {missing}")
            await asyncio.sleep(POLL_S)
