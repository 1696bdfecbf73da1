"""The fold (kpis/state.py) and the read-side merge (kpis/book.py) against the independent reference
(tests/reference.py) on the same events: shuffled within the grace period, duplicated, spread over
partitions, with buckets closing as event time moves on, and with a worker crash and restart that
restores the persisted state and re-reads the source from the resume point.

The harness below plays the worker's part (streams/folding.py) without Kafka: a log per partition,
a table of persisted keys, and the snapshot records the API would read.
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass, field
from typing import Any

import pytest

from adapters.publisher import topic_of
from kpis import snapshot
from kpis.book import KpiBook
from kpis.persistence import PartitionWriter
from kpis.rules import QueueOverrides, ServiceLevelFormula
from kpis.state import INTERVAL, PartitionState
from kpis.windows import Span
from service.settings import Settings
from streams.contract import record_key
from streams.topics import SOURCE_TOPICS
from tests import reference
from tests.events import decode
from tests.traffic import arrival_order, assert_matches, reference_rules, simulated, with_chat_sentiment

PARTITIONS = 4
START = 1_780_000_200.0  # a Tuesday, 20:30 UTC, on a 15-minute boundary
HOURS = 4
GRACE_S = 3600.0


def settings() -> Settings:
    return Settings(
        queues={
            "billing": QueueOverrides(service_level_seconds=30, short_abandon_seconds=0),
            "support": QueueOverrides(service_level_formula=ServiceLevelFormula.ANSWERED),
            "sales": QueueOverrides(service_level_formula=ServiceLevelFormula.ABANDONS_WITHIN_COUNT_AS_MET, short_abandon_seconds=10),
            "retention": QueueOverrides(repeat_contact_days=0.05),
        }
    )


def traffic(seed: int) -> list[dict[str, Any]]:
    return with_chat_sentiment(simulated(seed, START, HOURS, rate_scale=3.0), seed)


def partition_of(event: dict[str, Any]) -> int:
    return zlib.crc32(record_key(event)) % PARTITIONS


@dataclass
class Worker:
    """One partition's fold with the worker's write-out discipline and a persisted table."""

    partition: int
    config: Settings
    table: dict[bytes, bytes] = field(default_factory=dict)
    state: PartitionState = field(init=False)
    writer: PartitionWriter = field(init=False)
    slots: snapshot.SlotReader = field(default_factory=lambda: snapshot.SlotReader(GRACE_S))
    journal: list[tuple[bytes, bytes | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = self.fresh()
        self.writer = PartitionWriter(self.partition)

    def fresh(self) -> PartitionState:
        return PartitionState(self.config.rules, GRACE_S, 6 * 3600.0, 8 * 86400.0)

    def put(self, key: bytes, value: bytes | None) -> None:
        """A table write, journalled with the value it replaced so a crash can lose it again."""
        self.journal.append((key, self.table.get(key)))
        if value is None:
            self.table.pop(key, None)
        else:
            self.table[key] = value

    def lose_tail(self, rng: random.Random) -> None:
        """A crash loses a suffix of the last flush's table writes (never a record in the middle)."""
        keep = rng.randint(0, len(self.journal))
        for key, previous in reversed(self.journal[keep:]):
            if previous is None:
                self.table.pop(key, None)
            else:
                self.table[key] = previous

    def flush(self, book: KpiBook, close: bool) -> None:
        """What streams/folding.py does, minus Kafka: the snapshots go to the book the way the API's
        reader applies them, the table writes to the journalled table."""
        self.journal = []
        state = self.state
        if close and set(state.watermarks) >= set(SOURCE_TOPICS):
            state.close(min(state.watermarks.values()))
        writes = self.writer.writes(state, state.take_changes(), close)
        for _, raw_key, raw_value in writes.snapshots:
            key = json.loads(raw_key)
            if isinstance(key[0], int):
                for bucket, stats in self.slots.read(*key, raw_value):
                    book.put(key[0], bucket, stats)
        for key, value in writes.table + writes.after:
            self.put(key, value)

    def restart(self) -> dict[str, int]:
        """A new process: state from the table only; returns the resume offsets."""
        self.state = self.fresh()
        self.writer = PartitionWriter(self.partition)
        entries = []
        for raw_key, raw_value in self.table.items():
            kind, _, rest = snapshot.decode_table_key(raw_key)
            entries.append((kind, rest, raw_value))
        return self.writer.restore(self.state, entries)


def interleave(records: list[tuple[str, int, bytes]], rng: random.Random) -> list[tuple[str, int, bytes]]:
    """A random merge of the topics that keeps each topic's offset order, as a consumer may see it."""
    queues: dict[str, list[tuple[str, int, bytes]]] = {}
    for record in records:
        queues.setdefault(record[0], []).append(record)
    for queue in queues.values():
        queue.reverse()
    merged = []
    while queues:
        topic = rng.choice(sorted(queues))
        merged.append(queues[topic].pop())
        if not queues[topic]:
            del queues[topic]
    return merged


def whole_topics(records: list[tuple[str, int, bytes]], rng: random.Random) -> list[tuple[str, int, bytes]]:
    """One topic's backlog after another, in a random order: what a broker that hands out a
    partition's whole backlog per fetch can make a consumer see."""
    by_topic: dict[str, list[tuple[str, int, bytes]]] = {}
    for record in records:
        by_topic.setdefault(record[0], []).append(record)
    order = sorted(by_topic)
    rng.shuffle(order)
    return [record for topic in order for record in by_topic[topic]]


def fold_all(
    arrivals: list[dict[str, Any]], config: Settings, crash_at: float | None = None, seed: int = 0, skewed: bool = False
) -> KpiBook:
    """Feed each partition's log to its worker, flushing every 50 records and closing every 500;
    with ``crash_at`` (a fraction of each log), the worker dies there and restarts, re-reads the
    source from the resume point to the committed offsets, and goes on from the committed offsets,
    each time with the topics interleaved differently."""
    rng = random.Random(seed)
    merge = whole_topics if skewed else interleave
    book = KpiBook(config.rules)
    logs: dict[int, list[tuple[str, int, bytes]]] = {p: [] for p in range(PARTITIONS)}
    next_offset: dict[tuple[str, int], int] = {}
    for event in arrivals:
        topic, partition = topic_of(event), partition_of(event)
        offset = next_offset.get((topic, partition), 0)
        next_offset[(topic, partition)] = offset + 1
        logs[partition].append((topic, offset, json.dumps(event).encode()))

    for partition, log in logs.items():
        worker = Worker(partition, config)
        committed: dict[str, int] = {}
        order = merge(log, rng)
        crash_index = int(len(order) * crash_at) if crash_at is not None else None
        index = 0
        while index < len(order):
            if index == crash_index:
                # Work after the last commit is lost (redelivered), except what a flush already
                # wrote, and the last flush may have reached the table only in part.
                worker.lose_tail(rng)
                low = worker.restart()
                replay = [r for r in log if low.get(r[0], 0) <= r[1] < committed.get(r[0], 0)]
                for topic, offset, raw in merge(replay, rng):
                    worker.state.apply(decode(raw, topic), topic, offset, rebuilding=True)
                rest = [r for r in log if r[1] >= committed.get(r[0], 0)]
                order = order[:index] + merge(rest, rng)
                crash_index = None
                continue
            topic, offset, raw = order[index]
            worker.state.apply(decode(raw, topic), topic, offset)
            index += 1
            if index % 50 == 0:
                worker.flush(book, close=index % 500 == 0)
                if rng.random() < 0.5:
                    committed = {t: o + 1 for t, o in worker.state.processed.items()}
        worker.flush(book, close=True)
    return book


def assert_same(book: KpiBook, events: list[dict[str, Any]], config: Settings, span: Span) -> None:
    expected = reference.compute(events, span.start, span.end, reference_rules(config))
    assert_matches(book.totals(span), expected, f"span {span}")


@pytest.mark.parametrize("seed", [1, 2])
def test_disorder_and_duplicates_give_the_reference_numbers(seed: int) -> None:
    config = settings()
    events = traffic(seed)
    book = fold_all(arrival_order(events, seed), config)
    end = int(START) + HOURS * 3600
    assert_same(book, events, config, Span(int(START), end, INTERVAL))
    for start in range(int(START), end, 3 * INTERVAL):
        assert_same(book, events, config, Span(start, start + INTERVAL, INTERVAL))


@pytest.mark.parametrize(
    ("seed", "crash_at", "skewed"),
    [(3, 0.3, False), (4, 0.55, False), (5, 0.8, False), (36, 0.15, True), (38, 0.6, True), (39, 0.6, True)],
)
def test_crash_and_restart_neither_loses_nor_double_counts(seed: int, crash_at: float, skewed: bool) -> None:
    config = settings()
    events = traffic(seed)
    book = fold_all(arrival_order(events, seed), config, crash_at=crash_at, seed=seed, skewed=skewed)
    end = int(START) + HOURS * 3600
    assert_same(book, events, config, Span(int(START), end, INTERVAL))
    for start in range(int(START), end, 4 * INTERVAL):
        assert_same(book, events, config, Span(start, start + INTERVAL, INTERVAL))
