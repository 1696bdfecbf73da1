"""Follows the workers' bucket changelog from its beginning so every API process has the full view.

The API needs no worker to answer and no coordination to scale: each replica reads every partition
of the log (no consumer group) and applies records to its own ``KpiBook``.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from kpis import snapshot
from kpis.book import KpiBook

log = logging.getLogger("cxpulse.api.snapshots")


class SnapshotReader:
    def __init__(self, bootstrap: str, topic: str, book: KpiBook) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self.book = book
        self.ready = asyncio.Event()
        self.records = 0
        self.last_update: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="snapshot-reader")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
            )
            try:
                await consumer.start()
                await self._follow(consumer)
            except KafkaError as exc:
                log.warning("snapshot log unavailable, retrying", extra={"error": repr(exc)})
                await asyncio.sleep(1.0)
            finally:
                await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """The log's partitions, waiting while the topic does not exist yet (``topics()`` refreshes metadata)."""
        while self._topic not in await consumer.topics():
            log.info("waiting for the snapshot topic", extra={"topic": self._topic})
            await asyncio.sleep(0.5)
        return [TopicPartition(self._topic, p) for p in sorted(consumer.partitions_for_topic(self._topic) or ())]

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        partitions = await self._partitions(consumer)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                for record in records:
                    partition, key = snapshot.decode_key(record.key)
                    self.book.put(partition, key, snapshot.decode_value(record.value))
                    self.records += 1
                if records:
                    self.last_update = time.time()
            if not self.ready.is_set():
                positions = {tp: await consumer.position(tp) for tp in partitions}
                if all(positions[tp] >= end[tp] for tp in partitions):
                    self.ready.set()
                    log.info("snapshot log caught up", extra={"records": self.records})
