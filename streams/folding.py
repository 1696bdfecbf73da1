"""The agent that folds source events into per-partition KPI state and persists changed buckets.

Per event the work is decoding, validation and a few dict operations; table writes happen once per
batch and per changed bucket, with the source partition chosen explicitly, because Faust's per-event
table path is far slower than the arithmetic. The bucket table's changelog is also the snapshot log
the API processes read, so nothing else has to be published for them.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

import faust
from faust.types import TP, EventT

from kpis import snapshot
from kpis.state import PartitionState
from service.settings import Settings
from streams import deadletter, metrics, topics
from streams.contract import InvalidEvent, decode

log = logging.getLogger("cxpulse.worker")

EXPIRY_INTERVAL_S = 10.0


class Folder:
    """Holds the state of the partitions this worker owns and writes their changes to the table."""

    def __init__(self, table: faust.Table, dead_letters: faust.TopicT, settings: Settings) -> None:
        self._table = table
        self._dead_letters = dead_letters
        self._retention_s = settings.worker.retention_minutes * 60.0
        self._horizon_s = settings.worker.contact_horizon_minutes * 60.0
        self._states: dict[int, PartitionState] = {}

    def state(self, partition: int) -> PartitionState:
        """The partition's state, restored from the recovered table the first time it is needed."""
        state = self._states.get(partition)
        if state is None:
            state = self._states[partition] = PartitionState(self._retention_s, self._horizon_s)
            for raw_key, raw_value in self._table.data.items():
                owner, key = snapshot.decode_key(raw_key)
                stats = snapshot.decode_value(raw_value)
                if owner == partition and stats is not None:
                    state.load(key, stats)
            log.info("partition state loaded", extra={"partition": partition, "buckets": len(state.buckets)})
        return state

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._states.pop(partition, None)

    async def fold(self, batch: Iterable[EventT]) -> None:
        touched: set[int] = set()
        for event in batch:
            message = event.message
            try:
                parsed = decode(message.value, message.topic)
            except InvalidEvent as exc:
                await self._dead_letter(message, exc)
                continue
            if self.state(message.partition).apply(parsed):
                metrics.EVENTS_PROCESSED.labels(message.topic).inc()
                metrics.LAST_EVENT_TIME.labels(message.topic).set(parsed.time)
            else:
                metrics.EVENTS_DUPLICATE.labels(message.topic).inc()
            touched.add(message.partition)
        for partition in touched:
            self.flush(partition)

    def flush(self, partition: int) -> None:
        changed, removed = self._states[partition].take_changes()
        for key, stats in changed.items():
            self._write(partition, snapshot.encode_key(partition, key).encode(), snapshot.encode_value(stats))
        for key in removed:
            self._write(partition, snapshot.encode_key(partition, key).encode(), None)

    def _write(self, partition: int, key: bytes, value: bytes | None) -> None:
        if value is None:
            self._table.data.pop(key, None)
        else:
            self._table.data[key] = value
        self._table.send_changelog(partition, key, value)

    def expire(self) -> None:
        for partition, state in self._states.items():
            state.expire()
            self.flush(partition)
        metrics.CONTACTS_TRACKED.set(sum(s.contacts_tracked for s in self._states.values()))
        metrics.BUCKETS_HELD.set(sum(len(s.buckets) for s in self._states.values()))

    async def _dead_letter(self, message: Any, exc: InvalidEvent) -> None:
        log.warning(
            "event dead-lettered",
            extra={"topic": message.topic, "partition": message.partition, "offset": message.offset, "reason": str(exc)},
        )
        await self._dead_letters.send(
            key=message.key,
            value=message.value,
            headers=deadletter.headers(exc.kind, str(exc), message.topic, message.partition, message.offset),
        )
        metrics.EVENTS_DEADLETTERED.labels(message.topic, exc.kind).inc()


def attach_folding(app: faust.App, settings: Settings) -> Folder:
    source = app.topic(*topics.SOURCE_TOPICS, key_serializer="raw", value_serializer="raw")
    dead_letters = app.topic(topics.DEADLETTER, key_serializer="raw", value_serializer="raw")
    table = app.Table(
        snapshot.TABLE_NAME,
        default=None,
        partitions=settings.kafka.partitions,
        schema=faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"),
    )
    folder = Folder(table, dead_letters, settings)

    @app.agent(source, name="fold")
    async def fold(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(settings.worker.batch_max_events, settings.worker.batch_max_seconds):
            await folder.fold(batch)

    @app.timer(EXPIRY_INTERVAL_S)
    async def expire() -> None:
        folder.expire()

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: faust.App, revoked: set[TP], **_: Any) -> None:
        folder.forget({tp.partition for tp in revoked if tp.topic in topics.SOURCE_TOPICS})

    return folder
