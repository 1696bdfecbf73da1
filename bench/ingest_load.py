"""The ingest load generator, its own OS process: ``python -m bench.ingest_load '<json spec>'`` prints a
JSON result. Clients POST batches of simulated contract events to /v1/events on keep-alive
connections and time each answer: back to back (closed loop, ``rate`` 0: the most the API takes),
or on a schedule of ``rate`` events/s over all clients, each latency then counted from the moment
its request was due, so a stalled server cannot hide its backlog by slowing the clients down.

Bodies are encoded once; each pass over them gets its own id prefix (a byte replace of ``_id":"``),
so every event the API publishes is new to the worker and no pass is dropped as a repeat.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from adapters.simulator import generate, queue_profiles
from bench.loadgen import Usage
from bench.rawhttp import Connection, ProtocolError
from bench.stats import summarize

QUEUES = 50
RATE_SCALE = 40.0
# Event times start this far back, well inside the worker's grace period, for the whole run.
EVENT_TIME_BACK_S = 600.0
ERROR_SAMPLES = 5


@dataclass(frozen=True)
class IngestSpec:
    host: str
    port: int
    token: str
    clients: int
    batch: int
    bodies: int
    warmup_s: float
    duration_s: float
    api_pid: int
    rate: float


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    events: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)


def post_bytes(spec: IngestSpec, body: bytes) -> bytes:
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: {spec.host}:{spec.port}\r\nAuthorization: Bearer {spec.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def bodies(spec: IngestSpec) -> list[bytes]:
    events = generate(time.time() - EVENT_TIME_BACK_S, None, seed=11, queues=queue_profiles(QUEUES), rate_scale=RATE_SCALE)
    every = list(itertools.islice(events, spec.batch * spec.bodies))
    return [orjson.dumps(every[i : i + spec.batch]) for i in range(0, len(every), spec.batch)]


async def client(
    spec: IngestSpec, number: int, encoded: list[bytes], turns: itertools.count[int], measure_from: float, stop_at: float,
    tally: Tally,
) -> None:
    connection = await Connection.open(spec.host, spec.port)
    interval = spec.clients * spec.batch / spec.rate if spec.rate else 0.0
    due = time.perf_counter() + interval * number / spec.clients
    try:
        while (started := time.perf_counter()) < stop_at:
            if interval:
                await asyncio.sleep(max(0.0, due - started))
                started, due = due, due + interval
            turn = next(turns)
            cycle, index = divmod(turn, len(encoded))
            body = encoded[index].replace(b'_id":"', b'_id":"p%d-' % cycle)
            try:
                response = await connection.get(post_bytes(spec, body))
            except (OSError, asyncio.IncompleteReadError, ProtocolError) as exc:
                tally.errors += 1
                if len(tally.error_samples) < ERROR_SAMPLES:
                    tally.error_samples.append(repr(exc))
                connection = await Connection.open(spec.host, spec.port)
                continue
            elapsed = time.perf_counter() - started
            if started < measure_from:
                continue
            tally.latencies.append(elapsed)
            tally.statuses[response.status] += 1
            if response.status == 202:
                tally.events += json.loads(response.body)["accepted"]
            elif len(tally.error_samples) < ERROR_SAMPLES:
                tally.error_samples.append(f"status {response.status}: {response.body[:200]!r}")
    finally:
        await connection.close()


async def run(spec: IngestSpec) -> dict[str, Any]:
    encoded = bodies(spec)
    tally = Tally()
    turns = itertools.count()
    now = time.perf_counter()
    measure_from, stop_at = now + spec.warmup_s, now + spec.warmup_s + spec.duration_s
    tasks = [
        asyncio.create_task(client(spec, number, encoded, turns, measure_from, stop_at, tally)) for number in range(spec.clients)
    ]
    await asyncio.sleep(spec.warmup_s)
    usage = Usage(spec.api_pid)
    await asyncio.gather(*tasks)
    figures = usage.close()
    latency = summarize(tally.latencies)
    return {
        "requests": len(tally.latencies),
        "events_accepted": tally.events,
        "events_per_s": tally.events / figures["wall_s"],
        "requests_per_s": len(tally.latencies) / figures["wall_s"],
        "latency_s": None if latency is None else asdict(latency),
        "statuses": {str(code): n for code, n in sorted(tally.statuses.items())},
        "errors": tally.errors,
        "error_samples": tally.error_samples,
        **figures,
    }


def main(argv: list[str]) -> int:
    json.dump(asyncio.run(run(IngestSpec(**json.loads(argv[0])))), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
