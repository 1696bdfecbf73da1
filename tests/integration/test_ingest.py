"""The HTTP doors against a real cxpulse (embedded broker, worker, API): POST /v1/events, Twilio
TaskRouter callbacks and Amazon Connect contact events, read back from /v1/kpis."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlencode

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from streams import deadletter
from tests.events import at, contact_event
from tests.integration.stack import ARTIFACTS, Stack, eventually

pytestmark = pytest.mark.integration

TWILIO_TOKEN = "twilio-auth-token-for-tests"
PUBLIC_BASE = "https://cx.example.com"
TWILIO_PATH = "/v1/ingest/twilio/taskrouter"
CONNECT_QUEUE_ID = "8c3b9e1a-0000-4000-8000-000000000001"
MAX_BODY = 65536
TOKENS = {"wall": ("wall-token", None), "feeder": ("feeder-token", "[ingest]")}


@dataclass
class Running:
    stack: Stack

    async def post(self, path: str, token: str | None = "feeder-token", **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        async with httpx.AsyncClient(base_url=self.stack.api, timeout=30) as client:
            return await client.post(path, headers=headers, **kwargs)

    async def row(self, queue: str, channel: str = "voice") -> dict[str, Any] | None:
        async with httpx.AsyncClient(base_url=self.stack.api, timeout=30) as client:
            response = await client.get(
                "/v1/kpis", params={"queue": queue, "channel": channel, "window": "60m"},
                headers={"Authorization": "Bearer wall-token"},
            )  # fmt: skip
        if response.status_code == 503:  # not ready to serve yet
            return None
        items = response.json()["items"]
        return items[0] if items else None

    async def counted(self, queue: str, what: str, check: Any, channel: str = "voice") -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            row = await self.row(queue, channel)
            return row if row is not None and check(row) else None

        return await eventually(probe, 90, f"{what} in /v1/kpis for {queue}")


@pytest.fixture(scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    directory = tmp_path_factory.mktemp("ingest")
    tokens = directory / "tokens.yaml"
    lines = []
    for name, (token, scopes) in TOKENS.items():
        digest = hashlib.sha256(token.encode()).hexdigest()
        lines.append(f"{name}: {digest}" if scopes is None else f"{name}: {{sha256: {digest}, scopes: {scopes}}}")
    tokens.write_text("\n".join(lines) + "\n")
    config = directory / "cxpulse.yaml"
    config.write_text(
        f"api:\n  tokens_file: {tokens}\n  ingest:\n    max_batch: 50\n    max_body_bytes: {MAX_BODY}\n"
        f"    twilio:\n      auth_token: {TWILIO_TOKEN}\n      public_base_url: {PUBLIC_BASE}\n"
        f"    amazon_connect:\n      queue_names:\n        {CONNECT_QUEUE_ID}: connect-billing\n"
    )
    stack = Stack("ingest", config=config)
    await stack.start()
    yield Running(stack)
    await stack.stop()


def queue_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_a_batch_with_bad_items_publishes_the_good_ones_and_says_why_of_the_others(running: Running) -> None:
    queue = queue_name("http")
    now = time.time()
    batch = [
        contact_event("offered", "h1", now - 100, queue),
        contact_event("answered", "h1", now - 70, queue, wait_s=30),
        {"type": "contact.offered", "contact_id": "h2"},
        contact_event("offered", "h3", now - 50, queue),
        contact_event("abandoned", "h3", now - 10, queue, wait_s=40, time="yesterday"),
        "not an object",
        contact_event("abandoned", "h3", now - 10, queue, wait_s=40),
    ]
    response = await running.post("/v1/events", json=batch)
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"], body["skipped"]) == (4, 3, 0)
    assert [item["status"] for item in body["items"]] == [
        "accepted", "accepted", "rejected", "accepted", "rejected", "rejected", "accepted",
    ]  # fmt: skip
    assert body["items"][0]["event_id"] == batch[0]["event_id"]
    assert "event_id" in body["items"][2]["reason"]
    assert "time" in body["items"][4]["reason"]
    assert "not a JSON object" in body["items"][5]["reason"]
    # By hand: 2 offered; h1 answered after 30 s, h3 abandoned after 40 s.
    row = await running.counted(queue, "2 offered, 1 answered, 1 abandoned", lambda r: r["offered"] == 2 and r["abandoned"] == 1)
    assert (row["offered"], row["answered"], row["abandoned"], row["asa_s"], row["avg_abandon_wait_s"]) == (2, 1, 1, 30.0, 40.0)


async def test_a_batch_with_nothing_valid_is_a_422_with_the_same_per_item_answer(running: Running) -> None:
    response = await running.post("/v1/events", json=[{"type": "contact.offered"}, 7])
    assert response.status_code == 422
    assert [item["status"] for item in response.json()["items"]] == ["rejected", "rejected"]


async def test_scopes_decide_who_may_write_and_who_may_read(running: Running) -> None:
    event = contact_event("offered", "s1", time.time(), queue_name("scope"))
    assert (await running.post("/v1/events", token="wall-token", json=event)).status_code == 403
    assert (await running.post("/v1/events", token=None, json=event)).status_code == 401
    assert (await running.post("/v1/events", token="nobody", json=event)).status_code == 401
    by_key = await running.post("/v1/events", token=None, json=event, headers={"X-Api-Key": "feeder-token"})
    assert by_key.status_code == 202, by_key.text
    async with httpx.AsyncClient(base_url=running.stack.api, timeout=30) as client:
        reading = await client.get("/v1/kpis", headers={"Authorization": "Bearer feeder-token"})
    assert reading.status_code == 403
    assert "read scope" in reading.json()["detail"]


async def test_too_big_a_body_or_batch_is_a_413(running: Running) -> None:
    now = time.time()
    padding = "x" * 190
    events = [contact_event("offered", f"b{i}", now, queue_name("big"), agent_id=padding) for i in range(400)]
    assert len(json.dumps(events)) > MAX_BODY
    assert (await running.post("/v1/events", json=events)).status_code == 413
    small = [contact_event("offered", f"b{i}", now, queue_name("big")) for i in range(51)]
    assert len(json.dumps(small)) < MAX_BODY
    response = await running.post("/v1/events", json=small)
    assert response.status_code == 413 and "max_batch" in response.json()["detail"]


def twilio_form(event_type: str, task: str, queue: str, epoch_s: float, **fields: str) -> dict[str, str]:
    form = {
        "EventType": event_type, "Sid": f"EV{uuid.uuid4().hex}", "AccountSid": "AC" + "0" * 32,
        "WorkspaceSid": "WS" + "0" * 32, "ResourceType": "Task", "ResourceSid": task,
        "Timestamp": str(int(epoch_s)), "TimestampMs": str(round(epoch_s * 1000)),
        "TaskSid": task, "TaskQueueName": queue, "TaskQueueSid": "WQ" + "1" * 32, "TaskChannelUniqueName": "voice",
        "TaskAttributes": json.dumps({"from": f"+1415555{task[-4:]}"}),
    }  # fmt: skip
    form.update(fields)
    return form


def sign(form: dict[str, str], url: str = PUBLIC_BASE + TWILIO_PATH, token: str = TWILIO_TOKEN) -> str:
    """Twilio's algorithm, written out here: URL + sorted name/value pairs, HMAC-SHA1, base64."""
    text = url + "".join(name + form[name] for name in sorted(form))
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


async def send_twilio(running: Running, form: dict[str, str], signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return await running.post(TWILIO_PATH, token=None, content=urlencode(form), headers=headers)


async def dead_letters(bootstrap: str, source: str) -> list[tuple[dict[str, str], bytes]]:
    consumer = AIOKafkaConsumer("cx.deadletter", bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        found: list[tuple[dict[str, str], bytes]] = []
        batches = await consumer.getmany(timeout_ms=3000)
        for records in batches.values():
            for record in records:
                headers = deadletter.describe(record.headers)
                if headers.get(deadletter.SOURCE_TOPIC) == f"http:{source}":
                    found.append((headers, record.value or b""))
        return found
    finally:
        await consumer.stop()


async def test_twilio_callbacks_with_good_signatures_count_and_bad_ones_are_refused(running: Running) -> None:
    queue = queue_name("twilio")
    now = time.time()
    answered, canceled = "WT" + uuid.uuid4().hex, "WT" + uuid.uuid4().hex
    callbacks = [
        twilio_form("task.created", answered, queue, now - 60),
        twilio_form("task-queue.entered", answered, queue, now - 59.9),
        twilio_form("reservation.rejected", answered, queue, now - 55, ResourceType="Reservation", ReservationSid="WR1" + answered[2:],
                    WorkerSid="WK1"),
        twilio_form("reservation.accepted", answered, queue, now - 48, ResourceType="Reservation", ReservationSid="WR2" + answered[2:],
                    WorkerSid="WK2", TaskAge="12"),
        twilio_form("task.created", canceled, queue, now - 40),
        twilio_form("task.canceled", canceled, queue, now - 15, TaskAge="25", TaskCanceledReason="hangup"),
    ]  # fmt: skip
    statuses = []
    for form in callbacks:
        response = await send_twilio(running, form, sign(form))
        assert response.status_code == 200, response.text
        statuses.append(response.json()["items"][0]["status"])
    # The rejected reservation is WK1's missed offer; the accepted one the answer and WK2 on the call.
    assert statuses == ["accepted", "accepted", "accepted", "accepted", "accepted", "accepted"]
    forged = twilio_form("task.created", "WT" + uuid.uuid4().hex, queue, now)
    assert (await send_twilio(running, forged, sign(forged, token="not-the-token"))).status_code == 403
    assert (await send_twilio(running, forged, None)).status_code == 403
    assert (await send_twilio(running, forged, sign(forged, url="http://127.0.0.1" + TWILIO_PATH))).status_code == 403
    # By hand: two tasks offered once each (both offered callbacks of one task share an id), one
    # answered after 12 s, one abandoned after 25 s; the forged callbacks count nothing.
    row = await running.counted(queue, "2 offered, 1 answered, 1 abandoned", lambda r: r["answered"] == 1 and r["abandoned"] == 1)
    assert (row["offered"], row["answered"], row["abandoned"], row["asa_s"], row["avg_abandon_wait_s"]) == (2, 1, 1, 12.0, 25.0)


async def test_an_unmappable_twilio_callback_is_dead_lettered_with_its_reason(running: Running) -> None:
    form = twilio_form("task.created", "WT" + uuid.uuid4().hex, "", time.time(), TaskQueueSid="")
    response = await send_twilio(running, form, sign(form))
    assert response.status_code == 200
    assert response.json()["items"][0]["status"] == "rejected"
    letters = await dead_letters(running.stack.bootstrap, TWILIO_PATH)
    mine = [(headers, value) for headers, value in letters if form["TaskSid"].encode() in value]
    assert len(mine) == 1
    headers, value = mine[0]
    assert headers[deadletter.KIND] == "mapping" and "TaskQueueName" in headers[deadletter.REASON]
    assert value == urlencode(form).encode()


def connect_event(kind: str, contact: str, **detail: Any) -> dict[str, Any]:
    instance = "arn:aws:connect:eu-west-2:111122223333:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111"
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Amazon Connect Contact Event", "source": "aws.connect",
        "account": "111122223333", "time": at(time.time()), "region": "eu-west-2", "resources": [instance],
        "detail": {"eventType": kind, "contactId": contact, "channel": "VOICE", "instanceArn": instance,
                   "initiationMethod": "INBOUND", **detail},
    }  # fmt: skip


async def test_a_connect_sequence_is_counted_under_the_configured_queue_name(running: Running) -> None:
    now = time.time()
    arn = "arn:aws:connect:eu-west-2:111122223333:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111"
    queue = {"queueArn": f"{arn}/queue/{CONNECT_QUEUE_ID}", "enqueueTimestamp": at(now - 100)}
    agent = {"agentArn": f"{arn}/agent/agent-7", "connectedToAgentTimestamp": at(now - 85)}
    talked, left = str(uuid.uuid4()), str(uuid.uuid4())
    other_queue = {**queue, "enqueueTimestamp": at(now - 60)}
    sequence = [
        connect_event("INITIATED", talked),
        connect_event("QUEUED", talked, queueInfo=queue),
        connect_event("CONNECTED_TO_AGENT", talked, queueInfo=queue, agentInfo=agent),
        connect_event("DISCONNECTED", talked, queueInfo=queue, agentInfo=agent, disconnectTimestamp=at(now - 25)),
        connect_event("COMPLETED", talked, queueInfo=queue, agentInfo={**agent, "afterContactWorkEndTimestamp": at(now - 5), "afterContactWorkDuration": 20}, disconnectTimestamp=at(now - 25)),
        connect_event("QUEUED", left, queueInfo=other_queue),
        connect_event("DISCONNECTED", left, queueInfo=other_queue, disconnectTimestamp=at(now - 20)),
    ]  # fmt: skip
    statuses = []
    for event in sequence:  # an EventBridge API destination sends one event per request
        response = await running.post("/v1/ingest/amazon-connect", token=None, json=event, headers={"X-Api-Key": "feeder-token"})
        assert response.status_code == 200, response.text
        statuses.append(response.json()["items"][0]["status"])
    assert statuses == ["skipped", *["accepted"] * 6]
    refused = await running.post("/v1/ingest/amazon-connect", token=None, json=sequence[1], headers={"X-Api-Key": "wall-token"})
    assert refused.status_code == 403
    # By hand: 2 offered; one waited 15 s, talked 60 s, 20 s of after-contact work; one abandoned after 40 s.
    row = await running.counted(
        "connect-billing", "the Connect contacts", lambda r: r["handled"] >= 1 and r["abandoned"] >= 1
    )
    assert (row["offered"], row["answered"], row["abandoned"], row["handled"]) == (2, 1, 1, 1)
    assert (row["asa_s"], row["avg_abandon_wait_s"], row["aht_s"]) == (15.0, 40.0, 80.0)


async def test_ingest_counts_are_exported(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.stack.api, timeout=30) as client:
        await running.post("/v1/events", json={"type": "nothing"})
        text = (await client.get("/metrics")).text
    assert 'cxpulse_ingest_events_rejected_total{reason="schema",source="events"}' in text
    assert 'cxpulse_ingest_events_accepted_total{source="events"}' in text
    assert 'cxpulse_ingest_broker_seconds_bucket{le="0.1",source="events"}' in text


async def test_no_generated_ingest_request_gets_a_server_error(running: Running) -> None:
    """Schemathesis from the OpenAPI schema, with an ingest token (Twilio's route needs a signature
    no generator can make, so it is left to the signature tests)."""
    st = Path(sys.executable).with_name("st")
    report = ARTIFACTS / "schemathesis-ingest.txt"
    result = subprocess.run(
        [
            str(st), "run", f"{running.stack.api}/openapi.json",
            "--checks", "not_a_server_error",
            "--include-path-regex", "^/v1/(events|ingest/amazon-connect)$",
            "--header", "Authorization: Bearer feeder-token",
            "--max-examples", "60",
            "--seed", "1",
        ],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"schemathesis found problems; see {report}:\n{result.stdout[-3000:]}"
    assert "No issues found" in result.stdout
