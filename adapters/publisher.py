"""Puts contract events on their topics with the contract's record key."""

from __future__ import annotations

from typing import Any, Iterable, NamedTuple

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import RecordMetadata

from streams import topics
from streams.contract import ACCOUNT_TYPES, AGENT_TYPES, CHAT_TYPES, SURVEY_TYPE, TICKET_TYPES, record_key


def topic_of(event: dict[str, Any]) -> str:
    if event["type"] in AGENT_TYPES:
        return topics.AGENTS
    if event["type"] in TICKET_TYPES:
        return topics.TICKETS
    if event["type"] in ACCOUNT_TYPES:
        return topics.ACCOUNTS
    if event["type"] == SURVEY_TYPE:
        return topics.SURVEYS
    if event["type"] in CHAT_TYPES:
        return topics.CHATS
    return topics.topic_for_channel(event["channel"])


class Publisher:
    """An aiokafka producer with batching settings that suit a stream of small JSON events.

    With ``events_per_record`` above 1, events are packed into JSON arrays, one array per record, each
    array holding events of one partition only (chosen by the contract's key, with the producer's own
    partitioner), in their order. The worker's per-record cost is then paid once per array.
    """

    def __init__(self, bootstrap: str, events_per_record: int = 1) -> None:
        if events_per_record < 1:
            raise ValueError("events_per_record must be at least 1")
        self._events_per_record = events_per_record
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1024 * 1024, max_request_size=4 * 1024 * 1024,
            acks="all",
        )
        self._partitioner = DefaultPartitioner()

    async def __aenter__(self) -> Publisher:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def publish(self, events: Iterable[dict[str, Any]]) -> int:
        """Queue the events, then wait until the broker has them all; returns how many events."""
        records = await self._records(events)
        await self._deliver(records)
        return sum(record.events for record in records)

    async def publish_tracked(self, events: Iterable[dict[str, Any]]) -> dict[tuple[str, int], int]:
        """Like publish; returns the end offset each (topic, partition) reached, from the broker's own
        acknowledgements, so a caller can wait until exactly those records are counted."""
        sent: dict[tuple[str, int], int] = {}
        for metadata in await self._deliver(await self._records(events)):
            where = (metadata.topic, metadata.partition)
            sent[where] = max(sent.get(where, 0), metadata.offset + 1)
        return sent

    async def publish_raw(self, topic: str, records: Iterable[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]) -> int:
        """Put (key, value, headers) records on a topic as they are (dead letters keep their original
        bytes), and wait until the broker has them all; returns how many."""
        futures = [await self._producer.send(topic, value, key=key, headers=headers) for key, value, headers in records]
        for future in futures:
            await future
        return len(futures)

    async def _records(self, events: Iterable[dict[str, Any]]) -> list[_Record]:
        if self._events_per_record == 1:
            return [_Record(topic_of(e), None, record_key(e), orjson.dumps(e), 1) for e in events]
        grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
        partitions: dict[str, list[int]] = {}
        for event in events:
            topic = topic_of(event)
            if topic not in partitions:
                partitions[topic] = sorted(await self._producer.partitions_for(topic))
            every = partitions[topic]
            grouped.setdefault((topic, self._partitioner(record_key(event), every, every)), []).append(event)
        size = self._events_per_record
        return [
            _Record(topic, partition, record_key(chunk[0]), orjson.dumps(chunk), len(chunk))
            for (topic, partition), batch in grouped.items()
            for chunk in (batch[i : i + size] for i in range(0, len(batch), size))
        ]

    async def _deliver(self, records: list[_Record]) -> list[RecordMetadata]:
        futures = [
            await self._producer.send(record.topic, record.value, key=record.key, partition=record.partition)
            for record in records
        ]
        return [await future for future in futures]


class _Record(NamedTuple):
    topic: str
    partition: int | None
    key: bytes
    value: bytes
    events: int
