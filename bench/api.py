"""``cxpulse bench api``: how fast one API process answers wallboards, polled and streamed.

Measured against a real ``cxpulse run --simulate`` (broker, worker, API, simulator) with many queues of
live traffic, because the API's cost depends on how many rows it serves and how often they change:
- GET /v1/kpis (all queues, window 15m) from N concurrent keep-alive clients polling back to back:
  requests/s and p50/p99/max latency, once plain and once with If-None-Match of the last ETag (304s);
- /v1/stream (SSE, same selection) at growing client counts: the largest count at which every client
  still gets an update at least every MAX_GAP_S with p99 delay (server ``as_of`` to arrival) within
  MAX_P99_DELAY_S.
The clients run in a separate process (bench.loadgen); its CPU use and the API's are reported with
every figure since on a small machine they compete for the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.loadgen import PollSpec, StreamSpec
from bench.procfs import open_files
from bench.service import HOST, Service, eventually

WARMUP_S = 3.0
SSE_MEASURE_S = 15.0
MAX_GAP_S = 1.5
MAX_P99_DELAY_S = 1.0
SSE_STEPS = (100, 250, 500, 1000, 2000, 4000, 8000, 16000)
DEFAULT_DURATION_S = 20.0
DEFAULT_CLIENTS = 100
DEFAULT_QUEUES = 200
DEFAULT_SSE_MAX = 4000
BACKFILL_MINUTES = 60.0
CONNECT_CONCURRENCY = 100
# Descriptors the API and the load generator need besides one per client connection.
FD_MARGIN = 200
# The API has closed a step's connections when at most this many descriptors remain above its baseline.
CLOSED_SLACK = 50
KPIS_TARGET = "/v1/kpis?window=15m"
STREAM_TARGET = "/v1/stream?window=15m"
START_TIMEOUT_S = 120.0
LOAD_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 60.0
CLIENT_BOUND_PERCENT = 90.0
IDLE_LOAD_AVERAGE = 0.5
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "api-latest.json"

NAME = "api"
SUMMARY = f"""\
GET /v1/kpis (all queues, window 15m) with {DEFAULT_CLIENTS} concurrent keep-alive clients over
{DEFAULT_QUEUES} simulated queues of live traffic: requests/s, p50/p99/max latency and response
size, plain and with If-None-Match (304s); and the number of /v1/stream (SSE) clients one API
process holds while every client gets an update at least every {MAX_GAP_S:g} s with p99 delivery
delay <= {MAX_P99_DELAY_S:g} s."""
DESCRIPTION = f"""\
Start `cxpulse run --simulate` on free ports (--queues queues of live simulated traffic,
{BACKFILL_MINUTES:.0f} minutes backfilled), wait until every queue is served and the backfill is
counted, then measure the API process:

  GET {KPIS_TARGET} (all queues and roll-ups) from --clients concurrent keep-alive
  clients polling back to back for --duration seconds after a {WARMUP_S:g} s warm-up: requests/s,
  p50/p99/max latency, response size and errors (anything but 200/304); once plain, once
  sending If-None-Match with the last ETag (answers are 304 until the rows change).

  {STREAM_TARGET} (SSE) with {", ".join(map(str, SSE_STEPS[:5]))}, ... clients up to --sse-max
  (and the open-files limit), {SSE_MEASURE_S:g} s each once all have their snapshot: the largest
  count at which every client gets an update at least every {MAX_GAP_S:g} s and the p99 delay from
  the update's "as_of" to its arrival is at most {MAX_P99_DELAY_S:g} s. The delay is split into the
  frame's own (as_of to its first arrival at any client) and the fan-out (from there to each
  later arrival), the part that grows with the number of clients.

The clients run in their own process on the same machine, so they compete with the service for
the CPUs; the API's and the clients' CPU use is printed beside every figure. Prints one table and
writes JSON (machine, versions, parameters, figures) to --output."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S, help="seconds measured per GET /v1/kpis variant (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS, help="concurrent polling clients (default: %(default)s)")
    parser.add_argument("--queues", type=int, default=DEFAULT_QUEUES, help="simulated queues (default: %(default)s)")
    parser.add_argument("--rate-scale", type=float, default=1.0, help="simulated arrival rate multiplier; at 1.0 each queue gets 20-240 contacts/h, at every hour (flat load) (default: %(default)s)")
    parser.add_argument("--sse-max", type=int, default=DEFAULT_SSE_MAX, help="most SSE clients tried (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON result file (default: bench/results/api-latest.json)")


@dataclass(frozen=True)
class Options:
    duration: float
    clients: int
    queues: int
    rate_scale: float
    sse_max: int
    output: Path
    config: str | None

    @classmethod
    def of(cls, args: argparse.Namespace) -> Options:
        return cls(args.duration, args.clients, args.queues, args.rate_scale, args.sse_max, args.output, args.config)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(bench(Options.of(args)))


def raise_fd_limit() -> int:
    """Raise this process's open-files soft limit to the hard one (children inherit it); return the limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def sse_steps(sse_max: int, fd_limit: int) -> list[int]:
    """The client counts to try: the standard ramp below the cap, then the cap itself."""
    cap = min(sse_max, fd_limit - FD_MARGIN)
    return [n for n in SSE_STEPS if n < cap] + [cap]


def machine() -> dict[str, Any]:
    """What the figures depend on besides the code: CPUs, Python and the HTTP stack uvicorn picks."""

    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "fastapi": version("fastapi"),
        "starlette": version("starlette"),
        "uvicorn": version("uvicorn"),
        # uvicorn uses httptools and uvloop when installed, else h11 and the asyncio loop.
        "http_parser": "httptools" if version("httptools") else f"h11 {version('h11')}",
        "event_loop": "uvloop" if version("uvloop") else "asyncio",
        "load_average_1m_at_start": os.getloadavg()[0],
    }


async def run_load(kind: str, spec: PollSpec | StreamSpec) -> dict[str, Any]:
    """Run one load in its own process (bench.loadgen) and return its JSON result."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", json.dumps({"kind": kind, **asdict(spec)}),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), LOAD_TIMEOUT_S)
    if process.returncode != 0:
        raise RuntimeError(f"load generator ({kind}) failed with code {process.returncode}: {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


async def measure_polls(service: Service, options: Options) -> dict[str, Any]:
    results = {}
    for variant, etag in (("plain", False), ("if_none_match", True)):
        spec = PollSpec(HOST, service.api_port, KPIS_TARGET, options.clients, WARMUP_S, options.duration, etag, service.api_pid)
        print(f"  GET {KPIS_TARGET} ({variant}): {options.clients} clients, {WARMUP_S:.0f} s warm-up + {options.duration:.0f} s", flush=True)
        results[variant] = await run_load("poll", spec)
    return results


def stream_verdict(step: dict[str, Any]) -> list[str]:
    """Why a stream step fails the criterion; empty when every client was served well enough."""
    reasons = []
    if step["connected"] < step["clients"]:
        reasons.append(f"{step['clients'] - step['connected']} not connected")
    if step["lost"]:
        reasons.append(f"{step['lost']} dropped")
    if step["clients_over_gap"]:
        reasons.append(f"{step['clients_over_gap']} with a gap > {MAX_GAP_S} s")
    delay = step["delay_s"]
    if delay is None:
        reasons.append("no updates")
    elif delay["p99"] > MAX_P99_DELAY_S:
        reasons.append(f"p99 delay {delay['p99']:.2f} s > {MAX_P99_DELAY_S} s")
    return reasons


async def wait_for_connections_closed(service: Service, baseline: int) -> None:
    """Start each step from an API without the previous step's connections (they close asynchronously)."""

    async def closed() -> bool:
        return open_files(service.api_pid) <= baseline + CLOSED_SLACK

    await eventually(closed, 60, "the API to close the previous step's SSE connections")


async def measure_streams(service: Service, steps: list[int]) -> dict[str, Any]:
    """Ramp SSE clients until a count fails the criterion; the largest passing count is the figure."""
    baseline = open_files(service.api_pid)
    results: list[dict[str, Any]] = []
    for clients in steps:
        await wait_for_connections_closed(service, baseline)
        print(f"  {STREAM_TARGET}: {clients} clients", flush=True)
        connect_timeout = 30 + clients / 50
        spec = StreamSpec(
            HOST, service.api_port, STREAM_TARGET, clients, connect_timeout, SSE_MEASURE_S, MAX_GAP_S,
            CONNECT_CONCURRENCY, service.api_pid,
        )  # fmt: skip
        step = await run_load("stream", spec)
        step["failed_because"] = stream_verdict(step)
        results.append(step)
        if step["failed_because"]:
            break
    passed = [step["clients"] for step in results if not step["failed_because"]]
    return {"steps": results, "max_clients": max(passed, default=0), "all_steps_passed": len(passed) == len(results)}


def notes(result: dict[str, Any]) -> list[str]:
    """Caveats a reader needs next to the figures."""
    cpus = result["machine"]["cpu_count"]
    found = [
        f"{cpus} CPUs shared by the API, worker, broker, simulator and the load generator: the client competes "
        "with the server for CPU, so these figures are lower bounds for a server with the machine to itself.",
        f"clients are closed-loop (a new request as soon as the previous answer is read); latency is that of one "
        f"request among {result['parameters']['clients']} in flight.",
        f"simulated traffic ran on the flat load profile (every hour at the peak rate) times rate scale "
        f"{result['parameters']['rate_scale']}, so the figures do not depend on the hour they were measured at.",
    ]
    busy = result["machine"]["load_average_1m_at_start"]
    if busy > IDLE_LOAD_AVERAGE:
        found.append(f"the machine was not idle: load average {busy:.1f} before the service started.")
    failing = [s for s in result["sse"]["steps"] if s["failed_because"]]
    if failing:
        found += stream_limit_notes(failing[-1])
    return found


def stream_limit_notes(step: dict[str, Any]) -> list[str]:
    """What limited the first failing SSE step, as far as the figures tell."""
    found = []
    if step["client_cpu_percent"] >= CLIENT_BOUND_PERCENT:
        found.append(
            f"at {step['clients']} SSE clients the load generator used {step['client_cpu_percent']:.0f}% of a CPU: "
            "the client may be the limit, so the SSE figure is a lower bound."
        )
    delay, fanout = step["delay_s"], step["fanout_s"]
    if delay and fanout and fanout["p99"] < delay["p99"] / 2:
        found.append(
            f"at {step['clients']} SSE clients most of the p99 delay ({delay['p99']:.2f} s) came before the first "
            f"client had the update (fan-out p99 only {fanout['p99']:.2f} s): computing the frame, the API's event "
            "loop still busy with the previous one, or waiting for a CPU, rather than sending to many clients."
        )
    return found


def ms(value: float) -> str:
    return f"{value * 1000:.1f}"


def poll_row(label: str, clients: int, run: dict[str, Any]) -> list[str]:
    latency = run["latency_s"] or {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    statuses = ", ".join(f"{code}: {n}" for code, n in run["statuses"].items())
    return [
        label, str(clients), f"{run['requests_per_s']:.1f}", ms(latency["p50"]), ms(latency["p99"]), ms(latency["max"]),
        str(run["errors"]), f"{run['api_cpu_percent']:.0f}%", f"{run['client_cpu_percent']:.0f}%", statuses,
    ]  # fmt: skip


def stream_row(step: dict[str, Any]) -> list[str]:
    delay = step["delay_s"] or {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    gap = step["gap_s"]["max"] if step["gap_s"] else float("nan")
    fanout = step["fanout_s"]["p99"] if step["fanout_s"] else float("nan")
    verdict = "; ".join(step["failed_because"]) or "pass"
    return [
        "/v1/stream", str(step["clients"]), f"{step['updates'] / step['wall_s']:.1f}", ms(delay["p50"]), ms(delay["p99"]),
        ms(delay["max"]), str(step["connect_failures"] + step["lost"]), f"{step['api_cpu_percent']:.0f}%",
        f"{step['client_cpu_percent']:.0f}%",
        f"{verdict} (max gap {gap:.2f} s, fan-out p99 {ms(fanout)} ms, {step['megabytes_per_s']:.0f} MB/s)",
    ]  # fmt: skip


def table(rows: list[list[str]]) -> str:
    header = ["test", "clients", "rate/s", "p50 ms", "p99 ms", "max ms", "errors", "API CPU", "client CPU", "result"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(w) if i in (0, len(row) - 1) else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def report(result: dict[str, Any]) -> str:
    params, served, kpis, sse = result["parameters"], result["service"], result["kpis"], result["sse"]
    size = kpis["plain"]["body_bytes_mean"] or 0
    rows = [
        poll_row("GET /v1/kpis", params["clients"], kpis["plain"]),
        poll_row("GET /v1/kpis If-None-Match", params["clients"], kpis["if_none_match"]),
        *(stream_row(step) for step in sse["steps"]),
    ]
    return "\n".join([
        f"cxpulse API benchmark: {served['queues']} queues, {served['rows']} rows per GET {KPIS_TARGET} "
        f"({size / 1000:.0f} kB), {params['duration_s']:.0f} s per GET run, {SSE_MEASURE_S:.0f} s per SSE step",
        table(rows),
        "rate/s: answers/s for GET, update events/s over all clients for /v1/stream; "
        "ms: answer latency for GET, delay from the update's as_of to its arrival for /v1/stream",
        f"SSE clients one API process holds (every client an update at least every {MAX_GAP_S} s, "
        f"p99 delay <= {MAX_P99_DELAY_S} s): {sse['max_clients']}"
        + (" or more (every count tried passed; raise --sse-max)" if sse["all_steps_passed"] else ""),
        *(f"note: {note}" for note in result["notes"]),
    ])  # fmt: skip


async def measure(service: Service, options: Options, steps: list[int]) -> dict[str, Any]:
    """Start the service, wait for its data, run every load; the figures without machine and parameters."""
    started = time.monotonic()
    await service.start(START_TIMEOUT_S)
    serving_s = time.monotonic() - started
    loaded = await service.wait_until_loaded(LOAD_TIMEOUT_S)
    loaded_s = time.monotonic() - started
    print(f"  serving after {serving_s:.1f} s; {loaded['queues']} queues and backfill counted after {loaded_s:.1f} s", flush=True)
    kpis = await measure_polls(service, options)
    sse = await measure_streams(service, steps)
    return {"service": {"serving_after_s": serving_s, "loaded_after_s": loaded_s, **loaded}, "kpis": kpis, "sse": sse}


def parameters(service: Service, options: Options, steps: list[int], fd_limit: int) -> dict[str, Any]:
    return {
        "command": ["cxpulse", *service.command()[3:]],
        "queues": options.queues,
        "rate_scale": options.rate_scale,
        "load": service.load,
        "backfill_minutes": service.backfill_minutes,
        "clients": options.clients,
        "warmup_s": WARMUP_S,
        "duration_s": options.duration,
        "kpis_target": KPIS_TARGET,
        "stream_target": STREAM_TARGET,
        "sse_steps": steps,
        "sse_measure_s": SSE_MEASURE_S,
        "sse_max_gap_s": MAX_GAP_S,
        "sse_max_p99_delay_s": MAX_P99_DELAY_S,
        "open_files_limit": fd_limit,
    }


async def bench(options: Options) -> int:
    started = time.monotonic()
    facts = machine()
    fd_limit = raise_fd_limit()
    steps = sse_steps(options.sse_max, fd_limit)
    service = Service(options.queues, options.rate_scale, backfill_minutes=BACKFILL_MINUTES, config=options.config)
    print(f"starting: {' '.join(service.command())}  (log: {service.log_path})", flush=True)
    try:
        figures = await measure(service, options, steps)
    except (RuntimeError, TimeoutError, OSError, ValueError) as exc:
        print(f"cxpulse bench api: {exc}; service log and data kept in {service.workdir}", file=sys.stderr)
        return 1
    finally:
        stop_code = await service.stop(STOP_TIMEOUT_S)
    service.clean_up()
    result: dict[str, Any] = {
        "suite": NAME,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_seconds": round(time.monotonic() - started, 1),
        "machine": facts,
        "parameters": parameters(service, options, steps, fd_limit),
        **figures,
    }
    result["service"]["stop_code"] = stop_code
    result["notes"] = notes(result)
    print(report(result))
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {options.output} ({result['run_seconds']:.0f} s)")
    return 0
