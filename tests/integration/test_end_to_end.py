"""From events on Kafka (a plain aiokafka producer) to numbers at /v1/kpis and /metrics."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from adapters.publisher import Publisher
from streams import deadletter
from tests.events import contact_event
from tests.integration.stack import Stack, eventually, produce

pytestmark = pytest.mark.integration



def as_records(events: list[dict[str, Any]]) -> list[tuple[str, bytes | None, bytes]]:
    return [("cx.calls", (e["customer_id"] or e["contact_id"]).encode(), json.dumps(e).encode()) for e in events]


async def kpi_row(stack: Stack, queue: str) -> dict[str, Any] | None:
    body = (await stack.get(f"/v1/kpis?queue={queue}&channel=voice")).json()
    return body["items"][0] if body["items"] else None


async def test_counts_and_ratios_match_a_hand_calculation(stack: Stack) -> None:
    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    now = time.time()
    events = [
        # c1: offered, answered after 30 s (derived from the offered time)
        contact_event("offered", "c1", now - 120, queue),
        contact_event("answered", "c1", now - 90, queue),
        # c2: answered with an explicit wait of 10 s
        contact_event("offered", "c2", now - 100, queue),
        contact_event("answered", "c2", now - 90, queue, wait_s=10),
        # c3: abandoned after 45 s
        contact_event("offered", "c3", now - 80, queue),
        contact_event("abandoned", "c3", now - 35, queue, wait_s=45),
        # c4: still waiting
        contact_event("offered", "c4", now - 10, queue),
    ]
    await produce(stack.bootstrap, as_records(events))

    async def counted() -> dict[str, Any] | None:
        row = await kpi_row(stack, queue)
        return row if row and row["offered"] == 4 and row["answered"] + row["abandoned"] == 3 else None

    row = await eventually(counted, 90, f"all events of {queue} counted")
    # Worked out by hand: 4 offered, 2 answered, 1 abandoned; abandon rate 1/3; ASA (30 + 10) / 2.
    assert (row["offered"], row["answered"], row["abandoned"]) == (4, 2, 1)
    assert row["abandon_rate"] == pytest.approx(1 / 3)
    assert row["asa_s"] == pytest.approx(20.0)
    assert row["max_wait_s"] == pytest.approx(45.0)
    body = (await stack.get(f"/v1/kpis?queue={queue}")).json()
    assert body["as_of"].endswith("Z")
    assert {item["channel"] for item in body["items"]} == {"voice", "*"}

    metrics = (await stack.get("/metrics")).text
    labels = f'channel="voice",queue="{queue}",window="15m"'
    assert f"cxpulse_window_offered_contacts{{{labels}}} 4.0" in metrics
    assert f"cxpulse_window_abandon_ratio{{{labels}}} 0.3333333333333333" in metrics
    assert f"cxpulse_window_asa_seconds{{{labels}}} 20.0" in metrics


async def test_malformed_event_is_dead_lettered_and_counting_goes_on(stack: Stack) -> None:
    queue = f"dlq-{uuid.uuid4().hex[:8]}"
    now = time.time()
    malformed = b'{"event_id": "broken", "type": "contact.offered", "time": "yesterday"'
    bad_schema = json.dumps(contact_event("offered", "x1", now, queue, wait_s="long")).encode()
    good = contact_event("offered", "g1", now - 5, queue)
    await produce(stack.bootstrap, [("cx.calls", b"k-bad", malformed), ("cx.calls", b"k-bad", bad_schema), *as_records([good])])

    async def good_counted() -> dict[str, Any] | None:
        row = await kpi_row(stack, queue)
        return row if row and row["offered"] == 1 else None

    await eventually(good_counted, 90, "the good event after the malformed ones counted")

    consumer = AIOKafkaConsumer("cx.deadletter", bootstrap_servers=stack.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        letters: dict[bytes, dict[str, str]] = {}

        async def both_letters() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    letters[record.value] = deadletter.describe(record.headers)
            return malformed in letters and bad_schema in letters

        await eventually(both_letters, 60, "both malformed records in cx.deadletter")
    finally:
        await consumer.stop()
    assert letters[malformed][deadletter.KIND] == "not_json"
    assert letters[malformed][deadletter.SOURCE_TOPIC] == "cx.calls"
    assert int(letters[malformed][deadletter.SOURCE_OFFSET]) >= 0
    assert letters[bad_schema][deadletter.KIND] == "schema"
    assert "wait_s" in letters[bad_schema][deadletter.REASON]

    async with __import__("httpx").AsyncClient() as client:
        worker_metrics = (await client.get(stack.worker_metrics)).text
    assert 'cxpulse_events_deadlettered_total{reason="not_json",topic="cx.calls"}' in worker_metrics


async def test_batched_records_count_every_event_and_dead_letter_a_bad_one_alone(stack: Stack) -> None:
    queue = f"batch-{uuid.uuid4().hex[:8]}"
    now = time.time()
    # 30 contacts, each offered then answered after 10 s, published 7 events to a record.
    events = [
        event
        for n in range(30)
        for event in (
            contact_event("offered", f"{queue}-c{n}", now - 60, queue),
            contact_event("answered", f"{queue}-c{n}", now - 50, queue),
        )
    ]
    async with Publisher(stack.bootstrap, events_per_record=7) as publisher:
        assert await publisher.publish(events) == 60
    # One record by hand: a good offer, an event breaking the schema, a good abandon after 45 s.
    bad = contact_event("offered", f"{queue}-bad", now, queue, wait_s="long")
    mixed = [
        contact_event("offered", f"{queue}-m", now - 50, queue),
        bad,
        contact_event("abandoned", f"{queue}-m", now - 5, queue),
    ]
    await produce(stack.bootstrap, [("cx.calls", f"{queue}-m".encode(), json.dumps(mixed).encode())])

    async def counted() -> dict[str, Any] | None:
        row = await kpi_row(stack, queue)
        return row if row and row["offered"] == 31 and row["abandoned"] == 1 else None

    row = await eventually(counted, 90, "31 offers and one abandon from batched records")
    assert row["answered"] == 30 and row["asa_s"] == 10.0 and row["abandon_rate"] == 1 / 31

    consumer = AIOKafkaConsumer("cx.deadletter", bootstrap_servers=stack.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        found: list[tuple[bytes, dict[str, str]]] = []

        async def letter() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend((r.value, deadletter.describe(r.headers)) for r in records if r.value and queue.encode() in r.value)
            return bool(found)

        await eventually(letter, 60, "the bad event of the batched record in cx.deadletter")
    finally:
        await consumer.stop()
    [(value, headers)] = found
    assert json.loads(value) == bad
    assert headers[deadletter.KIND] == "schema" and headers[deadletter.SOURCE_INDEX] == "1"
    assert headers[deadletter.REASON].startswith("array element 1: schema:")


async def test_health_and_readiness(stack: Stack) -> None:
    assert (await stack.get("/healthz")).json() == {"status": "ok"}
    ready = await stack.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_bad_request_gets_a_422_naming_the_parameter(stack: Stack) -> None:
    response = await stack.get("/v1/kpis?window=7m")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "window"]
