"""Puts contract events on their topics with the contract's record key."""

from __future__ import annotations

import json
from typing import Any, Iterable

from aiokafka import AIOKafkaProducer

from streams import topics
from streams.contract import SURVEY_TYPE, record_key


def topic_of(event: dict[str, Any]) -> str:
    if event["type"] == SURVEY_TYPE:
        return topics.SURVEYS
    return topics.topic_for_channel(event["channel"])


class Publisher:
    """An aiokafka producer with batching settings that suit a stream of small JSON events."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024, acks="all"
        )

    async def __aenter__(self) -> Publisher:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def publish(self, events: Iterable[dict[str, Any]]) -> int:
        """Queue the events, then wait until the broker has them all."""
        return sum((await self.publish_tracked(events)).values())

    async def publish_tracked(self, events: Iterable[dict[str, Any]]) -> dict[tuple[str, int], int]:
        """Like publish; returns how many records went to each (topic, partition), from the broker's
        own acknowledgements, so a caller can wait until exactly those are counted."""
        futures = [
            await self._producer.send(topic_of(event), json.dumps(event).encode(), key=record_key(event))
            for event in events
        ]
        sent: dict[tuple[str, int], int] = {}
        for future in futures:
            metadata = await future
            where = (metadata.topic, metadata.partition)
            sent[where] = max(sent.get(where, 0), metadata.offset + 1)
        return sent
