"""The serving layer on real processes: ETag/304 on /v1/kpis, the SSE stream, bearer tokens and their
revocation, CORS, staleness when the worker dies, an API restart, the Prometheus counters and wait
histogram against a hand calculation (and promtool's lint), and 422s naming the parameter.

Tests on the shared ``stack`` (defaults) use queue names of their own; the configured features
(tokens, CORS, 1 s SSE heartbeat, short stale time, killable processes) share one module-scoped
``Cluster`` (separate broker, API and worker processes) built from a YAML file in a temp dir.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from tests.events import contact_event
from tests.integration.cluster import Cluster
from tests.integration.stack import Stack, eventually

pytestmark = pytest.mark.integration

# Other stacks and benchmarks may be running on this machine at the same time: be generous.
PATIENCE_S = 60.0
WEAK_ETAG = re.compile(r'^W/"[^"]+"$')
PROMTOOL = "/usr/bin/promtool"
# The numbers of a row that describe counted contacts (start/end move with the minute, waits age).
COUNTED_FIELDS = (
    "offered", "answered", "abandoned", "short_abandoned", "handled", "surveys", "abandon_rate", "asa_s",
    "avg_abandon_wait_s", "max_wait_s", "wait_p90_s", "service_level", "service_level_numerator",
    "service_level_denominator", "aht_s", "waiting_now",
)


def fresh_queue(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- publishing -------------------------------------------------------------------------------------


async def publish(bootstrap: str, events: list[dict[str, Any]]) -> dict[tuple[str, int], int]:
    """Contact events on their contract topic with the contract key, by a plain aiokafka producer;
    returns the next offset per (topic, partition) written, for ``counted``."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    written: dict[tuple[str, int], int] = {}
    try:
        for event in events:
            topic = "cx.calls" if event["channel"] == "voice" else "cx.chats"
            key = (event["customer_id"] or event["contact_id"]).encode()
            meta = await producer.send_and_wait(topic, json.dumps(event).encode(), key=key)
            written[(meta.topic, meta.partition)] = max(written.get((meta.topic, meta.partition), 0), meta.offset + 1)
    finally:
        await producer.stop()
    return written


async def counted(base_url: str, written: dict[tuple[str, int], int], headers: dict[str, str] | None = None) -> None:
    """Await /v1/status showing every written offset reflected in the served numbers."""

    async def probe() -> dict[str, int] | None:
        async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=headers) as client:
            response = await client.get("/v1/status")
        if response.status_code != 200:
            return None
        done = {(p["topic"], p["partition"]): p["processed_offset"] for p in response.json()["partitions"]}
        return {"ok": 1} if all(done.get(where, 0) >= end for where, end in written.items()) else None

    await eventually(probe, 2 * PATIENCE_S, f"offsets {written} counted")


async def ready(base_url: str) -> None:
    async def probe() -> bool:
        try:
            async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
                return (await client.get("/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(probe, 2 * PATIENCE_S, f"{base_url}/readyz 200")


def finished_pair(queue: str, now: float, tag: str = "") -> list[dict[str, Any]]:
    """Two finished voice contacts: one answered after 10 s, one abandoned after 20 s. Nothing waits."""
    a, b = f"{queue}-a{tag}", f"{queue}-b{tag}"
    return [
        contact_event("offered", a, now - 60, queue),
        contact_event("answered", a, now - 50, queue, wait_s=10),
        contact_event("offered", b, now - 45, queue),
        contact_event("abandoned", b, now - 25, queue, wait_s=20),
    ]


async def kpis(client: httpx.AsyncClient, params: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return await client.get("/v1/kpis", params=params, headers=headers or {})


def only_row(body: dict[str, Any]) -> dict[str, Any] | None:
    return body["items"][0] if len(body["items"]) == 1 else None


def the_row(body: dict[str, Any]) -> dict[str, Any]:
    row = only_row(body)
    assert row is not None, f"expected exactly one row: {body}"
    return row


async def served(base_url: str, queue: str, offered: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Await /v1/kpis (queue, voice, 15m) showing ``offered`` contacts; /v1/status can say "counted"
    up to one refresh of the served rows earlier, so the rows themselves are awaited."""

    async def probe() -> dict[str, Any] | None:
        async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=headers) as client:
            response = await kpis(client, {"queue": queue, "channel": "voice"})
        if response.status_code != 200:
            return None
        row = only_row(response.json())
        return row if row and row["offered"] == offered else None

    return await eventually(probe, 2 * PATIENCE_S, f"/v1/kpis showing {offered} offered for {queue}")


# -- server-sent events -----------------------------------------------------------------------------


@dataclass
class SseFrame:
    event: str  # "message" when the frame names none
    id: str | None
    data: Any  # parsed JSON, None when the frame has no data
    retry: int | None


class SseReader:
    """A minimal text/event-stream parser over httpx's aiter_lines (WHATWG rules: ``field: value``
    lines, ``:`` comments, a blank line ends a frame, several data lines join with newlines)."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.status_code
        assert response.headers["content-type"].startswith("text/event-stream"), response.headers
        self._lines = response.aiter_lines()
        self.ended = False

    async def _frame(self) -> SseFrame | None:
        fields: dict[str, list[str]] = {}
        async for line in self._lines:
            if line == "":
                if fields:
                    data = "\n".join(fields["data"]) if "data" in fields else None
                    return SseFrame(
                        event=fields.get("event", ["message"])[-1],
                        id=fields.get("id", [None])[-1],
                        data=None if data is None else json.loads(data),
                        retry=int(fields["retry"][-1]) if "retry" in fields else None,
                    )
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))
        self.ended = True
        return None

    async def next(self, timeout_s: float = PATIENCE_S) -> SseFrame | None:
        """The next frame, or None when the server ended the stream."""
        return await asyncio.wait_for(self._frame(), timeout_s)

    async def until(self, wanted: Callable[[SseFrame], bool], timeout_s: float, what: str) -> tuple[SseFrame, list[SseFrame]]:
        """Read frames until one is wanted; returns it and every frame read before it."""
        seen: list[SseFrame] = []
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no SSE frame with {what} within {timeout_s:.0f} s; saw {[f.event for f in seen]}")
            try:
                frame = await self.next(left)
            except TimeoutError:
                raise AssertionError(
                    f"no SSE frame with {what} within {timeout_s:.0f} s; last frames {seen[-3:]!r}"
                ) from None
            if frame is None:
                raise AssertionError(f"stream ended before a frame with {what}; saw {seen[-3:]!r}")
            if wanted(frame):
                return frame, seen
            seen.append(frame)


def row_key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["queue"], row["channel"], row["window"]


class RowMirror:
    """What a wallboard holds: rows from the snapshot, replaced by updates; checks that an update only
    carries rows that really changed."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], dict[str, Any]] = {}

    def apply(self, frame: SseFrame) -> None:
        if frame.event == "snapshot":
            self.rows = {row_key(row): row for row in frame.data["items"]}
        elif frame.event == "update":
            for row in frame.data["items"]:
                before = self.rows.get(row_key(row))
                assert before != row, f"update {frame.id} carries an unchanged row {row_key(row)}"
                self.rows[row_key(row)] = row


# -- the configured cluster -------------------------------------------------------------------------


@dataclass
class Configured:
    cluster: Cluster
    tokens_file: Path
    tokens: dict[str, str]  # name -> token

    def bearer(self, name: str = "wall") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def client(self, name: str | None = "wall", timeout: float | httpx.Timeout = 30, **kwargs: Any) -> httpx.AsyncClient:
        headers = self.bearer(name) if name else {}
        return httpx.AsyncClient(base_url=self.cluster.api, timeout=timeout, headers=headers, **kwargs)

    def write_tokens(self, names: list[str]) -> None:
        """Replace the tokens file atomically with these entries; the mtime is moved forward so the
        API notices the change even on a coarse-grained file system clock."""
        before = self.tokens_file.stat().st_mtime
        staged = self.tokens_file.with_suffix(".new")
        staged.write_text(yaml.safe_dump({name: sha256_hex(self.tokens[name]) for name in names}))
        os.replace(staged, self.tokens_file)
        later = max(before + 2, time.time())
        os.utime(self.tokens_file, (later, later))


def sha256_hex(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


CORS_ORIGIN = "https://wall.example"
STALE_S = 10.0  # the worker writes progress every 5 s while idle, so 10 s means "stopped"


@pytest.fixture(scope="module")
async def configured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Configured]:
    directory = tmp_path_factory.mktemp("serving")
    tokens = {name: secrets.token_urlsafe(32) for name in ("wall", "ops", "victim")}
    tokens_file = directory / "tokens.yaml"
    tokens_file.write_text(yaml.safe_dump({name: sha256_hex(token) for name, token in tokens.items()}))
    config = directory / "cxpulse.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "api": {"tokens_file": str(tokens_file), "cors_origins": [CORS_ORIGIN], "sse_heartbeat_seconds": 1},
                "kpi": {"stale_seconds": STALE_S},
            }
        )
    )
    cluster = Cluster("serving", config, partitions=2)
    await cluster.start(workers=1)
    try:
        await ready(cluster.api)
        yield Configured(cluster, tokens_file, tokens)
    finally:
        await cluster.stop()


async def restart_api(cluster: Cluster) -> None:
    """Only the API process: SIGTERM as an orchestrator would, then the same command again."""
    await cluster.kill("api", signal.SIGTERM)
    await cluster._spawn("api", "api")  # the harness's own way of starting a role


# ===================================================================================================
# Shared stack (default settings)
# ===================================================================================================


async def test_kpis_etag_gives_304_until_the_queue_changes(stack: Stack) -> None:
    queue = fresh_queue("etag")
    await publish(stack.bootstrap, finished_pair(queue, time.time()))
    await served(stack.api, queue, offered=2)
    params = {"queue": queue, "channel": "voice"}

    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as client:
        # Rows carry the window's start/end, which move at each minute: a 200 to If-None-Match is
        # only acceptable when the minute turned in between (then the new body shows it); retry.
        for _ in range(3):
            first = await kpis(client, params)
            assert first.status_code == 200, first.text
            etag = first.headers["ETag"]
            assert WEAK_ETAG.match(etag), etag
            row = only_row(first.json())
            assert row is not None, first.json()
            # By hand: 2 offered, 1 answered (10 s), 1 abandoned (20 s), nothing waiting.
            assert (row["offered"], row["answered"], row["abandoned"], row["waiting_now"]) == (2, 1, 1, 0)
            repeats = []
            for _ in range(3):  # spread over more than one refresh (1 s) of the served rows
                repeats.append(await kpis(client, params, {"If-None-Match": etag}))
                await asyncio.sleep(0.6)
            if all(r.status_code == 304 for r in repeats):
                break
            for r in repeats:
                if r.status_code != 304:
                    assert r.status_code == 200, r.text
                    moved = only_row(r.json())
                    assert moved is not None and moved["start"] != row["start"], (
                        f"200 to a matching If-None-Match without any change: {row} vs {r.json()}"
                    )
        else:
            raise AssertionError("never 3 consecutive 304s within one minute")
        for r in repeats:
            assert r.content == b"", r.content
            assert r.headers["ETag"] == etag
        # A list of tags, one of them ours (weak comparison, W/ optional), also matches.
        listed = await kpis(client, params, {"If-None-Match": f'W/"nope", {etag.removeprefix("W/")}'})
        assert listed.status_code in (304, 200)
        if listed.status_code == 200:
            assert the_row(listed.json())["start"] != row["start"]

        # A third contact for the queue, answered after 4 s: the old ETag now gets 200 and new numbers.
        c = f"{queue}-c"
        await publish(stack.bootstrap, [
            contact_event("offered", c, time.time() - 20, queue),
            contact_event("answered", c, time.time() - 16, queue, wait_s=4),
        ])

        async def new_numbers() -> httpx.Response | None:
            response = await kpis(client, params, {"If-None-Match": etag})
            if response.status_code == 304:
                return None
            assert response.status_code == 200, response.text
            current = only_row(response.json())
            return response if current and current["offered"] == 3 and current["answered"] == 2 else None

        changed = await eventually(new_numbers, PATIENCE_S, f"200 with 3 offered for {queue} on the old ETag")
        row = the_row(changed.json())
        # By hand: 3 offered, 2 answered (10 s, 4 s), 1 abandoned; ASA 7 s; abandon rate 1/3.
        assert (row["offered"], row["answered"], row["abandoned"]) == (3, 2, 1)
        assert row["asa_s"] == pytest.approx(7.0)
        assert row["abandon_rate"] == pytest.approx(1 / 3)
        assert changed.headers["ETag"] != etag and WEAK_ETAG.match(changed.headers["ETag"])


async def test_head_answers_wherever_get_does(stack: Stack) -> None:
    """``curl -I`` and uptime monitors: GET's status and headers, no body, also on the endless SSE stream."""
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as client:
        for path in ("/v1/kpis", "/v1/queues", "/v1/status", "/healthz", "/readyz", "/metrics", "/wallboard"):
            got, head = await client.get(path), await client.head(path)
            assert head.status_code == got.status_code, f"HEAD {path}: {head.status_code}, GET {got.status_code}"
            assert head.content == b"", f"HEAD {path} sent a body"
            assert head.headers["content-type"] == got.headers["content-type"], path
        stream_head = await asyncio.wait_for(client.head("/v1/stream"), PATIENCE_S)
        assert stream_head.status_code == 200 and stream_head.headers["content-type"].startswith("text/event-stream")
        assert (await client.head("/v1/kpis", params={"window": "7m"})).status_code == 422


async def test_stream_snapshot_then_updates_of_changed_rows_and_snapshot_on_reconnect(stack: Stack) -> None:
    busy, quiet = fresh_queue("sse-busy"), fresh_queue("sse-quiet")
    now = time.time()
    await publish(stack.bootstrap, finished_pair(busy, now) + finished_pair(quiet, now))
    for queue in (busy, quiet):
        await served(stack.api, queue, offered=2)
    params: list[tuple[str, str | int | float | bool | None]] = [("queue", busy), ("queue", quiet), ("channel", "voice")]
    timeout = httpx.Timeout(30, read=PATIENCE_S)

    async with httpx.AsyncClient(base_url=stack.api, timeout=timeout) as client:
        async with client.stream("GET", "/v1/stream", params=params) as response:
            assert response.headers.get("cache-control") == "no-cache"
            reader = SseReader(response)
            first = await reader.next()
            assert first is not None and first.retry == 3000, first
            snapshot = await reader.next()
            assert snapshot is not None and snapshot.event == "snapshot", snapshot
            assert snapshot.id is not None and snapshot.id.isdigit()
            assert snapshot.data["stale"] is False
            mirror = RowMirror()
            mirror.apply(snapshot)
            # By hand: one row per queue (voice, 15m): 2 offered, 1 answered, 1 abandoned, none waiting.
            assert sorted(mirror.rows) == sorted([(busy, "voice", "15m"), (quiet, "voice", "15m")])
            for row in mirror.rows.values():
                assert (row["offered"], row["answered"], row["abandoned"], row["waiting_now"]) == (2, 1, 1, 0), row

            # One more contact for the busy queue only: offered 5 s ago and still waiting.
            await publish(stack.bootstrap, [contact_event("offered", f"{busy}-w", time.time() - 5, busy)])

            def brings_new_counts(frame: SseFrame) -> bool:
                mirror.apply(frame)
                if frame.event != "update":
                    return False
                return any(row_key(r) == (busy, "voice", "15m") and r["offered"] == 3 for r in frame.data["items"])

            update, before = await reader.until(brings_new_counts, PATIENCE_S, f"an update with 3 offered for {busy}")
            assert update.id is not None and int(update.id) > int(snapshot.id)
            changed = {row_key(r): r for r in update.data["items"]}
            busy_row = changed[(busy, "voice", "15m")]
            assert (busy_row["offered"], busy_row["answered"], busy_row["abandoned"], busy_row["waiting_now"]) == (3, 1, 1, 1)
            assert busy_row["longest_waiting_s"] is not None and busy_row["longest_waiting_s"] >= 5 - 1
            # The quiet queue's row comes in an update only when its window moved (the minute turned):
            # its numbers are those of the snapshot.
            quiet_before = {r["queue"]: r for r in snapshot.data["items"]}[quiet]
            for frame in [*before, update]:
                for row in frame.data["items"] if frame.event == "update" else []:
                    if row["queue"] == quiet:
                        assert row["start"] != quiet_before["start"], row
                        assert {k: row[k] for k in COUNTED_FIELDS} == {k: quiet_before[k] for k in COUNTED_FIELDS}
            assert mirror.rows[(quiet, "voice", "15m")]["offered"] == 2

        # Reconnecting: a snapshot with the current state comes first.
        async with client.stream("GET", "/v1/stream", params=params) as response:
            reader = SseReader(response)
            assert (await reader.next()).retry == 3000  # type: ignore[union-attr]
            again = await reader.next()
            assert again is not None and again.event == "snapshot", again
            rows = {row_key(r): r for r in again.data["items"]}
            assert set(rows) == {(busy, "voice", "15m"), (quiet, "voice", "15m")}
            assert (rows[(busy, "voice", "15m")]["offered"], rows[(busy, "voice", "15m")]["waiting_now"]) == (3, 1)
            assert (rows[(quiet, "voice", "15m")]["offered"], rows[(quiet, "voice", "15m")]["waiting_now"]) == (2, 0)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def promtool_check(text: str) -> tuple[int, str]:
    done = subprocess.run([PROMTOOL, "check", "metrics"], check=False, input=text.encode(), capture_output=True, timeout=60)
    return done.returncode, (done.stdout + done.stderr).decode()


async def test_prometheus_counters_and_wait_histogram_match_a_hand_calculation(stack: Stack) -> None:
    await ready(stack.api)  # counters count what the API has seen since it became ready
    queue = fresh_queue("prom")
    t = time.time() - 600
    answered = {"a1": 3.0, "a2": 20.0, "a3": 20.5, "a4": 5.0}  # SL 20 s: a1, a2 (<= 20), a4 within
    abandoned = {"b1": 4.9, "b2": 5.0, "b3": 61.0}  # short abandon < 5 s: b1 only
    events = []
    for index, (contact, wait) in enumerate({**answered, **abandoned}.items()):
        offered_at = t + 30 * index
        events.append(contact_event("offered", f"{queue}-{contact}", offered_at, queue))
        kind = "answered" if contact in answered else "abandoned"
        events.append(contact_event(kind, f"{queue}-{contact}", offered_at + wait, queue, wait_s=wait))
    events += [
        contact_event("ended", f"{queue}-a1", t + 3 + 110, queue, talk_s=100, hold_s=10),
        contact_event("wrapup_ended", f"{queue}-a1", t + 3 + 140, queue, acw_s=30),
        contact_event("ended", f"{queue}-a2", t + 50 + 50, queue, talk_s=50),
        contact_event("offered", f"{queue}-w", time.time() - 30, queue),  # still waiting
    ]
    await counted(stack.api, await publish(stack.bootstrap, events))

    async with httpx.AsyncClient(timeout=30) as client:
        text = (await client.get(f"{stack.api}/metrics")).text
        worker_text = (await client.get(stack.worker_metrics)).text
    found = samples(text)
    pair = {("queue", queue), ("channel", "voice")}

    def value(name: str, **extra: str) -> float | None:
        return found.get((name, frozenset(pair | set(extra.items()))))

    expected_counters = {
        "cxpulse_contacts_offered_total": 8,  # 7 finished + 1 waiting
        "cxpulse_contacts_answered_total": 4,
        "cxpulse_contacts_abandoned_total": 2,  # b2 (exactly 5 s is not short), b3
        "cxpulse_contacts_short_abandoned_total": 1,  # b1
        "cxpulse_contacts_answered_within_service_level_total": 3,  # 3 s, 20 s, 5 s
        "cxpulse_contacts_handled_total": 2,
        "cxpulse_handle_seconds_total": 100 + 10 + 30 + 50,
    }
    assert {name: value(name) for name in expected_counters} == pytest.approx(expected_counters)
    # Waits of answered and abandoned-not-short contacts: 3, 20, 20.5, 5, 5, 61 (b1's 4.9 left out).
    expected_buckets = {
        "5": 3, "10": 3, "15": 3, "20": 4, "30": 5, "45": 5, "60": 5, "90": 6, "120": 6, "180": 6,
        "240": 6, "300": 6, "600": 6, "900": 6, "1200": 6, "1800": 6, "3600": 6, "+Inf": 6,
    }
    buckets = {
        dict(labels)["le"]: v for (name, labels), v in found.items()
        if name == "cxpulse_wait_seconds_bucket" and pair <= labels
    }
    assert buckets == expected_buckets
    assert value("cxpulse_wait_seconds_sum") == pytest.approx(3 + 20 + 20.5 + 5 + 5 + 61)
    assert value("cxpulse_wait_seconds_count") == 6
    assert value("cxpulse_waiting_contacts") == 1

    for source, exposition in (("api", text), ("worker", worker_text)):
        code, output = promtool_check(exposition)
        assert (code, output) == (0, ""), f"promtool check metrics on the {source}'s /metrics"


async def test_invalid_parameters_get_422_naming_the_parameter(stack: Stack) -> None:
    cases: list[tuple[str, Any, str]] = [
        ("/v1/kpis", {"window": "bad"}, "window"),
        ("/v1/kpis", {"window": ""}, "window"),
        ("/v1/stream", {"window": "1h"}, "window"),
        ("/v1/history", {"from": "2026-03-10", "to": "2026-03-09"}, "to"),
        ("/v1/history", {"from": "10/03/2026", "to": "2026-03-10"}, "from"),
        ("/v1/history", {"to": "2026-03-10"}, "from"),
        ("/v1/history", {"from": "2026-03-10", "to": "2026-03-10", "interval": "7m"}, "interval"),
        ("/v1/history", {"from": "2025-01-01", "to": "2026-03-10"}, "to"),  # more days than kept
        ("/v1/history", {"from": "2026-03-10", "to": "2026-03-10", "queue": "q" * 201}, "queue"),
        ("/v1/kpis", {"queue": "q" * 201}, "queue"),
        ("/v1/kpis", {"queue": ""}, "queue"),
        ("/v1/kpis", {"channel": "c" * 51}, "channel"),
        ("/v1/stream", {"queue": "q" * 201}, "queue"),
        ("/v1/kpis", [("queue", f"q{i}") for i in range(501)], "queue"),
        ("/v1/stream", [("window", "15m")] * 6, "window"),
    ]
    problems = []
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as client:
        for path, params, parameter in cases:
            response = await client.get(path, params=params)
            shown = f"{path} {str(params)[:80]}"
            if response.status_code != 422:
                problems.append(f"{shown}: {response.status_code} instead of 422")
                continue
            detail = response.json()["detail"]
            # A repeatable parameter's item is named with its index: ("query", "queue", 0).
            locations = [tuple(d["loc"]) for d in detail]
            if ("query", parameter) not in [loc[:2] for loc in locations]:
                problems.append(f"{shown}: 422 names {locations}, not {parameter}")
    assert not problems, "\n".join(problems)


# ===================================================================================================
# Configured cluster: tokens, CORS, 1 s heartbeat, short stale time, separate processes
# ===================================================================================================


async def test_tokens_guard_v1_but_not_the_open_paths(configured: Configured) -> None:
    queue = fresh_queue("tok")
    await publish(configured.cluster.bootstrap, finished_pair(queue, time.time()))
    params = {"queue": queue, "channel": "voice"}
    async with configured.client(None) as anonymous:
        for path in ("/v1/kpis", "/v1/stream", "/v1/status", "/v1/queues"):
            response = await anonymous.get(path, params=params)
            assert response.status_code == 401, (path, response.status_code)
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), response.headers
        wrong = await anonymous.get("/v1/kpis", params=params, headers={"Authorization": "Bearer not-a-token"})
        assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
        wrong = await anonymous.get("/v1/kpis", params={**params, "access_token": "not-a-token"})
        assert wrong.status_code == 401
        for path in ("/metrics", "/healthz", "/readyz", "/openapi.json", "/docs", "/wallboard", "/wallboard/wallboard.js"):
            response = await anonymous.get(path)
            assert response.status_code == 200, (path, response.status_code)

        async def with_bearer() -> dict[str, Any] | None:
            response = await anonymous.get("/v1/kpis", params=params, headers=configured.bearer("wall"))
            assert response.status_code == 200, response.text
            row = only_row(response.json())
            return row if row and row["offered"] == 2 else None

        row = await eventually(with_bearer, 2 * PATIENCE_S, f"{queue} counted, read with a bearer token")
        assert (row["answered"], row["abandoned"]) == (1, 1)
        by_query = await anonymous.get("/v1/kpis", params={**params, "access_token": configured.tokens["ops"]})
        assert by_query.status_code == 200 and the_row(by_query.json())["offered"] == 2

    for how in ("bearer", "query"):
        headers = configured.bearer("wall") if how == "bearer" else {}
        query: list[tuple[str, str | int | float | bool | None]] = [("queue", queue), ("channel", "voice")]
        if how == "query":
            query.append(("access_token", configured.tokens["wall"]))
        async with (
            httpx.AsyncClient(base_url=configured.cluster.api, timeout=httpx.Timeout(30, read=PATIENCE_S)) as client,
            client.stream("GET", "/v1/stream", params=query, headers=headers) as response,
        ):
            reader = SseReader(response)
            snapshot, _ = await reader.until(lambda f: f.event == "snapshot", PATIENCE_S, "the snapshot")
            assert [r["offered"] for r in snapshot.data["items"]] == [2], (how, snapshot)


async def test_revoked_token_is_refused_and_its_open_stream_ends(configured: Configured) -> None:
    api = configured.cluster.api
    victim = configured.tokens["victim"]
    async with httpx.AsyncClient(base_url=api, timeout=httpx.Timeout(30, read=PATIENCE_S)) as client:
        before = await client.get("/v1/kpis", params={"access_token": victim})
        assert before.status_code == 200, before.text
        async with client.stream("GET", "/v1/stream", params={"queue": "*", "access_token": victim}) as response:
            reader = SseReader(response)
            await reader.until(lambda f: f.event == "snapshot", PATIENCE_S, "the snapshot")
            configured.write_tokens(["wall", "ops"])  # the victim's line is gone
            revoked_at = time.monotonic()

            async def refused() -> bool:
                return (await client.get("/v1/kpis", params={"access_token": victim})).status_code == 401

            await eventually(refused, PATIENCE_S, "401 for the revoked token")
            for name in ("wall", "ops"):
                still = await client.get("/v1/kpis", headers=configured.bearer(name))
                assert still.status_code == 200, (name, still.status_code)
            # The open stream ends on its own (the server closes it); heartbeats and updates may come first.
            deadline = time.monotonic() + PATIENCE_S
            while not reader.ended:
                assert time.monotonic() < deadline, "the stream of a revoked token is still open"
                try:
                    await reader.next(deadline - time.monotonic())
                except TimeoutError:
                    raise AssertionError("the stream of a revoked token is still open") from None
            print(f"revoked token's stream ended {time.monotonic() - revoked_at:.1f} s after the file changed")
        reconnect = await client.get("/v1/stream", params={"access_token": victim})
        assert reconnect.status_code == 401


async def test_cors_allows_the_configured_origin_only(configured: Configured) -> None:
    async with configured.client("wall") as client:
        allowed = await client.get("/v1/kpis", headers={"Origin": CORS_ORIGIN})
        assert allowed.status_code == 200
        assert allowed.headers.get("access-control-allow-origin") == CORS_ORIGIN
        exposed = [h.strip().lower() for h in allowed.headers.get("access-control-expose-headers", "").split(",")]
        assert "etag" in exposed, allowed.headers
        preflight = await client.options(
            "/v1/kpis",
            headers={
                "Origin": CORS_ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization, if-none-match",
            },
        )
        assert preflight.status_code == 200, (preflight.status_code, preflight.text)
        assert preflight.headers.get("access-control-allow-origin") == CORS_ORIGIN
        assert "GET" in preflight.headers.get("access-control-allow-methods", "")
        allowed_headers = preflight.headers.get("access-control-allow-headers", "").lower()
        assert "authorization" in allowed_headers and "if-none-match" in allowed_headers, preflight.headers
        # Without a token the browser must still be able to read the 401.
        async with configured.client(None) as anonymous:
            unauthorized = await anonymous.get("/v1/kpis", headers={"Origin": CORS_ORIGIN})
        assert unauthorized.status_code == 401
        assert unauthorized.headers.get("access-control-allow-origin") == CORS_ORIGIN

        other = await client.get("/v1/kpis", headers={"Origin": "https://evil.example"})
        assert other.status_code == 200
        assert "access-control-allow-origin" not in other.headers
        other_preflight = await client.options(
            "/v1/kpis", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        )
        assert "access-control-allow-origin" not in other_preflight.headers
        assert other_preflight.status_code >= 400


async def test_heartbeat_when_nothing_changes(configured: Configured) -> None:
    # A queue nobody publishes to: after the snapshot, nothing in the selection changes.
    quiet = fresh_queue("hb")
    timeout = httpx.Timeout(30, read=PATIENCE_S)
    async with (
        configured.client("wall", timeout=timeout) as client,
        client.stream("GET", "/v1/stream", params={"queue": quiet}) as response,
    ):
        reader = SseReader(response)
        snapshot, _ = await reader.until(lambda f: f.event == "snapshot", PATIENCE_S, "the snapshot")
        assert snapshot.data["items"] == []
        started = time.monotonic()
        beats: list[tuple[float, SseFrame]] = []
        while len(beats) < 2:
            frame, _ = await reader.until(lambda f: f.event == "heartbeat", PATIENCE_S, "a heartbeat")
            beats.append((time.monotonic() - started, frame))
        # Configured 1 s; the default 15 s would fail this (8 s leaves room for a busy machine).
        assert beats[0][0] < 8, f"first heartbeat {beats[0][0]:.1f} s after the snapshot"
        for _, frame in beats:
            assert set(frame.data) == {"as_of", "stale"}, frame.data
            assert frame.data["as_of"].endswith("Z")
        print(f"heartbeats at {[round(at, 1) for at, _ in beats]} s after the snapshot (configured 1 s)")


async def test_api_restart_serves_the_last_known_values_within_seconds(configured: Configured) -> None:
    cluster = configured.cluster
    queue = fresh_queue("restart")
    now = time.time()
    await publish(cluster.bootstrap, finished_pair(queue, now) + [contact_event("offered", f"{queue}-c", now - 30, queue)])
    params = {"queue": queue, "channel": "voice"}

    async def row_now() -> dict[str, Any] | None:
        try:
            async with configured.client("wall", timeout=5) as client:
                response = await kpis(client, params)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        row = only_row(response.json())
        return row if row and row["offered"] == 3 else None

    before = await eventually(row_now, 2 * PATIENCE_S, f"{queue} counted before the restart")
    # By hand: 3 offered, 1 answered, 1 abandoned, 1 waiting.
    assert (before["answered"], before["abandoned"], before["waiting_now"]) == (1, 1, 1)
    await restart_api(cluster)
    started = time.monotonic()
    after = await eventually(row_now, 20, f"the restarted API serving {queue}")
    took = time.monotonic() - started
    print(f"restarted API served the last known values {took:.1f} s after it was started")
    assert {k: after[k] for k in COUNTED_FIELDS} == {k: before[k] for k in COUNTED_FIELDS}, f"after {took:.1f} s"
    await ready(cluster.api)


async def test_stale_when_the_worker_stops_and_fresh_after_it_restarts(configured: Configured) -> None:
    cluster = configured.cluster
    queue = fresh_queue("stale")
    await publish(cluster.bootstrap, finished_pair(queue, time.time()))
    timeout = httpx.Timeout(30, read=PATIENCE_S)
    async with configured.client("wall", timeout=timeout) as client:

        async def stale_is(expected: bool) -> dict[str, Any] | None:
            response = await kpis(client, {"queue": queue, "channel": "voice"})
            assert response.status_code == 200, response.text
            body = response.json()
            return body if body["stale"] is expected and body["items"] else None

        await eventually(lambda: stale_is(False), 2 * PATIENCE_S, "fresh values while the worker runs")
        async with client.stream("GET", "/v1/stream", params={"queue": queue, "channel": "voice"}) as response:
            reader = SseReader(response)
            snapshot, _ = await reader.until(lambda f: f.event == "snapshot", PATIENCE_S, "the snapshot")
            if snapshot.data["stale"]:  # a busy machine can delay the worker's 5 s progress past 10 s
                await reader.until(lambda f: f.data is not None and f.data["stale"] is False, PATIENCE_S, "stale:false")

            asked = time.monotonic()
            status = await client.get("/v1/status")
            age = status.json()["snapshot_age_s"]  # seconds since the API's last update from the worker
            await cluster.kill("worker-0", signal.SIGKILL)
            killed = time.monotonic()
            flipped, _ = await reader.until(
                lambda f: f.event in ("update", "heartbeat") and f.data["stale"] is True, STALE_S + PATIENCE_S, "stale:true"
            )
            took = time.monotonic() - killed
            # Not before stale_seconds have passed since the last update (0.5 s for the two clocks).
            quiet_for = took + (killed - asked) + age
            assert quiet_for >= STALE_S - 0.5, f"stale after {quiet_for:.1f} s without updates, stale_seconds={STALE_S}"
            body = await eventually(lambda: stale_is(True), PATIENCE_S, "/v1/kpis stale:true")
            # The last known numbers are still served, only marked stale.
            row = only_row(body)
            assert row is not None and (row["offered"], row["answered"], row["abandoned"]) == (2, 1, 1)

            await cluster.start_worker("worker-0")
            await reader.until(
                lambda f: f.event in ("update", "heartbeat") and f.data["stale"] is False, 3 * PATIENCE_S, "stale:false"
            )
            await eventually(lambda: stale_is(False), PATIENCE_S, "/v1/kpis stale:false after the restart")
            print(
                f"stale {took:.1f} s after the worker was killed ({age} s after its last update before the kill; "
                f"stale_seconds {STALE_S}); an SSE {flipped.event} said so"
            )
