"""An ingest-only API process (api.role ingest) on its own broker: it takes events and serves no KPIs;
when the broker stops acknowledging, a POST gets a 503 and nothing is claimed accepted."""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
from pathlib import Path
from typing import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from service.broker import broker_command, wait_for_port
from tests.events import contact_event
from tests.integration.stack import ARTIFACTS, cxpulse_environment, eventually, free_port

pytestmark = pytest.mark.integration

TOKEN = "ingest-role-token"
ACK_TIMEOUT_S = 3


@pytest.fixture
async def broker() -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(*broker_command("127.0.0.1", port), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    await wait_for_port("127.0.0.1", port, 30)
    yield process, port
    if process.returncode is None:
        process.terminate()
        await process.wait()


async def test_an_ingest_only_api_publishes_serves_no_kpis_and_answers_503_without_a_broker(
    broker: tuple[asyncio.subprocess.Process, int], tmp_path: Path
) -> None:
    broker_process, broker_port = broker
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(f"feeder: {{sha256: {hashlib.sha256(TOKEN.encode()).hexdigest()}, scopes: [ingest]}}\n")
    api_port = free_port()
    env = cxpulse_environment(
        CXPULSE_BROKER=f"127.0.0.1:{broker_port}", CXPULSE_API__PORT=str(api_port), CXPULSE_API__ROLE="ingest",
        CXPULSE_API__TOKENS_FILE=str(tokens), CXPULSE_API__INGEST__ACK_TIMEOUT_SECONDS=str(ACK_TIMEOUT_S),
    )  # fmt: skip
    topics = await asyncio.create_subprocess_exec(sys.executable, "-m", "service.cli", "topics", env=env)
    assert await topics.wait() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "ingest-role.log", "wb") as log:
        api = await asyncio.create_subprocess_exec(sys.executable, "-m", "service.cli", "api", env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{api_port}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:

            async def ready() -> bool:
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, 60, "the ingest-only API to be ready")
            assert (await client.get("/v1/kpis")).status_code == 404
            event = contact_event("offered", "r1", time.time(), "role-queue")
            accepted = await client.post("/v1/events", json=event, headers=headers)
            assert accepted.status_code == 202, accepted.text
            assert await published_values(broker_port) == [f'[{{"event_id":"{event["event_id"]}"'.encode()]

            broker_process.terminate()
            await broker_process.wait()
            started = time.monotonic()
            refused = await client.post("/v1/events", json=contact_event("offered", "r2", time.time(), "role-queue"), headers=headers)
            assert refused.status_code == 503, refused.text
            assert "no event of this request is confirmed" in refused.json()["detail"]
            assert time.monotonic() - started < ACK_TIMEOUT_S + 10
            metrics = (await client.get("/metrics")).text
            assert 'cxpulse_ingest_events_accepted_total{source="events"} 1.0' in metrics
    finally:
        api.terminate()
        await api.wait()


async def published_values(broker_port: int) -> list[bytes]:
    """The first bytes of every record on cx.calls (each record is a JSON array of events)."""
    consumer = AIOKafkaConsumer("cx.calls", bootstrap_servers=f"127.0.0.1:{broker_port}", auto_offset_reset="earliest")
    await consumer.start()
    try:
        values: list[bytes] = []

        async def some() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                values.extend((record.value or b"")[:80].split(b',"type"')[0] for record in records)
            return bool(values)

        await eventually(some, 30, "the published record on cx.calls")
        return values
    finally:
        await consumer.stop()
