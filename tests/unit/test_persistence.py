"""The records a partition's state is written as (kpis/persistence.py, kpis/snapshot.py), checked
against hand-counted expectations: one record per time slot, unchanged buckets skipped by readers,
offer segments sealed, expired and restored."""

from __future__ import annotations

import json
from typing import Any

from kpis import persistence, snapshot
from kpis.persistence import PartitionWriter, Writes
from kpis.state import INTERVAL, MINUTE, BucketKey, PartitionState
from service.settings import Settings
from streams import topics
from tests.events import contact_event, decode

T0 = 1_800_000_000.0  # on a 15-minute boundary
CONFIG = Settings()


def new_state() -> PartitionState:
    return PartitionState(CONFIG.rules, grace_s=600, contact_horizon_s=6 * 3600, repeat_horizon_s=86400)


class Log:
    def __init__(self, state: PartitionState) -> None:
        self.state = state
        self.offset = -1

    def fold(self, *events: dict[str, Any]) -> None:
        for event in events:
            self.offset += 1
            self.state.apply(decode(json.dumps(event).encode(), topics.CALLS), topics.CALLS, self.offset)


def slot_keys(writes: Writes) -> list[list[Any]]:
    return [json.loads(key) for _, key, _ in writes.snapshots if isinstance(json.loads(key)[0], int)]


def table_entries(table: dict[bytes, bytes | None]) -> list[tuple[str, list[Any], bytes]]:
    entries = []
    for key, value in table.items():
        kind, _, rest = snapshot.decode_table_key(key)
        if value is not None:
            entries.append((kind, rest, value))
    return entries


def test_one_record_per_slot_whatever_the_number_of_queues() -> None:
    state = new_state()
    Log(state).fold(*(contact_event("offered", f"c{n}", T0 + n, queue=f"q{n}") for n in range(30)))
    writes = PartitionWriter(3).writes(state, state.take_changes(), close=False)
    assert sorted(map(tuple, slot_keys(writes))) == [(3, MINUTE, int(T0)), (3, INTERVAL, int(T0))]
    assert sorted(json.loads(key)[0] for key, _ in writes.table) == ["o", "s", "s"]


def test_a_reader_applies_only_the_buckets_that_changed() -> None:
    state = new_state()
    log = Log(state)
    writer = PartitionWriter(0)
    reader = snapshot.SlotReader(grace_s=600)

    def interval_updates() -> list[tuple[BucketKey, int]]:
        writes = writer.writes(state, state.take_changes(), close=False)
        [raw] = [value for size, key, value in writes.snapshots if json.loads(key) == [0, INTERVAL, int(T0)]]
        return [(key, stats.offered) for key, stats in reader.read(0, INTERVAL, int(T0), raw)]

    log.fold(contact_event("offered", "c1", T0, queue="a"), contact_event("offered", "c2", T0, queue="b"))
    assert sorted(interval_updates()) == [(BucketKey(INTERVAL, "a", "voice", int(T0)), 1), (BucketKey(INTERVAL, "b", "voice", int(T0)), 1)]
    assert (reader.newest(INTERVAL), reader.newest(MINUTE)) == (int(T0), 0)
    log.fold(contact_event("offered", "c3", T0 + 1, queue="b"))
    assert interval_updates() == [(BucketKey(INTERVAL, "b", "voice", int(T0)), 2)]
    writer = PartitionWriter(0)  # a new worker sends everything again, with new versions
    log.fold(contact_event("offered", "c4", T0 + 2, queue="b"))
    assert sorted(interval_updates()) == [(BucketKey(INTERVAL, "a", "voice", int(T0)), 1), (BucketKey(INTERVAL, "b", "voice", int(T0)), 3)]


def test_offer_segments_seal_expire_and_restore_with_the_latest_flag(monkeypatch: Any) -> None:
    monkeypatch.setattr(persistence, "SEGMENT_OFFERS", 2)
    state = new_state()
    log = Log(state)
    writer = PartitionWriter(0)
    table: dict[bytes, bytes | None] = {}

    def flush(close: bool = False) -> Writes:
        writes = writer.writes(state, state.take_changes(), close)
        table.update(writes.table + writes.after)
        return writes

    # u1 at T0+3000, then u2, then u1's earlier offer at T0+100 arrives and makes T0+3000 a repeat.
    log.fold(contact_event("offered", "c1", T0 + 3000, customer_id="u1"), contact_event("offered", "c2", T0 + 3001, customer_id="u2"))
    log.fold(contact_event("offered", "c3", T0 + 100, customer_id="u1"))
    flush()
    segments = {json.loads(key)[2]: json.loads(value) for key, value in table.items() if json.loads(key)[0] == "o" and value}
    assert [[entry[2] for entry in segments[n]] for n in sorted(segments)] == [["c1", "c2"], ["c3", "c1"]]
    assert [entry[6] for entry in segments[1]] == [False, True]  # the re-flagged copy comes later

    restarted = new_state()
    PartitionWriter(0).restore(restarted, table_entries(table))
    relog = Log(restarted)
    relog.offset = log.offset
    relog.fold(contact_event("offered", "c4", T0 + 200, customer_id="u1"))
    stats = restarted.buckets[BucketKey(INTERVAL, "billing", "voice", int(T0))].stats
    assert (stats.known_customer_offered, stats.repeat_offered) == (2, 1)  # c3, and c4 repeating it
    later = restarted.buckets[BucketKey(INTERVAL, "billing", "voice", int(T0) + 2700)].stats
    assert later.repeat_offered == 1  # c1 was a repeat already (its later copy): not counted again

    # A day and more later, both sealed segments are older than the repeat horizon plus grace.
    log.fold(contact_event("offered", "c5", T0 + 3000 + 86400 + 700, customer_id="u3"),
             contact_event("offered", "c6", T0 + 3000 + 86400 + 701, customer_id="u4"))  # fmt: skip
    state.close(T0 + 3000 + 86400 + 1300)
    writes = flush(close=True)
    assert sorted(json.loads(key) for key, value in writes.after if value is None and json.loads(key)[0] == "o") == [["o", 0, 0], ["o", 0, 1]]
