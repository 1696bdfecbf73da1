"""The load generator, run as its own OS process: ``python -m bench.loadgen '<json spec>'`` prints a JSON result.

A separate process keeps the clients off the event loop that supervises the benchmark and off the
API's process; the API's and this process's CPU seconds over the measured window are part of the
result, because on a small machine both compete for the same cores.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.procfs import cpu_seconds, rss_megabytes
from bench.rawhttp import Connection, ProtocolError, StreamClient, request_bytes
from bench.stats import longest_gap, summarize

RECONNECT_PAUSE_S = 0.1
ERROR_SAMPLES = 5
TAIL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PollSpec:
    """Clients polling one URL back to back on keep-alive connections (closed loop: no think time)."""

    host: str
    port: int
    target: str
    clients: int
    warmup_s: float
    duration_s: float
    etag: bool
    api_pid: int


@dataclass(frozen=True)
class StreamSpec:
    """Clients holding SSE connections; measured once all have their snapshot (or the connect timeout passed)."""

    host: str
    port: int
    target: str
    clients: int
    connect_timeout_s: float
    measure_s: float
    max_gap_s: float
    connect_concurrency: int
    api_pid: int


class Usage:
    """CPU seconds of the API and of this process over a wall-clock window, sampled at its two ends, and the
    API's memory at the end."""

    def __init__(self, api_pid: int) -> None:
        self._api_pid = api_pid
        self._started = time.monotonic()
        self._api_start = cpu_seconds(api_pid)
        self._own_start = time.process_time()

    def close(self) -> dict[str, float]:
        wall = time.monotonic() - self._started
        return {
            "wall_s": wall,
            "api_cpu_percent": 100 * (cpu_seconds(self._api_pid) - self._api_start) / wall,
            "client_cpu_percent": 100 * (time.process_time() - self._own_start) / wall,
            "api_rss_mb": rss_megabytes(self._api_pid),
        }


@dataclass
class PollTally:
    """What all polling clients saw inside the measured window (and the errors at any time)."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    body_bytes: list[int] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    etag_missing: int = 0

    def error(self, exc: BaseException) -> None:
        self.errors += 1
        if len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append(repr(exc))


async def poll_client(spec: PollSpec, measure_from: float, stop_at: float, tally: PollTally) -> None:
    """Poll until ``stop_at``; with ``spec.etag`` send the last ETag seen, as a wallboard polling for 304s would."""
    plain = request_bytes(spec.host, spec.port, spec.target)
    request, etag = plain, ""
    connection: Connection | None = None
    while (started := time.perf_counter()) < stop_at:
        try:
            if connection is None:
                connection = await Connection.open(spec.host, spec.port)
            response = await connection.get(request)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ProtocolError) as exc:
            tally.error(exc)
            connection = None
            await asyncio.sleep(RECONNECT_PAUSE_S)
            continue
        elapsed = time.perf_counter() - started
        if response.status not in (200, 304) or (response.status == 200 and not response.body.startswith(b'{"as_of"')):
            tally.error(ProtocolError(f"status {response.status}: {response.body[:80]!r}"))
        if spec.etag and response.status == 200:
            new_etag = response.headers.get("etag", "")
            tally.etag_missing += not new_etag
            if new_etag != etag:
                etag = new_etag
                request = request_bytes(spec.host, spec.port, spec.target, [("If-None-Match", etag)]) if etag else plain
        if started >= measure_from:
            tally.latencies.append(elapsed)
            tally.statuses[response.status] += 1
            if response.status == 200:
                tally.body_bytes.append(len(response.body))
    if connection is not None:
        await connection.close()


async def run_poll(spec: PollSpec) -> dict[str, Any]:
    tally = PollTally()
    measure_from = time.perf_counter() + spec.warmup_s
    stop_at = measure_from + spec.duration_s
    clients = [asyncio.create_task(poll_client(spec, measure_from, stop_at, tally)) for _ in range(spec.clients)]
    await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
    cpu = Usage(spec.api_pid)
    await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
    usage = cpu.close()
    await asyncio.wait_for(asyncio.gather(*clients), TAIL_TIMEOUT_S)
    latency = summarize(tally.latencies)
    return {
        "requests": len(tally.latencies),
        "requests_per_s": len(tally.latencies) / spec.duration_s,
        "statuses": {str(code): n for code, n in sorted(tally.statuses.items())},
        "errors": tally.errors,
        "error_samples": tally.error_samples,
        "etag_missing": tally.etag_missing,
        "latency_s": None if latency is None else asdict(latency),
        "body_bytes_mean": sum(tally.body_bytes) / len(tally.body_bytes) if tally.body_bytes else None,
        **usage,
    }


# -- streams ---------------------------------------------------------------------------------------


async def open_stream(spec: StreamSpec, request: bytes, gate: asyncio.Semaphore, opened: list[StreamClient]) -> None:
    """Connect one SSE client and wait for its snapshot; the gate bounds connections still in their handshake."""
    loop = asyncio.get_running_loop()
    async with gate:
        _, client = await loop.create_connection(lambda: StreamClient(request), spec.host, spec.port)
        opened.append(client)
        await client.settled.wait()
        if not client.has_snapshot:
            raise ProtocolError(client.error or "no snapshot")


async def connect_streams(spec: StreamSpec, opened: list[StreamClient]) -> tuple[float, list[str]]:
    """Open every client; return the seconds it took and why the ones that failed did."""
    request = request_bytes(spec.host, spec.port, spec.target, [("Accept", "text/event-stream")])
    gate = asyncio.Semaphore(spec.connect_concurrency)
    started = time.monotonic()
    tasks = [asyncio.create_task(open_stream(spec, request, gate, opened)) for _ in range(spec.clients)]
    done, pending = await asyncio.wait(tasks, timeout=spec.connect_timeout_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    failures = [repr(task.exception()) for task in done if task.exception() is not None]
    failures += [f"no snapshot within {spec.connect_timeout_s:.0f} s"] * len(pending)
    return time.monotonic() - started, failures


def stream_figures(spec: StreamSpec, clients: list[StreamClient], start: float, end: float) -> dict[str, Any]:
    """Per-window delivery figures over the clients that had their snapshot when the window opened.

    Every client gets the same frames, so a delay has two parts: the frame's own (from ``as_of`` to its
    first arrival at any client: computing it, and the machine's scheduling) and the fan-out (from that
    first arrival to this one), which is what grows with the number of clients.
    """
    data = [[a for a in c.arrivals if start <= a.at <= end and a.name in ("update", "snapshot")] for c in clients]
    everything = [a for arrivals in data for a in arrivals]
    first: dict[int, float] = {}
    for arrival in everything:
        if arrival.frame is not None:
            first[arrival.frame] = min(arrival.at, first.get(arrival.frame, arrival.at))
    gaps = [longest_gap([a.at for a in arrivals], start, end) for arrivals in data]
    gap = summarize(gaps)
    delay = summarize([a.at - a.as_of for a in everything if a.as_of is not None])
    fanout = summarize([a.at - first[a.frame] for a in everything if a.frame is not None])
    return {
        "updates": len(everything),
        "updates_per_client_per_s": len(everything) / len(clients) / (end - start) if clients else 0.0,
        "frames": len(first),
        "resyncs": sum(a.name == "snapshot" for a in everything),
        "heartbeats": sum(start <= a.at <= end and a.name == "heartbeat" for c in clients for a in c.arrivals),
        "lost": sum(c.closed for c in clients),
        "gap_s": None if gap is None else asdict(gap),
        "clients_over_gap": sum(g > spec.max_gap_s for g in gaps),
        "delay_s": None if delay is None else asdict(delay),
        "fanout_s": None if fanout is None else asdict(fanout),
        "errors": sorted({c.error for c in clients if c.error})[:ERROR_SAMPLES],
    }


async def run_stream(spec: StreamSpec) -> dict[str, Any]:
    opened: list[StreamClient] = []
    try:
        connect_s, failures = await connect_streams(spec, opened)
        ready = [c for c in opened if c.has_snapshot]
        start = time.time()
        received_before = sum(c.bytes_received for c in ready)
        cpu = Usage(spec.api_pid)
        await asyncio.sleep(spec.measure_s)
        usage = cpu.close()
        end = time.time()
        received = sum(c.bytes_received for c in ready) - received_before
        return {
            "clients": spec.clients,
            "connected": len(ready),
            "connect_s": connect_s,
            "connect_failures": len(failures),
            "connect_failure_samples": sorted(set(failures))[:ERROR_SAMPLES],
            **stream_figures(spec, ready, start, end),
            "megabytes_per_s": received / 1e6 / (end - start),
            **usage,
        }
    finally:
        for client in opened:
            client.close()


def main(argv: list[str]) -> int:
    raw = json.loads(argv[0])
    kind = raw.pop("kind")
    if kind == "poll":
        result = asyncio.run(run_poll(PollSpec(**raw)))
    elif kind == "stream":
        result = asyncio.run(run_stream(StreamSpec(**raw)))
    else:
        raise SystemExit(f"unknown load kind {kind!r}")
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
