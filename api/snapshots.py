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

from kpis import snapshot
from kpis.book import KpiBook
from kpis.state import INTERVAL, MINUTE
from kpis.buckets import BucketStats
from service.settings import Settings
from streams import topics

log = logging.getLogger("cxpulse.api.snapshots")

MINUTES_KEPT_S = 2 * 3600
PRUNE_EVERY_S = 60.0
LAG_EVERY_S = 5.0


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
        self._offsets: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="snapshot-reader"),
            asyncio.create_task(self._watch_lag(), name="lag-watch"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._offsets is not None:
            await self._offsets.stop()

    def age_seconds(self, now: float) -> float | None:
        return None if self.last_update is None else max(0.0, now - self.last_update)

    def stale(self, now: float) -> bool:
        age = self.age_seconds(now)
        return age is None or age > self._settings.kpi.stale_seconds

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
            self._progress[topic][int(key[1])] = {k: int(v) for k, v in (value or {}).items()}
        elif raw_value is not None:
            partition, size, start = (int(part) for part in key)
            for bucket, stats in self._slots.read(partition, size, start, raw_value):
                self.book.put(partition, bucket, stats)

    def prune(self, now: float) -> None:
        """Minute buckets only serve rolling windows; 15-minute history is kept for history_days
        behind the newest bucket (event time, so replayed years are kept like live days)."""
        self.book.prune(MINUTE, now - MINUTES_KEPT_S)
        self.book.prune(INTERVAL, self._slots.newest(INTERVAL) - self._settings.kpi.history_days * 86400)

    # -- progress -------------------------------------------------------------------------------

    def processed(self) -> dict[tuple[str, int], int]:
        """Next source offset per (topic, partition) whose effects every snapshot topic has shown."""
        result: dict[tuple[str, int], int] = {}
        for index, by_partition in enumerate(self._progress.values()):
            for partition, offsets in by_partition.items():
                for topic, offset in offsets.items():
                    key = (topic, partition)
                    seen = offset + 1
                    result[key] = seen if index == 0 else min(result.get(key, 0), seen)
        return result

    async def lag(self, processed: dict[tuple[str, int], int] | None = None) -> list[dict[str, Any]]:
        """Per source partition: its end offset, the offset ``processed`` reflects (default: this
        reader's book), and the gap."""
        ends = await self.end_offsets()
        processed = self.processed() if processed is None else processed
        partitions: list[dict[str, Any]] = []
        for (topic, partition), end in sorted(ends.items()):
            done = processed.get((topic, partition), 0)
            partitions.append(
                {"topic": topic, "partition": partition, "end_offset": end, "processed_offset": done, "lag": max(0, end - done)}
            )
        return partitions

    async def _watch_lag(self) -> None:
        """Keeps ``lag_by_topic`` for /metrics, whose collectors cannot await the broker."""
        while True:
            try:
                totals: dict[str, int] = {}
                for entry in await self.lag():
                    totals[entry["topic"]] = totals.get(entry["topic"], 0) + entry["lag"]
                self.lag_by_topic = totals
            except (KafkaError, OSError) as exc:
                log.warning("could not read source end offsets", extra={"error": repr(exc)})
            await asyncio.sleep(LAG_EVERY_S)

    async def end_offsets(self) -> dict[tuple[str, int], int]:
        if self._offsets is None:
            self._offsets = AIOKafkaConsumer(bootstrap_servers=self._settings.bootstrap, enable_auto_commit=False)
            await self._offsets.start()
        available = await self._offsets.topics()
        partitions = [
            TopicPartition(topic, p)
            for topic in topics.SOURCE_TOPICS
            if topic in available
            for p in sorted(self._offsets.partitions_for_topic(topic) or ())
        ]
        ends = await self._offsets.end_offsets(partitions)
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}
