"""Faust's Kafka transport with the one consumer setting Faust fixes itself: how long a fetch may
wait for new records.

Faust builds the worker's consumer with ``fetch_max_wait_ms=1500``. A broker that answers a waiting
fetch only when the wait is over, not when records arrive (the embedded broker does: measured here,
a record waited a quarter to a half of the setting), adds that to every event's way to a wallboard.
Kafka answers as soon as records arrive, so a short wait costs it only empty fetches while idle.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport
from faust.types import TransportT


def _transport(fetch_max_wait_ms: int) -> type[Transport]:
    class _ConsumerThread(AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Transport) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms  # aiokafka reads it in start(), building its fetcher
            return consumer

    class _Consumer(Consumer):
        def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
            return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class _Transport(Transport):
        Consumer = _Consumer

    return _Transport


class WorkerApp(faust.App):
    """A Faust app whose consumer uses ``fetch_max_wait_ms`` (set before anything uses the transport)."""

    fetch_max_wait_ms = 1500

    def _new_transport(self) -> TransportT:
        return _transport(self.fetch_max_wait_ms)(self.conf.broker_consumer, self)
