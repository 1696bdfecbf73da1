"""``cxpulse sentiment``: the consumer that scores customers' chat messages (and survey comments) and
publishes each score as a chat.sentiment event on cx.chats, for the worker to fold.

Why a consumer of its own, beside the worker: scoring text costs far more per event than folding
one, and the worker's fold is what keeps queue KPIs fresh; a separate process (and consumer
group) keeps that cost off the worker's budget, scales on its own, and may fall behind without
holding any queue KPI back.

Delivery: at least once. A fetch's scores are published, the broker's acknowledgements awaited,
and only then the fetch's offsets committed; a crash in between scores the same messages again
after a restart, and since a score's event id is derived from its message's, the worker counts
each once. Each score goes to the partition its message came from, with the message's key, so it
meets its contact's events in one partition state.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Final, get_args

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError
from prometheus_client import Counter, Gauge

from service.membership import sentiment_client_id, sentiment_group
from streams import topics
from streams.contract import CHAT_MESSAGE, SURVEY_TYPE
from streams.sentiment_scoring import SKIP_REASONS, Label, Scorer

log = logging.getLogger("cxpulse.sentiment")

SCORED: Final = Counter(
    "cxpulse_sentiment_scored_total",
    "Customers' chat messages and survey comments scored and published as chat.sentiment, by what was scored and label.",
    ["scored_type", "label"],
)
SKIPPED: Final = Counter(
    "cxpulse_sentiment_skipped_total",
    "Chat messages or survey records not scored, by reason: agent (an agent's message), empty (no text), "
    "invalid (not valid under the contract: the worker dead-letters it).",
    ["reason"],
)
LAG: Final = Gauge(
    "cxpulse_sentiment_lag_records",
    "Records of the topic not yet read by the scorer (end offset minus position), summed over its partitions.",
    ["topic"],
)
COMMIT_FAILURES: Final = Counter(
    "cxpulse_sentiment_commit_failures_total",
    "Commits refused (the group rebalanced meanwhile): the new owner scores those records again, counted once.",
)
FETCH_WAIT_MS: Final = 500
INPUT_TOPICS: Final = (topics.CHATS, topics.SURVEYS)


def initialise() -> None:
    """Every series at zero from the start, so the first skip is an increase that rules can see."""
    for reason in SKIP_REASONS:
        SKIPPED.labels(reason)
    for scored_type in (CHAT_MESSAGE, SURVEY_TYPE):
        for label in get_args(Label):
            SCORED.labels(scored_type, label)
    for topic in INPUT_TOPICS:
        LAG.labels(topic)


class SentimentConsumer:
    """One scorer process: a consumer in the scorer's group and an idempotent-enough producer (the
    event ids make redelivery harmless)."""

    def __init__(self, bootstrap: str, app_id: str, survey_comments: bool, max_records: int, session_timeout_s: float) -> None:
        self._scorer = Scorer(survey_comments)
        self._max_records = max_records
        wanted = INPUT_TOPICS if survey_comments else (topics.CHATS,)
        self._consumer = AIOKafkaConsumer(
            *wanted, bootstrap_servers=bootstrap, group_id=sentiment_group(app_id),
            client_id=sentiment_client_id(app_id, os.getpid()),
            enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=FETCH_WAIT_MS,
            session_timeout_ms=int(session_timeout_s * 1000), heartbeat_interval_ms=int(session_timeout_s * 1000 / 3),
        )  # fmt: skip
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=1 << 20)

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            while not stop.is_set():
                await self.step()
        finally:
            await self.stop()

    async def start(self) -> None:
        await self._producer.start()
        await self._consumer.start()

    async def stop(self) -> None:
        """Leaves the group; nothing is pending, since each step waits for its acknowledgements."""
        await self._consumer.stop()
        await self._producer.stop()

    async def step(self) -> int:
        """Score one fetch, publish its scores, wait for the broker, commit; returns the scores published."""
        batches = await self._consumer.getmany(timeout_ms=FETCH_WAIT_MS, max_records=self._max_records)
        pending = []
        offsets: dict[TopicPartition, int] = {}
        for tp, records in batches.items():
            for record in records:
                scored = self._scorer.record(record.value, tp.topic)
                for reason in scored.skipped:
                    SKIPPED.labels(reason).inc()
                for event in scored.events:
                    pending.append(await self._producer.send(
                        topics.CHATS, orjson.dumps(event), key=record.key, partition=tp.partition
                    ))  # fmt: skip
                    SCORED.labels(event["scored_type"], event["label"]).inc()
            offsets[tp] = records[-1].offset + 1
        for future in pending:
            await future
        if offsets:
            try:
                await self._consumer.commit(offsets)
            except CommitFailedError as exc:
                COMMIT_FAILURES.inc()
                log.warning("commit refused after a rebalance; the new owner scores again", extra={"error": repr(exc)})
        await self._note_lag()
        return len(pending)

    async def _note_lag(self) -> None:
        """From the end offsets the last fetches reported: no request of its own."""
        behind = dict.fromkeys(INPUT_TOPICS, 0)
        for tp in self._consumer.assignment():
            end = self._consumer.highwater(tp)
            if end is not None:
                behind[tp.topic] += max(0, end - await self._consumer.position(tp))
        for topic, records in behind.items():
            LAG.labels(topic).set(records)
