"""Copying the embedded broker's topics into the journal while ``cxpulse run`` serves.

A plain consumer (no group) reads every partition of every cxpulse topic from where its journal
file ends, and every ``broker.journal_sync_seconds`` the records read are written and fsynced,
with the committed offsets of cxpulse's consumer groups (the worker's, the sentiment scorer's). A kill of the whole run loses at most what came after
the last sync (plus what this consumer had not read yet); a stop loses nothing, because the
supervisor stops the worker and the API first, lets the recorder read every partition to its end,
and stops the broker last.

One order makes a killed run restartable: nothing derived may be on disk without the source
records it was derived from. The state changelog holds offset marks ("source offset N is counted
in here"); restored without the source record N, a new event published at N would look counted
already. So a sync first notes the derived records read so far, then asks the broker for the
sources' end offsets, reads the sources up to there, and writes the sources before those derived
records. Every derived record noted was written before the end offsets were asked for, hence so
was every source record it counts. Committed offsets, read before the end offsets too, never point
past the sources written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from service.journal import Journal, Record

log = logging.getLogger("cxpulse.journal")
Groups = dict[str, dict[tuple[str, int], int]]  # committed offsets per consumer group

FETCH_WAIT_MS = 200
FINAL_DRAIN_TIMEOUT_S = 60.0


class Recorder:
    """Keeps the journal up to date with the broker; ``close`` after the producers have stopped."""

    def __init__(self, bootstrap: str, journal: Journal, sources: set[str], groups: tuple[str, ...], sync_seconds: float) -> None:
        self._bootstrap = bootstrap
        self._journal = journal
        self._sources = sources
        self._sync_seconds = sync_seconds
        self._pending: dict[tuple[str, int], list[Record]] = defaultdict(list)
        self._stopping = asyncio.Event()
        self._committed: Groups = {}
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=FETCH_WAIT_MS
        )
        self._group_readers = {
            group: AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False) for group in groups
        }
        self.task: asyncio.Task[None] | None = None
        self.synced_records = 0

    @property
    def _partitions(self) -> list[TopicPartition]:
        return [TopicPartition(topic, partition) for topic, partition in self._journal.partitions]

    async def start(self) -> None:
        await self._consumer.start()
        for reader in self._group_readers.values():
            await reader.start()
        self._consumer.assign(self._partitions)
        for tp in self._partitions:
            self._consumer.seek(tp, self._journal.partitions[(tp.topic, tp.partition)].next_offset)
        stored = self._journal.read_groups()
        self._committed = {group: stored.get(group, {}) for group in self._group_readers}
        self.task = asyncio.create_task(self._run(), name="journal")

    async def _run(self) -> None:
        synced = time.monotonic()
        while not self._stopping.is_set():
            await self._take()
            if time.monotonic() - synced >= self._sync_seconds:
                await self._sync()
                synced = time.monotonic()

    async def _take(self) -> int:
        batches = await self._consumer.getmany(timeout_ms=FETCH_WAIT_MS)
        for tp, records in batches.items():
            self._pending[(tp.topic, tp.partition)].extend(_record(r) for r in records)
        return sum(len(records) for records in batches.values())

    async def _read_to(self, partitions: list[TopicPartition]) -> None:
        """Read until every partition's position reaches the end the broker reports now."""
        ends = await self._consumer.end_offsets(partitions)
        for tp, end in ends.items():
            while await self._consumer.position(tp) < end:
                await self._take()

    async def _sync(self) -> None:
        derived = {where: len(records) for where, records in self._pending.items() if where[0] not in self._sources}
        committed = await self._read_committed()
        await self._read_to([tp for tp in self._partitions if tp.topic in self._sources])
        self._write({where: len(records) for where, records in self._pending.items() if where[0] in self._sources})
        self._write(derived)
        self._save_committed(committed)

    def _write(self, counts: dict[tuple[str, int], int]) -> None:
        for where, count in counts.items():
            if count:
                partition_log = self._journal.partitions[where]
                partition_log.append(self._pending[where][:count])
                partition_log.sync()
                del self._pending[where][:count]
                self.synced_records += count

    async def _read_committed(self) -> Groups:
        committed = {group: dict(offsets) for group, offsets in self._committed.items()}
        for group, reader in self._group_readers.items():
            for tp in self._partitions:
                if tp.topic in self._sources:
                    offset = await reader.committed(tp)
                    if offset is not None:
                        committed[group][(tp.topic, tp.partition)] = offset
        return committed

    def _save_committed(self, committed: Groups) -> None:
        if committed != self._committed:
            self._journal.write_groups(committed)
            self._committed = committed

    async def close(self) -> None:
        """Everything up to the end of every partition, on disk. Call once nothing writes any more."""
        self._stopping.set()
        try:
            if self.task is not None:
                await self.task
            await asyncio.wait_for(self._drain(), FINAL_DRAIN_TIMEOUT_S)
        except Exception as exc:  # the broker went first: keep what was read, say what may be missing
            log.error("journal could not read the topics to their end; the last records may be missing",
                      extra={"error": repr(exc)})
            self._write({where: len(records) for where, records in self._pending.items()})
        finally:
            self._journal.close()
            await self._consumer.stop()
            for reader in self._group_readers.values():
                await reader.stop()

    async def _drain(self) -> None:
        committed = await self._read_committed()
        await self._read_to(self._partitions)
        while await self._take():
            pass  # the broker's reported end can stop short of its last batch: read until nothing comes
        self._write({where: len(records) for where, records in self._pending.items()})
        self._save_committed(committed)


def _record(record: ConsumerRecord[bytes, bytes]) -> Record:
    return Record(record.offset, record.timestamp, record.key, record.value, tuple(record.headers))
