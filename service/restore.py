"""Putting the journal back into a fresh embedded broker before the worker and the API start.

Each partition is published again in offset order, so on the empty broker the records get the
offsets they had: committed offsets, the worker's offset marks and resume points keep their
meaning. Compacted topics (the state changelog, the snapshot topics) are compacted first, as Kafka
would: their readers read them whole, so their offsets carry no meaning and may change; the journal
file is then rewritten with the new offsets. A partition's last record goes in a batch of its own:
the embedded broker reports a partition's end as its last batch's first offset + 1, and readers
that wait for the end (the worker's table recovery, the API's readiness) must see all of it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata

from service.journal import Journal, Record, compact

class RestoreError(Exception):
    """The broker did not give a restored record the offset it had; the journal and broker disagree."""


@dataclass
class Restored:
    """What a start brought back, for the log line that tells the operator."""

    records: dict[str, int] = field(default_factory=dict)
    committed: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    seconds: float = 0.0

    def note(self, topic: str, records: list[Record]) -> None:
        self.records[topic] = self.records.get(topic, 0) + len(records)
        for record in records:
            if self.first_ms is None or record.timestamp_ms < self.first_ms:
                self.first_ms = record.timestamp_ms
            if self.last_ms is None or record.timestamp_ms > self.last_ms:
                self.last_ms = record.timestamp_ms

    def describe(self) -> dict[str, object]:
        def moment(ms: int | None) -> str | None:
            return None if ms is None else datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="seconds")

        return {
            "records": sum(self.records.values()),
            "topics": {topic: count for topic, count in sorted(self.records.items()) if count},
            "committed_offsets": self.committed,
            "written_from": moment(self.first_ms),
            "written_to": moment(self.last_ms),
            "seconds": round(self.seconds, 2),
        }


async def restore(bootstrap: str, journal: Journal, compacted: set[str], groups: tuple[str, ...]) -> Restored:
    started = time.monotonic()
    restored = Restored()
    ends: dict[tuple[str, int], int] = {}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20, acks="all")
    await producer.start()
    try:
        for (topic, partition), partition_log in journal.partitions.items():
            records = list(partition_log.scan())
            if topic in compacted:
                records = compact(records, drop_tombstones=True)
                records = [_renumbered(record, offset) for offset, record in enumerate(records)]
            await _publish(producer, topic, partition, records)
            if topic in compacted:
                partition_log.replace(records)
            ends[(topic, partition)] = partition_log.next_offset
            restored.note(topic, records)
    finally:
        await producer.stop()
    restored.committed = sum([await _restore_committed(bootstrap, journal, group, ends) for group in groups])
    restored.seconds = time.monotonic() - started
    return restored


def _renumbered(record: Record, offset: int) -> Record:
    return Record(offset, record.timestamp_ms, record.key, record.value, record.headers)


async def _publish(producer: AIOKafkaProducer, topic: str, partition: int, records: list[Record]) -> None:
    """In offset order, checking each offset the broker gives; the last record in a batch of its own."""
    if not records:
        return
    pending = []
    for record in records[:-1]:
        pending.append((record.offset, await _send(producer, topic, partition, record)))
    await producer.flush()
    pending.append((records[-1].offset, await _send(producer, topic, partition, records[-1])))
    for wanted, future in pending:
        got = (await future).offset
        if got != wanted:
            raise RestoreError(
                f"{topic}[{partition}]: the broker put the journal's record {wanted} at offset {got}; "
                "the broker was not empty, or the journal has a gap"
            )


async def _send(producer: AIOKafkaProducer, topic: str, partition: int, record: Record) -> asyncio.Future[RecordMetadata]:
    return await producer.send(
        topic, record.value, key=record.key, partition=partition, timestamp_ms=record.timestamp_ms,
        headers=list(record.headers) or None,
    )  # fmt: skip


async def _restore_committed(
    bootstrap: str, journal: Journal, group: str, ends: dict[tuple[str, int], int]
) -> int:
    """A group's committed offsets, never beyond what was restored: a commit past the end
    would send the worker back to the earliest offset."""
    offsets = {
        TopicPartition(topic, partition): min(offset, ends.get((topic, partition), 0))
        for (topic, partition), offset in journal.read_groups().get(group, {}).items()
    }
    offsets = {tp: offset for tp, offset in offsets.items() if offset > 0}
    if not offsets:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()
    return len(offsets)
