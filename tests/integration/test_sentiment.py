"""Sentiment on a real stack (`cxpulse run`: broker, worker, scorer, API): customers' chat messages and
a survey comment published on Kafka, their chat.sentiment scores on cx.chats, and the KPIs at
/v1/kpis worked out from the scores found on the topic; a whole second scoring of the topic (what a
scorer that lost its commits does) counts nothing twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from streams import topics
from streams.sentiment import SentimentConsumer
from tests.events import at, contact_event
from tests.integration.stack import Stack, alive, descendants, eventually, produce

pytestmark = pytest.mark.integration


def message(n: int, contact: str, customer: str, queue: str, epoch_s: float, text: str, sender: str = "customer") -> dict[str, Any]:
    return {"event_id": f"{queue}-m{n}", "type": "chat.message", "time": at(epoch_s), "contact_id": contact,
            "customer_id": customer, "queue": queue, "channel": "chat", "sender": sender, "text": text}  # fmt: skip


class Scores:
    """Every chat.sentiment on cx.chats, read from the start (no group), by the event it scored."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = AIOKafkaConsumer(topics.CHATS, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        self.found: dict[str, list[tuple[dict[str, Any], bytes | None, int]]] = {}

    async def __aenter__(self) -> Scores:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def of(self, event_ids: set[str], copies: int = 1) -> dict[str, list[tuple[dict[str, Any], bytes | None, int]]]:
        async def read() -> bool:
            for tp, records in (await self._consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    event = json.loads(record.value)
                    if isinstance(event, dict) and event.get("type") == "chat.sentiment":
                        self.found.setdefault(event["message_event_id"], []).append((event, record.key, tp.partition))
            return all(len(self.found.get(i, [])) >= copies for i in event_ids)

        await eventually(read, 90, f"{copies} chat.sentiment for each of {sorted(event_ids)}")
        return {i: self.found[i] for i in event_ids}


async def partition_of(bootstrap: str, topic: str, key: bytes, value: bytes) -> int:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        async def found() -> int | None:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                if any(r.key == key and r.value == value for r in records):
                    return tp.partition + 1  # 0 would read as "not yet"
            return None

        return await eventually(found, 60, f"the record keyed {key!r} on {topic}") - 1
    finally:
        await consumer.stop()


async def row(stack: Stack, queue: str) -> dict[str, Any] | None:
    body = (await stack.get(f"/v1/kpis?queue={queue}&channel=chat")).json()
    return body["items"][0] if body["items"] else None


async def counted(stack: Stack, queue: str, messages: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = await row(stack, queue)
        return found if found and found["messages_scored"] == messages else None

    return await eventually(probe, 90, f"{messages} messages scored in {queue}")


async def test_messages_and_a_comment_are_scored_published_and_served_once_each(stack: Stack) -> None:
    queue = f"sent-{uuid.uuid4().hex[:8]}"
    now = time.time()
    customer = f"cust-{queue}"
    offered = contact_event("offered", f"{queue}-c1", now - 60, queue, "chat", customer_id=customer)
    texts = [
        message(1, f"{queue}-c1", customer, queue, now - 50, "Thanks, that fixed it. Great help!"),
        message(2, f"{queue}-c1", customer, queue, now - 40, "This is terrible, I have waited an hour and I am furious."),
        message(3, f"{queue}-c1", customer, queue, now - 30, "Can you tell me when the parcel arrives?"),
        message(4, f"{queue}-c1", customer, queue, now - 35, "Sorry for the wait, awful day here.", sender="agent"),
    ]
    survey = {"event_id": f"{queue}-s1", "type": "survey.submitted", "time": at(now - 20), "contact_id": f"{queue}-c1",
              "customer_id": customer, "csat": 2, "comment": "The agent was rude and unhelpful."}  # fmt: skip
    key = customer.encode()
    await produce(stack.bootstrap, [(topics.CHATS, key, json.dumps(e).encode()) for e in (offered, *texts)])
    await produce(stack.bootstrap, [(topics.SURVEYS, key, json.dumps(survey).encode())])

    scored_ids = {texts[0]["event_id"], texts[1]["event_id"], texts[2]["event_id"], survey["event_id"]}
    async with Scores(stack.bootstrap) as scores:
        found = await scores.of(scored_ids)
    message_partition = await partition_of(stack.bootstrap, topics.CHATS, key, json.dumps(texts[0]).encode())
    assert texts[3]["event_id"] not in scores.found  # an agent's message is not scored
    events = [copies[0][0] for copies in found.values()]
    assert {(k, p) for copies in found.values() for _, k, p in copies} == {(key, message_partition)}
    for event in events:
        assert event["label"] == ("positive" if event["score"] >= 0.05 else "negative" if event["score"] <= -0.05 else "neutral")
    assert found[texts[0]["event_id"]][0][0]["label"] == "positive"
    assert found[texts[1]["event_id"]][0][0]["label"] == "negative"
    assert found[survey["event_id"]][0][0]["label"] == "negative"

    served = await counted(stack, queue, 4)
    scores_found = [event["score"] for event in events]
    assert served["sentiment_mean"] == pytest.approx(sum(scores_found) / 4)
    negatives = sum(1 for event in events if event["label"] == "negative")
    assert served["sentiment_negative_share"] == pytest.approx(negatives / 4)
    assert served["offered"] == 1

    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"http://127.0.0.1:{stack.sentiment_metrics_port}/metrics")).text
    assert 'cxpulse_sentiment_scored_total{label="positive",scored_type="chat.message"}' in metrics
    assert 'cxpulse_sentiment_skipped_total{reason="agent"}' in metrics
    assert "cxpulse_sentiment_lag_records" in metrics

    # A scorer that lost its commits reads the topics again from the start and publishes every score
    # again, with the same event ids; then one new message, after those copies on the same partition.
    rescoring = SentimentConsumer(stack.bootstrap, f"redelivery-{queue}", True, 500, 10.0)
    stop = asyncio.Event()
    task = asyncio.create_task(rescoring.run(stop))
    try:
        async with Scores(stack.bootstrap) as scores:
            await scores.of(scored_ids, copies=2)
    finally:
        stop.set()
        await task
    late = message(5, f"{queue}-c1", customer, queue, now - 10, "Thank you, wonderful!")
    await produce(stack.bootstrap, [(topics.CHATS, key, json.dumps(late).encode())])
    async with Scores(stack.bootstrap) as scores:
        [(last, _, _)] = (await scores.of({late["event_id"]}))[late["event_id"]]
    served = await counted(stack, queue, 5)
    assert served["sentiment_mean"] == pytest.approx((sum(scores_found) + last["score"]) / 5)


async def test_a_restarted_run_resumes_scoring_where_it_stopped() -> None:
    """The journal keeps the scorer group's commits like the worker's: after a restart on the same data
    directory the scorer goes on from there, instead of scoring the whole topic again (whose old
    scores would then be late, dead letters for the worker)."""
    first = Stack("sentiment-restart")
    queue = f"restart-{uuid.uuid4().hex[:8]}"
    customer = f"cust-{queue}"
    now = time.time()
    before = message(1, f"{queue}-c1", customer, queue, now - 30, "Brilliant, thank you!")
    after = message(2, f"{queue}-c1", customer, queue, now - 20, "Hm, still broken, this is bad.")
    await first.start()
    try:
        await produce(first.bootstrap, [(topics.CHATS, customer.encode(), json.dumps(before).encode())])
        async with Scores(first.bootstrap) as scores:
            await scores.of({before["event_id"]})
        await counted(first, queue, 1)
    finally:
        await first.stop()
    groups = json.loads((first.data_dir / "journal" / "groups.json").read_text())
    assert "cxpulse-sentiment-restart-sentiment" in groups, groups
    second = Stack("sentiment-restart", data_dir=first.data_dir)
    await second.start()
    try:
        await produce(second.bootstrap, [(topics.CHATS, customer.encode(), json.dumps(after).encode())])
        async with Scores(second.bootstrap) as scores:
            found = await scores.of({before["event_id"], after["event_id"]})
        assert len(found[before["event_id"]]) == 1, "the message scored before the restart was scored again"
        await counted(second, queue, 2)
    finally:
        await second.stop()


def scorer_pid(stack: Stack) -> int | None:
    assert stack.process is not None
    for pid in descendants(stack.process.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"service.cli" in argv and b"sentiment" in argv and alive(pid):
            return pid
    return None


async def test_a_killed_scorer_is_restarted_and_scores_what_came_meanwhile(stack: Stack) -> None:
    queue = f"killed-{uuid.uuid4().hex[:8]}"
    customer = f"cust-{queue}"
    killed = scorer_pid(stack)
    assert killed is not None, "no sentiment scorer under cxpulse run"
    os.kill(killed, signal.SIGKILL)
    texts = [message(n, f"{queue}-c1", customer, queue, time.time() - 30 + n, "Great, thanks!") for n in range(3)]
    await produce(stack.bootstrap, [(topics.CHATS, customer.encode(), json.dumps(e).encode()) for e in texts])

    async def restarted() -> int | None:
        pid = scorer_pid(stack)
        return pid if pid not in (None, killed) else None

    await eventually(restarted, 60, "cxpulse run to start a new scorer")
    async with Scores(stack.bootstrap) as scores:
        await scores.of({e["event_id"] for e in texts})
    offered = contact_event("offered", f"{queue}-c1", time.time() - 40, queue, "chat", customer_id=customer)
    await produce(stack.bootstrap, [(topics.CHATS, customer.encode(), json.dumps(offered).encode())])
    served = await counted(stack, queue, 3)
    assert served["sentiment_negative_share"] == 0.0
