"""The API's own producer: puts events that came in over HTTP on their topics, and unusable webhook
payloads on the dead-letter topic, and says so only once the broker has acknowledged them.

Events are packed per (topic, partition) into one record holding a JSON array (contract v1 allows
it; the partition is the one each event's own key picks), because a record costs the producer and
the worker far more than an event in it: a POST of 100 events is a handful of records.
"""

from __future__ import annotations

import asyncio
import time
from functools import lru_cache
from typing import Any, Awaitable, Callable, Iterable, Sequence

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from adapters.publisher import topic_of
from streams import deadletter, topics
from streams.contract import record_key


@lru_cache(maxsize=1 << 16)
def _partition(key: bytes, count: int) -> int:
    """Which of ``count`` partitions the producer's default partitioner picks for a key (what contract v1
    asks of a batched record), cached: murmur2 is pure Python in aiokafka and a contact's several
    events share their key."""
    return (murmur2(key) & 0x7FFFFFFF) % count


class BrokerUnavailable(Exception):
    """The broker did not acknowledge in time: nothing may be reported as accepted."""


class IngestPublisher:
    """Started and stopped with the API (its lifespan); shared by every ingest request.

    The producer connects in the background: an API process must come up (and answer, ready or not)
    while the broker is away, and a request that finds it still connecting waits within its own
    acknowledgement time, then gets the 503 like any request the broker does not answer."""

    def __init__(self, bootstrap: str, ack_timeout_s: float) -> None:
        self._bootstrap = bootstrap
        self._ack_timeout_s = ack_timeout_s
        self._producer = self._new_producer()
        self._starting: asyncio.Task[None] | None = None
        self._partitions: dict[str, list[int]] = {}

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self._bootstrap, linger_ms=2, max_batch_size=1024 * 1024,
            max_request_size=8 * 1024 * 1024, acks="all", request_timeout_ms=max(1000, int(self._ack_timeout_s * 1000)),
        )  # fmt: skip

    async def start(self) -> None:
        self._starting = asyncio.create_task(self._producer.start(), name="ingest-producer-start")

    async def _started(self) -> None:
        """The producer once connected; a start that failed (no broker) is tried again with a new one."""
        starting = self._starting
        if starting is None or (starting.done() and starting.exception() is not None):
            self._producer = self._new_producer()
            starting = self._starting = asyncio.create_task(self._producer.start(), name="ingest-producer-start")
        await asyncio.shield(starting)

    async def stop(self) -> None:
        starting = self._starting
        if starting is None:
            return
        if not starting.done():
            starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await self._producer.stop()

    async def publish(self, events: Iterable[dict[str, Any]]) -> float:
        """Send valid contract events, wait for every acknowledgement; the seconds the broker took.

        Raises BrokerUnavailable when it does not acknowledge within the configured time (records may
        still arrive later: a client that retries is harmless, the worker deduplicates by event_id)."""
        grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for event in events:
            topic = topic_of(event)
            every = self._partitions.get(topic)
            if every is None:
                every = self._partitions[topic] = sorted(await self._within_timeout(lambda: self._producer.partitions_for(topic)))
            grouped.setdefault((topic, every[_partition(record_key(event), len(every))]), []).append(event)
        records = [
            (topic, partition, record_key(batch[0]), orjson.dumps(batch), None)
            for (topic, partition), batch in grouped.items()
        ]
        return await self._deliver(records)

    async def dead_letter(self, raw: bytes, kind: str, reason: str, source: str, index: int | None) -> float:
        """An unusable webhook payload, bytes untouched, with the dead-letter headers the worker writes
        (source topic ``http:<path>``; no partition or offset, since it never was on a topic)."""
        headers = [
            (deadletter.KIND, kind.encode()),
            (deadletter.REASON, reason.encode()),
            (deadletter.SOURCE_TOPIC, f"http:{source}".encode()),
        ]
        if index is not None:
            headers.append((deadletter.SOURCE_INDEX, str(index).encode()))
        return await self._deliver([(topics.DEADLETTER, None, None, raw, headers)])

    async def _deliver(self, records: Sequence[tuple[str, int | None, bytes | None, bytes, Any]]) -> float:
        started = time.perf_counter()

        async def send_all() -> None:
            futures = [
                await self._producer.send(topic, value, key=key, partition=partition, headers=headers)
                for topic, partition, key, value, headers in records
            ]
            await asyncio.gather(*futures)

        await self._within_timeout(send_all)
        return time.perf_counter() - started

    async def _within_timeout(self, work: Callable[[], Awaitable[Any]]) -> Any:
        async def when_started() -> Any:
            await self._started()
            return await work()

        try:
            return await asyncio.wait_for(when_started(), self._ack_timeout_s)
        except (TimeoutError, KafkaError) as exc:
            raise BrokerUnavailable(
                f"the broker did not acknowledge within {self._ack_timeout_s:g} s ({type(exc).__name__}); "
                "no event of this request is confirmed: send it again (the worker drops repeats by event_id)"
            ) from exc
