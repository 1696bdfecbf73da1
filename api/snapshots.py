"""Follows the workers' snapshot topics from their beginning so every API process has the full view.

The API needs no worker to answer and no coordination to scale: each replica reads every partition
of the snapshot topics (no consumer group) and applies records to its own ``KpiBook``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from api.source_ends import Ends, SourceEnds
from kpis import snapshot
from kpis.accounts import Anchor
from kpis.book import KpiBook
from kpis.state import INTERVAL, MINUTE
from kpis.buckets import BucketStats
from service.settings import Settings

log = logging.getLogger("cxpulse.api.snapshots")

MINUTES_KEPT_S = 2 * 3600
# A partition's agent time goes into the book as the share of partition ``AGENT_SHARE - p``, its
# ticket counters as that of ``TICKET_SHARE - p``: shares of their own beside the partition's contacts.
AGENT_SHARE = -1
TICKET_SHARE = -1_000_001
# The slot readers' partition numbers of customer slots (kept apart from the book's buckets).
CUSTOMER_SHARE = -2_000_001
PRUNE_EVERY_S = 60.0
# The broker is asked for the source end offsets this often (lag for /metrics, and whether it
# answers at all) and given this long to answer, both at most a quarter of ``kpi.stale_seconds``
# so a silent broker is noticed within half of it.
LAG_EVERY_S = 5.0
BROKER_TIMEOUT_S = 2.0


class SnapshotReader:
    def __init__(self, settings: Settings, book: KpiBook) -> None:
        self._settings = settings
        app_id = settings.worker.app_id
        self._topics = (snapshot.minutes_topic(app_id), snapshot.intervals_topic(app_id))
        self.book = book
        self.ready = asyncio.Event()
        self.changed = asyncio.Event()
        self.records = 0
        self.lag_by_topic: dict[str, int] = {}
        self.totals_at_ready: dict[tuple[str, str], BucketStats] = {}
        self.last_update: float | None = None
        self._progress: dict[str, dict[int, dict[str, int]]] = {topic: {} for topic in self._topics}
        self._slots = snapshot.SlotReader(settings.kpi.grace_minutes * 60.0)
        self._tasks: list[asyncio.Task[None]] = []
        self._probe_every_s = min(LAG_EVERY_S, settings.kpi.stale_seconds / 4)
        self.ends = SourceEnds(settings.bootstrap, min(BROKER_TIMEOUT_S, settings.kpi.stale_seconds / 4))

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="snapshot-reader"),
            asyncio.create_task(self._watch_lag(), name="lag-watch"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ends.stop()

    def age_seconds(self, now: float) -> float | None:
        return None if self.last_update is None else max(0.0, now - self.last_update)

    def _stale_after(self) -> float:
        """``kpi.stale_seconds`` without updates; half of it while the broker does not answer: then
        the silence has a known cause and the numbers cannot be moving, so a wallboard should say
        so before a whole ``stale_seconds`` (a freeze as long as it was never shown at all)."""
        limit = self._settings.kpi.stale_seconds
        return limit / 2 if self.ends.outage is not None else limit

    def stale(self, now: float) -> bool:
        return self.stale_in(now) is None

    def stale_in(self, now: float) -> float | None:
        """Seconds until the served numbers turn stale if nothing comes; None when they are. The view
        wakes up then, whatever its refresh interval, so staleness shows on this process's clock."""
        age = self.age_seconds(now)
        if age is None:
            return None
        left = self._stale_after() - age
        return left if left >= 0 else None

    # -- following ------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._settings.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                fetch_max_wait_ms=self._settings.kafka.fetch_max_wait_ms,
            )
            try:
                await consumer.start()
                await self._follow(consumer)
            except KafkaError as exc:
                log.warning("snapshot topics unavailable, retrying", extra={"error": repr(exc)})
                await asyncio.sleep(1.0)
            finally:
                await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """The topics' partitions, waiting while they do not exist yet (``topics()`` refreshes metadata)."""
        while not set(self._topics) <= await consumer.topics():
            log.info("waiting for the snapshot topics", extra={"topics": self._topics})
            await asyncio.sleep(0.5)
        return [
            TopicPartition(topic, p) for topic in self._topics for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        partitions = await self._partitions(consumer)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        pruned_at = time.monotonic()
        unfinished: dict[TopicPartition, list[tuple[list[Any], bytes | None]]] = {}
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=20_000)
            for tp, records in batches.items():
                if self._apply_writes(tp.topic, unfinished.setdefault(tp, []), records):
                    self.changed.set()
                self.records += len(records)
                if records:
                    self.last_update = time.time()
            if not self.ready.is_set():
                positions = {tp: await consumer.position(tp) for tp in partitions}
                if all(positions[tp] >= end[tp] for tp in partitions):
                    self.totals_at_ready = {
                        pair: BucketStats.merged((stats,)) for pair, stats in self.book.running_totals().items()
                    }
                    self.ready.set()
                    self.changed.set()
                    log.info("snapshot topics caught up", extra={"records": self.records})
            if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                self.prune(time.time())
                pruned_at = time.monotonic()

    def _apply_writes(
        self, topic: str, held: list[tuple[list[Any], bytes | None]], records: list[ConsumerRecord[bytes, bytes]]
    ) -> bool:
        """Apply whole worker writes only; True when one was applied.

        A write is, per snapshot partition, its slot records, then the waiting record, then the progress
        record (kpis/persistence.py). A fetch may end inside a write: what follows the last progress
        record is ``held`` until the rest arrives, so no frame shows a write half applied (a new contact
        counted as offered but not yet as waiting). Signs of life carry no state and are not held.
        """
        applied = False
        for record in records:
            if record.key is None:
                continue
            key = orjson.loads(record.key)
            if key[0] == "alive":
                continue
            held.append((key, record.value))
            if key[0] == "progress":
                for write_key, value in held:
                    self._apply(topic, write_key, value)
                held.clear()
                applied = True
        return applied

    def _apply(self, topic: str, key: list[Any], raw_value: bytes | None) -> None:
        if key[0] == "waiting":
            value: Any = None if raw_value is None else orjson.loads(raw_value)
            self.book.put_waiting(int(key[1]), {(q, c): (int(n), float(oldest)) for q, c, n, oldest in value or ()})
        elif key[0] == "progress":
            value = None if raw_value is None else orjson.loads(raw_value)
            highest = self._progress[topic].setdefault(int(key[1]), {})
            for source, offset in (value or {}).items():
                highest[source] = max(highest.get(source, -1), int(offset))
        elif key[0] == "agents":
            self.book.put_agents(int(key[1]), [] if raw_value is None else orjson.loads(raw_value))
        elif key[0] == "tickets":
            backlog = [] if raw_value is None else orjson.loads(raw_value)
            self.book.put_backlog(int(key[1]), {(str(q), str(c)): int(n) for q, c, n in backlog})
        elif key[0] == "customers":
            if raw_value is not None:
                anchor = orjson.loads(raw_value)
                self.book.put_customer_anchor(int(key[1]), Anchor(float(anchor["line"]), int(anchor["active"])))
        elif raw_value is not None:
            partition, size, start = (int(part) for part in key[-3:])
            # Recomputed folds' slot records are whole: a bucket the latest record lacks is gone.
            whole = key[0] in ("agent-slot", "ticket-slot", "customer-slot")
            if key[0] == "customer-slot":
                for bucket, stats in self._slots.read(CUSTOMER_SHARE - partition, size, start, raw_value, whole):
                    self.book.put_customers(partition, bucket, stats)
                return
            if key[0] == "agent-slot":
                partition = AGENT_SHARE - partition
            elif key[0] == "ticket-slot":
                partition = TICKET_SHARE - partition
            for bucket, stats in self._slots.read(partition, size, start, raw_value, whole):
                self.book.put(partition, bucket, stats)

    def prune(self, now: float) -> None:
        """Minute buckets only serve rolling windows; 15-minute history is kept for history_days
        behind the newest bucket (event time, so replayed years are kept like live days)."""
        self.book.prune(MINUTE, now - MINUTES_KEPT_S)
        self.book.prune(INTERVAL, self._slots.newest(INTERVAL) - self._settings.kpi.history_days * 86400)

    # -- progress -------------------------------------------------------------------------------

    def processed(self) -> dict[tuple[str, int], int]:
        """Next source offset per (topic, partition) whose effects every snapshot topic has shown.

        The highest progress a partition's owner ever wrote, not the latest: a worker that takes a
        partition over (after a crash or a rebalance) starts its progress from nothing while it re-reads
        from its resume point, but the buckets it restored, and the API's book, already hold the
        effects up to the highest mark, and re-reading changes nothing counted. So the figure never
        goes backwards and stays true."""
        result: dict[tuple[str, int], int] = {}
        for index, by_partition in enumerate(self._progress.values()):
            for partition, offsets in by_partition.items():
                for topic, offset in offsets.items():
                    key = (topic, partition)
                    seen = offset + 1
                    result[key] = seen if index == 0 else min(result.get(key, 0), seen)
        return result

    async def lag(self, processed: dict[tuple[str, int], int] | None = None) -> list[dict[str, Any]] | None:
        """Per source partition: its end offset, the offset ``processed`` reflects (default: this
        reader's book), and the gap; None when the broker did not answer within its deadline."""
        ends = await self.ends.fetch()
        return None if ends is None else lag_entries(ends, self.processed() if processed is None else processed)

    async def _watch_lag(self) -> None:
        """Keeps ``lag_by_topic`` for /metrics, whose collectors cannot await the broker, and notices
        a broker that stops (or starts again) answering: the view is woken to show the staleness."""
        while True:
            reachable = self.ends.outage is None
            entries = await self.lag()
            if entries is not None:
                totals: dict[str, int] = {}
                for entry in entries:
                    totals[entry["topic"]] = totals.get(entry["topic"], 0) + entry["lag"]
                self.lag_by_topic = totals
            if (self.ends.outage is None) != reachable:
                self.changed.set()
            await asyncio.sleep(self._probe_every_s)


def lag_entries(ends: Ends, processed: dict[tuple[str, int], int]) -> list[dict[str, Any]]:
    """One entry per partition the broker reported; shared by fresh answers and, while the broker is
    silent, by /v1/status's answer from the last end offsets it gave."""
    partitions: list[dict[str, Any]] = []
    for (topic, partition), end in sorted(ends.items()):
        done = processed.get((topic, partition), 0)
        partitions.append(
            {"topic": topic, "partition": partition, "end_offset": end, "processed_offset": done, "lag": max(0, end - done)}
        )
    return partitions
