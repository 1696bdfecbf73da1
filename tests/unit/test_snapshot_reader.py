"""The API applies whole worker writes: a fetch that ends inside one leaves the served state as it was."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from api.snapshots import SnapshotReader
from kpis import snapshot
from kpis.book import KpiBook
from service.settings import Settings

TOPIC = "cxpulse.kpi-minutes"


def record(key: bytes, value: Any) -> Any:
    return SimpleNamespace(key=key, value=snapshot.encode_json(value))


def reader() -> SnapshotReader:
    settings = Settings()
    return SnapshotReader(settings, KpiBook(settings.rules))


def test_a_write_cut_by_the_fetch_waits_for_its_progress_record() -> None:
    follower = reader()
    held: list[Any] = []
    waiting = record(snapshot.snapshot_waiting_key(2), [["sales", "voice", 1, 1_800_000_000.0]])
    progress = record(snapshot.snapshot_progress_key(2), {"cx.calls": 41})
    alive = record(snapshot.snapshot_alive_key("worker-a"), {"at": 1})

    assert follower._apply_writes(TOPIC, held, [waiting, alive]) is False
    assert follower.book.pairs() == set(), "half a write must not be served"
    assert follower._apply_writes(TOPIC, held, [progress]) is True
    assert follower.book.pairs() == {("sales", "voice")}
    assert held == []


def test_signs_of_life_and_keyless_records_are_never_held() -> None:
    follower = reader()
    held: list[Any] = []
    alive = record(snapshot.snapshot_alive_key("worker-a"), {"at": 1})
    assert follower._apply_writes(TOPIC, held, [alive, SimpleNamespace(key=None, value=b"x")]) is False
    assert held == []


def test_a_whole_slot_record_drops_the_buckets_it_no_longer_holds() -> None:
    """Agent slots are recomputed by whoever owns the partition: a worker that took it over writes the
    slot without the buckets its predecessor had booked elsewhere (queue unknown, before a late login
    moved the time to billing), and those must leave the book."""
    reader = snapshot.SlotReader(grace_s=3600)
    first = b'[["unknown","voice",1,{"staffed_s":300.0}],["billing","voice",1,{"staffed_s":60.0}]]'
    later = b'[["billing","voice",2,{"staffed_s":600.0}]]'
    read = reader.read(-1, 900, 1_800_000_000, first, whole=True)
    assert sorted((k.queue, None if s is None else s.staffed_s) for k, s in read) == [("billing", 60.0), ("unknown", 300.0)]
    read = reader.read(-1, 900, 1_800_000_000, later, whole=True)
    assert sorted((k.queue, None if s is None else s.staffed_s) for k, s in read) == [("billing", 600.0), ("unknown", None)]
    # A contacts' slot record (not whole) never drops what it does not mention.
    assert [k.queue for k, _ in reader.read(0, 900, 1_800_000_000, first)] == ["unknown", "billing"]
    assert [k.queue for k, _ in reader.read(0, 900, 1_800_000_000, later)] == ["billing"]
