"""The serving path riding out faults, on real processes (broker, API, worker, `cxpulse replay`).

A frozen broker is the embedded broker's process stopped with SIGSTOP (it keeps its sockets: clients
connect and are never answered) and resumed with SIGCONT. Freezes: one of 60 s, the issue's claim
(`/v1/status` answers within a bound all along and `replay --wait` finishes afterwards); one shorter
than `stale_seconds` (20 s here), which today never shows as stale; one while the API restarts.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from service.broker import wait_for_port
from tests.events import contact_event
from tests.integration.cluster import Cluster
from tests.integration.stack import ARTIFACTS, eventually
from tests.integration.test_serving import SseReader, counted, finished_pair, publish, served

pytestmark = pytest.mark.integration

PATIENCE_S = 60.0
STALE_S = 20.0
# How long a /v1/status may take while the broker is frozen: its deadline is 2 s (a quarter of
# stale_seconds, at most 2 s); the rest is room for a busy machine.
STATUS_BOUND_S = 15.0
LONG_FREEZE_S = 60.0
SHORT_FREEZE_S = 17.0  # less than stale_seconds, more than half of it plus the broker deadline


def fresh_queue(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    directory = tmp_path_factory.mktemp("faults")
    config = directory / "cxpulse.yaml"
    config.write_text(yaml.safe_dump({"kpi": {"stale_seconds": STALE_S}, "api": {"sse_heartbeat_seconds": 1}}))
    running = Cluster("faults", config, partitions=2)
    await running.start(workers=1)
    try:
        yield running
    finally:
        os.kill(running.processes["broker"].pid, signal.SIGCONT)
        await running.stop()


class Frozen:
    """The broker stopped for the body of a ``with``, resumed whatever happens in it."""

    def __init__(self, cluster: Cluster) -> None:
        self._pid = cluster.processes["broker"].pid
        self.at = 0.0

    def __enter__(self) -> Frozen:
        os.kill(self._pid, signal.SIGSTOP)
        self.at = time.monotonic()
        return self

    def __exit__(self, *_: object) -> None:
        os.kill(self._pid, signal.SIGCONT)


async def with_worker(cluster: Cluster) -> None:
    if "worker-0" not in cluster.processes:
        await cluster.start_worker("worker-0")


async def status_in_time(client: httpx.AsyncClient) -> dict[str, Any]:
    started = time.monotonic()
    response = await client.get("/v1/status")
    took = time.monotonic() - started
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert took < STATUS_BOUND_S, f"/v1/status took {took:.1f} s"
    body: dict[str, Any] = response.json()
    return body


async def test_status_and_replay_wait_ride_out_a_60_s_freeze(cluster: Cluster, tmp_path: Path) -> None:
    """The issue's claim. No worker runs until the broker is back, so nothing can be counted before
    the freeze and ``replay --wait`` must wait across all of it."""
    if "worker-0" in cluster.processes:
        await cluster.kill("worker-0", signal.SIGTERM)
    queue = fresh_queue("replay")
    now = time.time()
    recording = tmp_path / "recording.jsonl"
    events = [contact_event("offered", f"{queue}-{i}", now - 120 + i, queue) for i in range(20)]
    recording.write_text("".join(json.dumps(event) + "\n" for event in events))
    log = open(ARTIFACTS / "faults-replay.log", "wb")
    replay = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service.cli", "replay", str(recording), "--format", "jsonl", "--wait",
        "--api", cluster.api, "--wait-timeout", "400",
        env=cluster.environment(), stdout=log, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert replay.stderr is not None
    seen: list[bytes] = []
    while not any(b"published" in line for line in seen):
        line = await asyncio.wait_for(replay.stderr.readline(), PATIENCE_S)
        assert line, f"replay ended before publishing: {b''.join(seen)!r}"
        seen.append(line)

    answers: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=cluster.api, timeout=STATUS_BOUND_S + 15) as client:
        with Frozen(cluster) as frozen:
            while time.monotonic() - frozen.at < LONG_FREEZE_S:
                answers.append(await status_in_time(client))
                await asyncio.sleep(1.0)
        unreachable = [a for a in answers if a["broker"]["reachable"] is False]
        assert unreachable, f"no answer said the broker is unreachable: {answers[-1]}"
        assert all(a["caught_up"] is False for a in unreachable)
        assert unreachable[-1]["broker"]["error"] == "no answer within 2 s", unreachable[-1]
        assert unreachable[-1]["broker"]["unreachable_s"] > LONG_FREEZE_S / 2, unreachable[-1]
        print(f"{len(answers)} /v1/status answers during the {LONG_FREEZE_S:.0f} s freeze, {len(unreachable)} saying unreachable")

        await with_worker(cluster)
        _, rest = await asyncio.wait_for(replay.communicate(), 400)
        output = b"".join(seen).decode() + rest.decode()
        assert await replay.wait() == 0, output
        assert "Traceback" not in output, output
        assert "all published events counted" in output, output
        assert "cannot reach the broker" in output, output
        after = await status_in_time(client)
        assert after["broker"]["reachable"] is True, after


async def test_a_freeze_shorter_than_stale_seconds_shows_stale_and_is_pushed(cluster: Cluster) -> None:
    await with_worker(cluster)
    queue = fresh_queue("stale")
    await counted(cluster.api, await publish(cluster.bootstrap, finished_pair(queue, time.time())))
    params = {"queue": queue, "channel": "voice"}
    async with (
        httpx.AsyncClient(base_url=cluster.api, timeout=httpx.Timeout(STATUS_BOUND_S + 15, read=PATIENCE_S)) as client,
        client.stream("GET", "/v1/stream", params=params) as response,
    ):
        reader = SseReader(response)
        await reader.until(lambda f: f.data is not None and f.data["stale"] is False, 2 * PATIENCE_S, "stale:false")
        age = (await status_in_time(client))["snapshot_age_s"]
        with Frozen(cluster) as frozen:
            flipped, _ = await reader.until(
                lambda f: f.event in ("update", "heartbeat") and f.data["stale"] is True, SHORT_FREEZE_S, "stale:true"
            )
            took = time.monotonic() - frozen.at
            during = await status_in_time(client)
            kpis = (await client.get("/v1/kpis", params=params)).json()
        # Not before half of stale_seconds without updates (0.5 s for the two clocks).
        assert took + age >= STALE_S / 2 - 0.5, f"stale {took:.1f} s into the freeze, {age} s after the last update"
        assert during["broker"]["reachable"] is False and during["stale"] is True, during
        assert kpis["stale"] is True and [(r["offered"], r["answered"]) for r in kpis["items"]] == [(2, 1)], kpis
        await reader.until(lambda f: f.data is not None and f.data["stale"] is False, 2 * PATIENCE_S, "stale:false again")
        print(f"stale {took:.1f} s into a {SHORT_FREEZE_S:.0f} s freeze (stale_seconds {STALE_S:.0f}); an SSE {flipped.event} said so")


async def test_a_restarting_api_refuses_numbers_until_it_has_read_them_all(cluster: Cluster) -> None:
    """The API restarts while the broker is frozen, so it stays unready for as long as the test likes."""
    await with_worker(cluster)
    queue = fresh_queue("restart")
    now = time.time()
    await publish(cluster.bootstrap, finished_pair(queue, now) + [contact_event("offered", f"{queue}-c", now - 30, queue)])
    await served(cluster.api, queue, offered=3)
    await cluster.kill("api", signal.SIGTERM)
    today = datetime.fromtimestamp(now, timezone.utc).date().isoformat()
    numbers = [
        ("/v1/kpis", {"queue": queue, "channel": "voice"}),
        ("/v1/stream", {"queue": queue}),
        ("/v1/history", {"queue": queue, "from": today, "to": today}),
    ]
    async with httpx.AsyncClient(base_url=cluster.api, timeout=30) as client:
        with Frozen(cluster):
            await cluster._spawn("api", "api")  # the harness's own way of starting a role
            await wait_for_port("127.0.0.1", cluster.api_port, PATIENCE_S)
            for _ in range(3):
                assert (await client.get("/readyz")).status_code == 503
                for path, params in numbers:
                    response = await client.get(path, params=params)
                    assert response.status_code == 503, (path, response.status_code, response.text[:300])
                    assert response.headers["retry-after"] == "1", path
                await asyncio.sleep(1.0)

        async def whole() -> dict[str, Any] | None:
            response = await client.get("/v1/kpis", params={"queue": queue, "channel": "voice"})
            if response.status_code == 503:
                return None
            body = response.json()
            assert [row["offered"] for row in body["items"]] == [3], f"served while reading: {body}"
            return body

        await eventually(whole, 2 * PATIENCE_S, f"the restarted API serving {queue}")
        assert (await client.get("/readyz")).status_code == 200
        history = await client.get("/v1/history", params={"queue": "*", "from": today, "to": today})
        assert history.status_code == 200 and history.json()["items"], history.text[:300]
        assert {row["queue"] for row in history.json()["items"]} == {"*"}, "queue=* selects the roll-ups only"
        huge = await client.get("/v1/kpis", params={"queue": "q" * 10_000})
        assert huge.status_code == 422 and len(huge.content) < 1000, (huge.status_code, len(huge.content))


async def test_events_processed_never_goes_backwards_when_the_worker_restarts(cluster: Cluster) -> None:
    await with_worker(cluster)
    queue = fresh_queue("processed")
    now = time.time()
    await cluster.publish([contact_event("offered", f"{queue}-{i}", now - 300 + i / 100, queue) for i in range(20_000)])
    await cluster.wait_counted()
    before = int((await cluster.get("/v1/status"))["events_processed"])
    await cluster.kill("worker-0", signal.SIGKILL)
    await cluster.start_worker("worker-0")
    extra = [contact_event("offered", f"{queue}-late-{i}", now - 10, queue) for i in range(10)]
    await cluster.publish(extra)
    seen: list[int] = []
    deadline = time.monotonic() + 4 * PATIENCE_S
    while not seen or seen[-1] < before + len(extra):
        assert time.monotonic() < deadline, f"not counted again; last {seen[-5:]}"
        seen.append(int((await cluster.get("/v1/status"))["events_processed"]))
        await asyncio.sleep(0.1)
    lower = [value for value in seen if value < before]
    assert not lower, f"events_processed was {before} before the restart, then as low as {min(lower)}"
    assert seen == sorted(seen), "events_processed went down"
