"""KPI rows computed once per refresh and shared by every poll and stream, so a request never
recomputes KPIs: dozens of wallboards polling cost a dictionary lookup each.

A frame is recomputed when the snapshot reader has applied new records (bursts coalesced, see
``KpiView.run``), and at least every ``api.refresh_seconds`` because rolling
windows move and waits age without any new record. Serialised bodies and stream messages are cached
per frame and selection, so identical wallboards share one encoding.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, AsyncIterator, Callable, Iterable

from api.snapshots import SnapshotReader
from kpis.book import ALL
from kpis.targets import Targets
from kpis.thresholds import Level, Thresholds
from kpis.windows import Window, iso

RowKey = tuple[str, str, str]
log = logging.getLogger("cxpulse.api.view")

CACHE_LIMIT = 2048
# A refresh slower than this delays every wallboard by as much: worth a line in the log.
SLOW_REFRESH_S = 0.25
# Wake this long after the moment the numbers turn stale, so the refresh is surely past it.
STALE_MARGIN_S = 0.01


@dataclass(frozen=True, slots=True)
class Selection:
    """Which rows a client wants; ``None`` means every queue or channel, ``*`` picks the roll-ups."""

    queues: frozenset[str] | None
    channels: frozenset[str] | None
    windows: tuple[Window, ...]

    @classmethod
    def of(cls, queues: Iterable[str] | None, channels: Iterable[str] | None, windows: Iterable[Window]) -> Selection:
        ordered = tuple(dict.fromkeys(windows))
        return cls(frozenset(queues) if queues else None, frozenset(channels) if channels else None, ordered)

    def wants(self, key: RowKey) -> bool:
        queue, channel, window = key
        return (
            (self.queues is None or queue in self.queues)
            and (self.channels is None or channel in self.channels)
            and any(window == wanted.value for wanted in self.windows)
        )


@dataclass(slots=True)
class Frame:
    """The rows of one refresh. ``ready``: computed after the snapshot topics were read to their end;
    only such a frame holds every queue's numbers, so only it is served (api/readiness.py)."""

    seq: int
    as_of: float
    stale: bool
    rows: dict[Window, dict[RowKey, dict[str, Any]]]
    changed: frozenset[RowKey]
    stale_changed: bool
    ready: bool = False
    processed: dict[tuple[str, int], int] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)

    def select(self, selection: Selection, only: frozenset[RowKey] | None = None) -> list[dict[str, Any]]:
        items = []
        for window in selection.windows:
            for key, row in self.rows.get(window, {}).items():
                if (only is None or key in only) and selection.wants(key):
                    items.append(row)
        return items

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        value = self.cache.get(key)
        if value is None:
            if len(self.cache) >= CACHE_LIMIT:
                self.cache.clear()
            value = self.cache[key] = make()
        return value


@dataclass(frozen=True, slots=True)
class Body:
    """A serialised /v1/kpis answer and its weak ETag, which leaves ``as_of`` out: two answers with
    the same rows and staleness are the same numbers, so a poller gets 304 until something moves."""

    content: bytes
    etag: str


_SEVERITY = {None: 0, Level.OK.value: 1, Level.WARNING.value: 2, Level.CRITICAL.value: 3}


def add_statuses(rows: dict[Window, dict[RowKey, dict[str, Any]]], thresholds: Thresholds) -> None:
    """Put each KPI's status on every row. A (queue, channel) pair is judged by its rule on the rule's
    window, whatever the row's window, as the alert rules do; a roll-up row carries the worst status
    of its pairs, so a queue's tile is red whenever an alert would fire for one of its channels."""
    pairs = {(queue, channel) for by_key in rows.values() for queue, channel, _ in by_key if ALL not in (queue, channel)}
    statuses: dict[tuple[str, str], dict[str, str | None]] = {}
    for queue, channel in pairs:
        status = thresholds.status(lambda window: rows[window].get((queue, channel, window.value)), queue, channel)
        for group in ((queue, channel), (queue, ALL), (ALL, channel), (ALL, ALL)):
            worst = statuses.setdefault(group, dict.fromkeys(status))
            for kpi, level in status.items():
                if _SEVERITY[level] > _SEVERITY[worst[kpi]]:
                    worst[kpi] = level
    for by_key in rows.values():
        for (queue, channel, _), row in by_key.items():
            row["status"] = statuses.get((queue, channel), {})


def add_targets(rows: dict[Window, dict[RowKey, dict[str, Any]]], targets: Targets, today: Callable[[str], date]) -> None:
    """Put the ``target`` object on every row: per KPI with a target for the row's queue and channel,
    judged on the target's window whatever the row's window, like statuses. Unlike a status, a
    roll-up row is judged on its own value: a target is about the total, not the worst part.
    ``today`` gives a queue's local business date."""
    marks: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for by_key in rows.values():
        for (queue, channel, _), row in by_key.items():
            mark = marks.get((queue, channel))
            if mark is None:
                mark = marks[queue, channel] = targets.marks(
                    lambda window: rows[window].get((queue, channel, window.value)), queue, channel, today(queue)
                )
            row["target"] = mark


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


class KpiView:
    def __init__(
        self,
        reader: SnapshotReader,
        refresh_seconds: float,
        heartbeat_seconds: float,
        thresholds: Thresholds | None = None,
        targets: Targets | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._reader = reader
        self._thresholds = thresholds
        self._targets = targets
        self._refresh = refresh_seconds
        self._heartbeat = heartbeat_seconds
        self._clock = clock
        self.frame = Frame(0, clock(), True, {}, frozenset(), False)
        self._published = asyncio.Event()

    # -- computing ------------------------------------------------------------------------------

    def refresh(self) -> Frame:
        """Compute every window's rows now and publish them as the next frame."""
        started = time.monotonic()
        now = self._clock()
        previous = self.frame
        processed = self._reader.processed()
        rows: dict[Window, dict[RowKey, dict[str, Any]]] = {}
        changed: set[RowKey] = set()
        for window in Window:
            rows[window] = {(row["queue"], row["channel"], window.value): row for row in self._reader.book.rows(window, now)}
        if self._thresholds is not None:
            add_statuses(rows, self._thresholds)
        if self._targets is not None:
            book = self._reader.book
            add_targets(rows, self._targets, functools.cache(lambda queue: book.business_date(queue, now)))
        for window, by_key in rows.items():
            before = previous.rows.get(window, {})
            changed.update(key for key, row in by_key.items() if before.get(key) != row)
            changed.update(key for key in before if key not in by_key)
        stale = self._reader.stale(now)
        ready = self._reader.ready.is_set()
        self.frame = Frame(
            previous.seq + 1, now, stale, rows, frozenset(changed), stale != previous.stale, ready, processed
        )
        published, self._published = self._published, asyncio.Event()
        published.set()
        seconds = time.monotonic() - started
        if seconds > SLOW_REFRESH_S:
            log.warning("slow frame refresh", extra={"seconds": round(seconds, 3), "rows": sum(len(r) for r in rows.values())})
        return self.frame

    async def run(self) -> None:
        """Refresh on news (data, readiness, the broker's reachability), when the frame has aged
        ``refresh_seconds``, or when the numbers turn stale: no record comes to say so, so that moment
        is awaited on this process's clock. After a refresh, news is gathered for a twentieth of
        ``refresh_seconds``, or as long as the refresh took, so a busy API spends at most half its
        time refreshing and answers requests in between."""
        changed = self._reader.changed
        while True:
            stale_in = self._reader.stale_in(self._clock())
            wait = self._refresh if stale_in is None else min(self._refresh, stale_in + STALE_MARGIN_S)
            try:
                await asyncio.wait_for(changed.wait(), timeout=wait)
            except TimeoutError:
                pass
            changed.clear()
            started = time.monotonic()
            self.refresh()
            await asyncio.sleep(max(self._refresh / 20, time.monotonic() - started))

    # -- polling --------------------------------------------------------------------------------

    def body(self, selection: Selection) -> Body:
        frame = self.frame

        def make() -> Body:
            items = _dumps(frame.select(selection))
            etag = hashlib.blake2b(items + (b"1" if frame.stale else b"0"), digest_size=12).hexdigest()
            content = b'{"as_of":"%s","stale":%s,"items":%s}' % (
                iso(frame.as_of).encode(), b"true" if frame.stale else b"false", items,
            )
            return Body(content, f'W/"{etag}"')

        body: Body = frame.cached(("body", selection), make)
        return body

    # -- streaming ------------------------------------------------------------------------------

    def _message(self, event: str, frame: Frame, selection: Selection, only: frozenset[RowKey] | None) -> bytes:
        def make() -> bytes:
            payload = {"as_of": iso(frame.as_of), "stale": frame.stale, "items": frame.select(selection, only)}
            return b"event: %s\nid: %d\ndata: %s\n\n" % (event.encode(), frame.seq, _dumps(payload))

        message: bytes = frame.cached((event, selection), make)
        return message

    def _update(self, sent: Frame, frame: Frame, selection: Selection) -> bytes | None:
        """What a client that has seen ``sent`` needs to reach ``frame``; None when nothing it wants moved."""
        if frame.seq != sent.seq + 1:
            return self._message("snapshot", frame, selection, None)
        if not frame.stale_changed and not any(selection.wants(key) for key in frame.changed):
            return None
        return self._message("update", frame, selection, frame.changed)

    def _heartbeat_message(self, frame: Frame) -> bytes:
        message: bytes = frame.cached(
            ("heartbeat",),
            lambda: b"event: heartbeat\ndata: %s\n\n" % _dumps({"as_of": iso(frame.as_of), "stale": frame.stale}),
        )
        return message

    async def events(self, selection: Selection, allowed: Callable[[], bool]) -> AsyncIterator[bytes]:
        """The SSE byte stream of one client: the current rows first, then changes, else heartbeats.
        Ends when ``allowed`` turns false (its token was revoked)."""
        yield b"retry: 3000\n\n"
        sent = self.frame
        yield self._message("snapshot", sent, selection, None)
        quiet_since = time.monotonic()
        while allowed():
            published = self._published
            if self.frame.seq == sent.seq:
                remaining = self._heartbeat - (time.monotonic() - quiet_since)
                try:
                    await asyncio.wait_for(published.wait(), timeout=max(0.0, remaining))
                except TimeoutError:
                    yield self._heartbeat_message(self.frame)
                    quiet_since = time.monotonic()
                    continue
            frame = self.frame
            message = self._update(sent, frame, selection)
            sent = frame
            if message is not None:
                yield message
                quiet_since = time.monotonic()
