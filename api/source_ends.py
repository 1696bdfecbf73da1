"""The source topics' end offsets, asked from the broker with a deadline.

A frozen or unreachable broker must not hold up the status path: without a deadline a request
waited for aiokafka's 40 s request timeout and then failed with a 500. Here every caller waits at
most ``timeout_s`` for one shared query (callers during an outage do not pile up requests on the
broker), and the answer says what is known instead: the last end offsets the broker gave, and since
when it has not answered. That broker silence also lets the API call its numbers stale sooner
(``SnapshotReader.stale``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streams import topics

log = logging.getLogger("cxpulse.api.source_ends")

Ends = dict[tuple[str, int], int]


@dataclass(frozen=True, slots=True)
class Outage:
    """Why and since when (wall clock) the broker has not answered; kept until it answers again."""

    since: float
    error: str


class SourceEnds:
    """One aiokafka client for end offsets, created lazily (and again after a failure, since a
    client whose bootstrap failed cannot be restarted)."""

    def __init__(self, bootstrap: str, timeout_s: float) -> None:
        self._bootstrap = bootstrap
        self.timeout_s = timeout_s
        self._client: AIOKafkaConsumer | None = None
        self._query: asyncio.Task[Ends] | None = None
        self.known: Ends = {}
        self.known_at: float | None = None
        self.outage: Outage | None = None

    async def fetch(self) -> Ends | None:
        """Fresh end offsets, or None when the broker did not answer within ``timeout_s`` (then
        ``outage`` says why and since when, and ``known`` holds the last answer)."""
        if self._query is None or self._query.done():
            self._query = asyncio.create_task(self._ask(), name="source-end-offsets")
            self._query.add_done_callback(_consume_failure)
        try:
            ends = await asyncio.wait_for(asyncio.shield(self._query), self.timeout_s)
        except TimeoutError:
            self._fail(f"no answer within {self.timeout_s:g} s")
            return None
        except (KafkaError, OSError) as exc:
            self._fail(repr(exc))
            return None
        self.known, self.known_at = ends, time.time()
        if self.outage is not None:
            log.info("broker answers again", extra={"unreachable_s": round(time.time() - self.outage.since, 1)})
        self.outage = None
        return ends

    def _fail(self, error: str) -> None:
        if self.outage is None:
            log.warning("broker not answering", extra={"error": error})
            self.outage = Outage(time.time(), error)

    async def _ask(self) -> Ends:
        try:
            if self._client is None:
                self._client = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
                await self._client.start()
            available = await self._client.topics()
            partitions = [
                TopicPartition(topic, p)
                for topic in topics.FOLDED_TOPICS
                if topic in available
                for p in sorted(self._client.partitions_for_topic(topic) or ())
            ]
            ends = await self._client.end_offsets(partitions)
        except (KafkaError, OSError):
            await self._close_client()
            raise
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.stop()

    async def stop(self) -> None:
        if self._query is not None:
            self._query.cancel()
            await asyncio.gather(self._query, return_exceptions=True)
        await self._close_client()


def _consume_failure(task: asyncio.Task[Ends]) -> None:
    """A query that fails after every caller gave up on it would log "exception never retrieved"."""
    if not task.cancelled():
        task.exception()
