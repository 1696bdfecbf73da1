"""The serving path under faults, through the real application and real sockets: numbers only once
whole (503 before), staleness on the API's own clock (sooner while the broker is silent), a broker
that accepts connections and never answers, 422s that do not echo huge inputs, and a processed
count that a partition's new owner cannot move backwards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.snapshots import SnapshotReader
from api.source_ends import Outage, SourceEnds
from api.view import KpiView
from kpis import snapshot
from kpis.book import KpiBook
from kpis.buckets import BucketStats
from kpis.state import MINUTE, BucketKey
from service.settings import Settings

MINUTES = "cxpulse.kpi-minutes"
INTERVALS = "cxpulse.kpi-intervals"


def settings(stale_s: float = 30.0, refresh_s: float = 1.0) -> Settings:
    return Settings.model_validate({"kpi": {"stale_seconds": stale_s}, "api": {"refresh_seconds": refresh_s}})


def progress(partition: int, offsets: dict[str, int]) -> Any:
    return SimpleNamespace(key=snapshot.snapshot_progress_key(partition), value=snapshot.encode_json(offsets))


# -- events_processed -------------------------------------------------------------------------------


def test_a_new_owners_progress_from_scratch_does_not_lower_what_was_processed() -> None:
    chosen = settings()
    reader = SnapshotReader(chosen, KpiBook(chosen.rules))
    for topic in (MINUTES, INTERVALS):
        reader._apply_writes(topic, [], [progress(0, {"cx.calls": 99, "cx.chats": 9})])
    assert reader.processed() == {("cx.calls", 0): 100, ("cx.chats", 0): 10}
    # The partition's new owner re-reads from its resume point: its first progress says 40 and no chats.
    for topic in (MINUTES, INTERVALS):
        reader._apply_writes(topic, [], [progress(0, {"cx.calls": 40})])
    assert reader.processed() == {("cx.calls", 0): 100, ("cx.chats", 0): 10}
    for topic in (MINUTES, INTERVALS):
        reader._apply_writes(topic, [], [progress(0, {"cx.calls": 120, "cx.chats": 9})])
    assert reader.processed() == {("cx.calls", 0): 121, ("cx.chats", 0): 10}


def test_processed_is_what_both_snapshot_topics_have_shown() -> None:
    chosen = settings()
    reader = SnapshotReader(chosen, KpiBook(chosen.rules))
    reader._apply_writes(MINUTES, [], [progress(1, {"cx.calls": 50})])
    reader._apply_writes(INTERVALS, [], [progress(1, {"cx.calls": 30})])
    assert reader.processed() == {("cx.calls", 1): 31}


# -- staleness --------------------------------------------------------------------------------------


def test_stale_after_stale_seconds_and_after_half_of_them_while_the_broker_is_silent() -> None:
    chosen = settings(stale_s=30)
    reader = SnapshotReader(chosen, KpiBook(chosen.rules))
    assert reader.stale(1000.0), "nothing read yet"
    reader.last_update = 1000.0
    assert (reader.stale(1016.0), reader.stale(1029.0), reader.stale(1031.0)) == (False, False, True)
    assert reader.stale_in(1016.0) == 14.0
    reader.ends.outage = Outage(since=1005.0, error="no answer within 2 s")
    assert (reader.stale(1014.0), reader.stale(1016.0)) == (False, True)
    assert reader.stale_in(1014.0) == 1.0


async def test_staleness_shows_on_time_whatever_the_refresh_interval() -> None:
    """Nothing arrives to wake the view when updates stop: it must wake itself when the numbers turn
    stale, not at its next refresh (60 s here)."""
    chosen = settings(stale_s=1.0, refresh_s=60.0)
    reader = SnapshotReader(chosen, KpiBook(chosen.rules))
    reader.ready.set()
    reader.last_update = time.time()
    view = KpiView(reader, chosen.api.refresh_seconds, chosen.api.sse_heartbeat_seconds)
    assert view.refresh().stale is False
    running = asyncio.create_task(view.run())
    try:
        deadline = time.monotonic() + 20
        while not view.frame.stale:
            assert time.monotonic() < deadline, f"still fresh: frame {view.frame.seq}, stale {view.frame.stale}"
            await asyncio.sleep(0.05)
        assert time.time() - reader.last_update >= 1.0
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


# -- a broker that never answers --------------------------------------------------------------------


@pytest.fixture
async def silent_broker() -> AsyncIterator[str]:
    """A TCP listener that reads requests and never answers: what a frozen broker looks like to a client."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()


async def test_end_offsets_give_up_at_the_deadline_and_say_since_when(silent_broker: str) -> None:
    ends = SourceEnds(silent_broker, timeout_s=0.5)
    try:
        before = time.time()
        started = time.monotonic()
        assert await ends.fetch() is None
        assert await ends.fetch() is None
        took = time.monotonic() - started
        assert took < 10, f"two asks took {took:.1f} s with a 0.5 s deadline"
        assert ends.outage is not None and ends.outage.since >= before
        assert ends.outage.error == "no answer within 0.5 s"
        assert (ends.known, ends.known_at) == ({}, None)
    finally:
        await ends.stop()


# -- through the application ------------------------------------------------------------------------


@pytest.fixture
async def app_parts() -> AsyncIterator[tuple[httpx.AsyncClient, SnapshotReader, KpiView]]:
    chosen = settings()
    now = time.time()
    book = KpiBook(chosen.rules)
    book.put(0, BucketKey(MINUTE, "sales", "voice", int(now // 60 * 60) - 60), BucketStats(offered=3))
    app = create_app(chosen)
    reader = SnapshotReader(chosen, book)  # what the lifespan sets up, without following Kafka
    reader.last_update = now
    view = KpiView(reader, 1.0, 15.0)
    app.state.reader, app.state.view = reader, view
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        yield http, reader, view


async def test_numbers_are_refused_with_503_until_the_snapshot_topics_are_read(
    app_parts: tuple[httpx.AsyncClient, SnapshotReader, KpiView],
) -> None:
    http, reader, view = app_parts
    view.refresh()  # a frame of a book still being read: it would say fresh
    paths = [
        ("/v1/kpis", {"queue": "sales", "channel": "voice"}),
        ("/v1/stream", {"queue": "sales"}),
        ("/v1/history", {"from": "2026-03-01", "to": "2026-03-01"}),
        ("/v1/targets", {}),
    ]
    for path, params in paths:
        response = await http.get(path, params=params)
        assert response.status_code == 503, (path, response.status_code, response.text)
        assert response.headers["retry-after"] == "1", path
        assert response.json()["detail"].startswith("starting"), path
    reader.ready.set()
    assert (await http.get("/v1/kpis")).status_code == 503, "a frame computed before ready is not served"
    view.refresh()
    answer = await http.get("/v1/kpis", params={"queue": "sales", "channel": "voice", "window": "15m"})
    assert answer.status_code == 200
    assert [(row["offered"], answer.json()["stale"]) for row in answer.json()["items"]] == [(3, False)]
    assert (await http.get("/v1/history", params={"from": "2026-03-01", "to": "2026-03-01"})).status_code == 200


async def test_a_422_keeps_loc_msg_type_and_cuts_the_input(app_parts: tuple[httpx.AsyncClient, SnapshotReader, KpiView]) -> None:
    http, reader, view = app_parts
    reader.ready.set()
    view.refresh()
    response = await http.get("/v1/kpis", params={"queue": "q" * 10_000})
    assert response.status_code == 422
    assert len(response.content) < 1000, f"{len(response.content)} bytes"
    (error,) = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["query", "queue", 0], "string_too_long")
    assert error["msg"] == "String should have at most 200 characters"
    assert error["input"] == "q" * 200 + "… [9,800 more characters cut]"
    assert error["ctx"] == {"max_length": 200}

    short = await http.get("/v1/kpis", params={"window": "7m"})
    (error,) = short.json()["detail"]
    assert (error["loc"], error["input"]) == (["query", "window"], "7m"), "a short input stays whole"

    many = await http.get("/v1/kpis", params=[("queue", f"queue-{i:03d}") for i in range(501)])
    (error,) = many.json()["detail"]
    assert error["loc"] == ["query", "queue"]
    shown = error["input"]
    assert isinstance(shown, str) and shown.startswith('["queue-000", "queue-001"') and shown.endswith(" more characters cut]")
    # 501 names of 9 characters, quoted and separated by ", " in JSON: 501 * 11 + 500 * 2 + 2 = 6,513.
    assert shown[200:] == "… [6,313 more characters cut]"
