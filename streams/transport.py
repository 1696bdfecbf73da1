"""Faust's Kafka transport, with source records handed to the fold a fetch at a time.

Faust delivers every record through its stream machinery: a message object, a callback wrapped in
``wait_first`` (four futures and an ``asyncio.wait`` per record), channel queues, an event object and
acknowledgement tracking. Measured on a 2-core machine, that path alone caps a worker near 30,000
records/s before any KPI work, and real platforms send one event per record. So records of the source
topics skip it: the consumer's fetch loop passes each fetch, as aiokafka returned it, to the fold, and
the fold commits what it processed (``commit_processed``). Faust still owns everything around that:
group membership and rebalances, pausing partitions while tables recover, flow control, the state
table and its changelog; records of any other topic take Faust's usual path.

One consumer setting Faust fixes itself is made configurable too: how long a fetch may wait for new
records. Faust builds the worker's consumer with ``fetch_max_wait_ms=1500``. A broker that answers a
waiting fetch only when the wait is over, not when records arrive (the embedded broker does: measured
here, a record waited a quarter to a half of the setting), adds that to every event's way to a
wallboard. Kafka answers as soon as records arrive, so a short wait costs it only empty fetches while
idle.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Mapping, Sequence, cast

import faust
from aiokafka import ConsumerRecord
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport
from faust.types import TP, TransportT
from mode import Service, ServiceT

log = logging.getLogger("cxpulse.worker")

Fetch = Mapping[TP, Sequence[ConsumerRecord]]
FetchHandler = Callable[[Fetch], Awaitable[None]]
FETCH_TIMEOUT_S = 1.0


def _transport(fetch_max_wait_ms: int) -> type[Transport]:
    class _ConsumerThread(AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Transport) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms  # aiokafka reads it in start(), building its fetcher
            return consumer

    class _Consumer(FetchingConsumer):
        def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
            return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class _Transport(Transport):
        Consumer = _Consumer

    return _Transport


class FetchingConsumer(Consumer):
    """Faust's aiokafka consumer whose fetch loop hands source-topic fetches to ``WorkerApp.on_fetch``.

    The loop is Faust's ``_drain_messages`` reduced to what the fold needs: wait while flow is stopped
    (rebalancing), fetch from the active (not paused) partitions, and drop a fetch made while the flow
    stopped or under an earlier consumer generation (its partitions may belong to another worker now;
    whoever owns them reads them again from the committed offsets)."""

    app: WorkerApp

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set  # type: ignore[attr-defined]  # mode's Service has it
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                generation = self.app.consumer_generation_id
                records, active = await self._wait_next_records(FETCH_TIMEOUT_S)
                await asyncio.sleep(0)  # as Faust does: a fetch that returns at once must not starve the loop
                if not records or self.should_stop:
                    continue
                if not self.flow_active or self.app.consumer_generation_id != generation:
                    await self._drop(records)
                    continue
                sources: dict[TP, Sequence[ConsumerRecord]] = {}
                for tp, batch in records.items():
                    if active is not None and tp not in active and tp not in self._buffered_partitions:
                        continue
                    if tp.topic in self.app.fetched_topics:
                        sources[tp] = batch
                    else:
                        await self._deliver(tp, batch)
                if sources:
                    await self.app.on_fetch(sources)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise

    async def _drop(self, records: Fetch) -> None:
        """A fetch made while a rebalance stops the flow, or under an earlier generation, is not folded:
        its partitions may be another worker's now. The consumer's positions are already past it, so
        they go back to the committed offsets (as Faust's own fetch loop does), or a partition kept
        through the rebalance would skip these records."""
        log.info("fetch dropped: the assignment changed while it was made",
                 extra={"records": sum(len(batch) for batch in records.values())})
        try:
            await self.perform_seek()
        except Exception as exc:  # noqa: BLE001  # Faust's own loop logs and goes on: the next rebalance seeks again
            log.warning("seek to committed offsets failed after dropping a fetch", extra={"error": repr(exc)})

    async def _deliver(self, tp: TP, batch: Sequence[ConsumerRecord]) -> None:
        """Faust's own path, record by record, for topics the fold does not read: the state table's
        changelog while the table recovers from it."""
        service = cast(Service, self)  # Faust's Consumer is a mode Service; its stub hides it
        for record in batch:
            await service.wait_first(self.callback(self._to_message(tp, record)), self.suspend_flow.wait())

    async def commit_processed(self, offsets: Mapping[TP, int]) -> bool:
        """Commit the next offset to read for each partition (the fold's own progress, not Faust's acks)."""
        return await self._commit(offsets)


async def _no_handler(fetch: Fetch) -> None:
    raise RuntimeError("WorkerApp.fetched_topics is set but on_fetch was not")


class WorkerApp(faust.App):
    """A Faust app whose consumer uses ``fetch_max_wait_ms`` and hands fetches of ``fetched_topics`` to
    ``on_fetch`` (both set before the worker starts)."""

    fetch_max_wait_ms = 1500
    fetched_topics: frozenset[str] = frozenset()
    on_fetch: FetchHandler = staticmethod(_no_handler)

    @property
    def fetching_consumer(self) -> FetchingConsumer:
        return cast(FetchingConsumer, self.consumer)  # the transport above builds only this kind

    def _new_transport(self) -> TransportT:
        return _transport(self.fetch_max_wait_ms)(self.conf.broker_consumer, self)
