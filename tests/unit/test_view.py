"""The shared KPI frame: ETags that move only with the numbers, and SSE messages per selection."""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

from api.routers.kpis import matches
from api.view import KpiView, Selection
from kpis.book import KpiBook
from kpis.buckets import BucketStats
from kpis.state import MINUTE, BucketKey
from kpis.windows import Window
from service.settings import Settings

T0 = 1_800_000_000 + 30


class FakeReader:
    """Just what the view reads from a snapshot reader: the book, readiness, staleness and the change
    signal."""

    def __init__(self) -> None:
        self.book = KpiBook(Settings().rules)
        self.is_stale = False
        self.changed = asyncio.Event()
        self.ready = asyncio.Event()
        self.ready.set()

    def stale(self, now: float) -> bool:
        return self.is_stale

    def stale_in(self, now: float) -> float | None:
        return None if self.is_stale else 3600.0

    def processed(self) -> dict[tuple[str, int], int]:
        return {("cx.calls", 0): 3}


class Clock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


def put(reader: FakeReader, queue: str, offered: int, answered: int, channel: str = "voice") -> None:
    key = BucketKey(MINUTE, queue, channel, T0 - 30 - 60)
    reader.book.put(0, key, BucketStats(offered=offered, answered=answered))


def view_of(reader: FakeReader, clock: Clock, heartbeat_s: float = 60.0) -> KpiView:
    return KpiView(reader, refresh_seconds=1.0, heartbeat_seconds=heartbeat_s, clock=clock)  # type: ignore[arg-type]


def body_json(view: KpiView, selection: Selection) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(view.body(selection).content)
    return parsed


def test_the_etag_stays_while_the_numbers_do_and_moves_with_them() -> None:
    reader, clock = FakeReader(), Clock()
    put(reader, "sales", offered=3, answered=2)
    view = view_of(reader, clock)
    sales = Selection.of(["sales"], ["voice"], [Window.M15])
    view.refresh()
    first = view.body(sales)
    clock.now += 1
    view.refresh()
    again = view.body(sales)
    assert again.etag == first.etag
    assert again.content != first.content, "as_of moves with every refresh"
    put(reader, "sales", offered=4, answered=2)
    view.refresh()
    moved = view.body(sales)
    assert moved.etag != first.etag
    assert [row["offered"] for row in body_json(view, sales)["items"]] == [4]


def test_an_unrelated_queue_does_not_move_a_selections_etag_but_staleness_does() -> None:
    reader, clock = FakeReader(), Clock()
    put(reader, "sales", offered=3, answered=2)
    put(reader, "support", offered=1, answered=1)
    view = view_of(reader, clock)
    sales = Selection.of(["sales"], None, [Window.M15])
    view.refresh()
    before = view.body(sales).etag
    put(reader, "support", offered=5, answered=1)
    view.refresh()
    assert view.body(sales).etag == before
    reader.is_stale = True
    view.refresh()
    assert view.body(sales).etag != before
    assert body_json(view, sales)["stale"] is True


def test_selections_filter_queues_channels_and_roll_ups() -> None:
    reader, clock = FakeReader(), Clock()
    put(reader, "sales", offered=3, answered=2)
    put(reader, "sales", offered=2, answered=2, channel="chat")
    put(reader, "support", offered=1, answered=1)
    view = view_of(reader, clock)
    view.refresh()
    rows = body_json(view, Selection.of(["sales", "*"], ["*"], [Window.M15]))["items"]
    assert {(r["queue"], r["channel"]): r["offered"] for r in rows} == {("sales", "*"): 5, ("*", "*"): 6}
    everything = body_json(view, Selection.of(None, None, [Window.M60]))["items"]
    assert len(everything) == 3 + 2 + 2 + 1  # pairs, per-queue roll-ups, per-channel roll-ups, the total
    assert {r["window"] for r in everything} == {"60m"}


def test_if_none_match_uses_weak_comparison() -> None:
    assert matches('W/"abc"', 'W/"abc"')
    assert matches('"abc"', 'W/"abc"')
    assert matches('"x", W/"abc"', 'W/"abc"')
    assert matches("*", 'W/"abc"')
    assert not matches('W/"abd"', 'W/"abc"')


async def next_event(stream: AsyncIterator[bytes]) -> tuple[str, dict[str, Any]]:
    message = (await asyncio.wait_for(anext(stream), 5)).decode()
    fields = dict(line.split(": ", 1) for line in message.strip().splitlines())
    return fields["event"], json.loads(fields["data"])


async def test_a_stream_starts_with_a_snapshot_then_sends_only_changed_rows() -> None:
    reader, clock = FakeReader(), Clock()
    put(reader, "sales", offered=3, answered=2)
    put(reader, "support", offered=1, answered=1)
    view = view_of(reader, clock)
    view.refresh()
    stream = view.events(Selection.of(["sales", "support"], ["voice"], [Window.M15]), lambda: True)
    assert await anext(stream) == b"retry: 3000\n\n"
    kind, data = await next_event(stream)
    assert kind == "snapshot"
    assert {r["queue"]: r["offered"] for r in data["items"]} == {"sales": 3, "support": 1}
    pending = asyncio.ensure_future(next_event(stream))
    await asyncio.sleep(0)
    put(reader, "support", offered=2, answered=1)
    view.refresh()
    kind, data = await pending
    assert kind == "update"
    assert [(r["queue"], r["offered"]) for r in data["items"]] == [("support", 2)]
    await stream.aclose()


async def test_a_quiet_stream_gets_heartbeats_and_a_stale_flip_as_an_update() -> None:
    reader, clock = FakeReader(), Clock()
    put(reader, "sales", offered=3, answered=2)
    view = view_of(reader, clock, heartbeat_s=0.05)
    view.refresh()
    stream = view.events(Selection.of(["sales"], ["voice"], [Window.M15]), lambda: True)
    await anext(stream)
    await next_event(stream)
    kind, data = await next_event(stream)
    assert kind == "heartbeat" and data["stale"] is False and "items" not in data
    pending = asyncio.ensure_future(next_event(stream))
    await asyncio.sleep(0)
    reader.is_stale = True
    view.refresh()
    kind, data = await pending
    assert kind == "update" and data["stale"] is True and data["items"] == []
    await stream.aclose()


async def test_a_client_that_missed_frames_gets_a_fresh_snapshot() -> None:
    reader, clock = FakeReader(), Clock()
    put(reader, "sales", offered=3, answered=2)
    view = view_of(reader, clock)
    view.refresh()
    stream = view.events(Selection.of(["sales"], ["voice"], [Window.M15]), lambda: True)
    await anext(stream)
    await next_event(stream)
    put(reader, "sales", offered=4, answered=2)
    view.refresh()
    put(reader, "sales", offered=5, answered=2)
    view.refresh()
    kind, data = await next_event(stream)
    assert kind == "snapshot"
    assert [r["offered"] for r in data["items"]] == [5]
    await stream.aclose()


async def test_a_stream_ends_when_its_token_is_revoked() -> None:
    reader, clock = FakeReader(), Clock()
    view = view_of(reader, clock, heartbeat_s=0.05)
    view.refresh()
    allowed = [True]
    stream = view.events(Selection.of(None, None, [Window.M15]), lambda: allowed[0])
    await anext(stream)
    await next_event(stream)
    allowed[0] = False
    remaining = [message async for message in stream]
    assert len(remaining) <= 1
