"""``cxpulse bench ingest``: how many events per second one API process takes over POST /v1/events,
and how long a batch waits for its 202 (which comes only after the broker's acknowledgement).

Measured against a real ``cxpulse run`` (broker, worker, API) with an ingest token, because the
answer waits for the broker and the worker folds everything posted: the figure is what a deployment
on this machine takes, not the HTTP layer alone. The clients run in their own process
(bench.ingest_load); their CPU use and the API's are reported with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from api.auth import INGEST, new_token, token_line
from bench.api import machine
from bench.ingest_load import IngestSpec
from bench.rawhttp import fetch
from bench.service import HOST, Service, eventually, free_port

NAME = "ingest"
DEFAULT_CLIENTS = 8
DEFAULT_BATCH = 100
DEFAULT_DURATION_S = 20.0
WARMUP_S = 3.0
BODIES = 200
TARGET_EVENTS_PER_S = 10_000
TARGET_P99_S = 0.100
START_TIMEOUT_S = 120.0
LOAD_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 60.0
ROLES = {"all": "the API of cxpulse run (serves KPIs too)", "ingest": "an API with api.role ingest"}
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "ingest-latest.json"

SUMMARY = f"""\
POST /v1/events with batches of {DEFAULT_BATCH} contract events from {DEFAULT_CLIENTS} concurrent clients: the events/s
one API process accepts back to back (202 after the broker's acknowledgement), and p50/p99 latency
to the 202 at {TARGET_EVENTS_PER_S:,} events/s (targets >= {TARGET_EVENTS_PER_S:,} events/s, p99 <= {TARGET_P99_S * 1000:.0f} ms)."""
DESCRIPTION = f"""\
Start `cxpulse run` on free ports with a tokens file holding one ingest token, and beside it a
second API process with `api.role: ingest` on the same broker (no snapshot reading, no KPI frames).
Against each, post batches of --batch simulated contract events (each pass over the {BODIES}
pre-encoded bodies with fresh ids) to /v1/events from --clients keep-alive clients for --duration
seconds after a {WARMUP_S:g} s warm-up: on a schedule of --rate events/s, each latency counted from
when its request was due (the p99 figure: latency at a rate, not at saturation, where it only
measures the queue), and back to back (the events/s figure). Paced runs go first, since a
saturation run leaves the worker a backlog. Reports accepted events/s, requests/s, p50/p99/max
latency to the 202, errors, the broker's share and the API's and clients' CPU use (they share the
machine with the broker and the worker, which folds every event posted). Writes JSON to --output."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS, help="concurrent posting clients (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="events per POST (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S, help="seconds measured per run (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=TARGET_EVENTS_PER_S, help="events/s of the paced run, whose p99 is the latency figure (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON result file (default: bench/results/ingest-latest.json)")


@dataclass
class IngestService(Service):
    """``cxpulse run`` without simulated traffic (the load is the traffic) and with an ingest token."""

    token: str = ""

    def command(self) -> list[str]:
        config = ["--config", self.config] if self.config else []
        return [sys.executable, "-m", "service.cli", *config, "run"]

    def environment(self) -> dict[str, str]:
        tokens = self.workdir / "tokens.yaml"
        tokens.write_text(token_line("bench", self.token, frozenset({INGEST})) + "\n")
        return {**super().environment(), "CXPULSE_API__TOKENS_FILE": str(tokens)}


def run(args: argparse.Namespace) -> int:
    return asyncio.run(bench(args))


async def start_ingest_only(service: IngestService) -> tuple[asyncio.subprocess.Process, int, int]:
    """A second API process with ``api.role: ingest`` on the same broker: no snapshot reading, no frames."""
    port = free_port()
    env = {**service.environment(), "CXPULSE_API__PORT": str(port), "CXPULSE_API__ROLE": "ingest"}
    with open(service.workdir / "ingest-api.log", "wb") as log:
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "service.cli", "api", env=env, stdout=log, stderr=log)
    await eventually(lambda: ready(port), START_TIMEOUT_S, "the ingest-only API to be ready")
    return process, port, process.pid


async def ready(port: int) -> bool:
    return (await fetch(HOST, port, "/readyz")).status == 200


async def measure(service: IngestService, args: argparse.Namespace) -> dict[str, Any]:
    await service.start(START_TIMEOUT_S)
    await eventually(lambda: ready(service.api_port), START_TIMEOUT_S, "the API to be ready")
    extra, extra_port, extra_pid = await start_ingest_only(service)
    targets = {"all": (service.api_port, service.api_pid), "ingest": (extra_port, extra_pid)}
    # Paced runs first: after a saturation run the worker has a backlog of a million events to fold,
    # and a paced run would measure that catching up rather than the steady state at its rate.
    plan = [("all", "paced"), ("ingest", "paced"), ("ingest", "saturation"), ("all", "saturation")]
    runs: dict[str, dict[str, Any]] = {"all": {}, "ingest": {}}
    try:
        for role, kind in plan:
            port, pid = targets[role]
            rate = float(args.rate) if kind == "paced" else 0.0
            spec = IngestSpec(HOST, port, service.token, args.clients, args.batch, BODIES, WARMUP_S, args.duration, pid, rate)
            pace = f"{rate:,.0f} events/s on schedule" if rate else "back to back"
            print(f"  POST /v1/events to {ROLES[role]}: {args.clients} clients, {args.batch} events per batch, {pace}, {WARMUP_S:.0f} s warm-up + {args.duration:.0f} s", flush=True)
            runs[role][kind] = await run_load(spec)
        runs["all"]["broker_mean_s"] = await broker_mean_seconds(service.api_port)
        runs["ingest"]["broker_mean_s"] = await broker_mean_seconds(extra_port)
    finally:
        extra.terminate()
        await extra.wait()
    return runs


async def run_load(spec: IngestSpec) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.ingest_load", json.dumps(asdict(spec)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), LOAD_TIMEOUT_S)
    if process.returncode != 0:
        raise RuntimeError(f"load generator failed with code {process.returncode}: {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


async def broker_mean_seconds(port: int) -> float | None:
    """The API's own histogram of send-to-acknowledgement time (warm-up included): how much of the
    latency is the broker's, as opposed to HTTP, validation and the event loop."""
    text = (await fetch(HOST, port, "/metrics")).body.decode()
    values = {}
    for line in text.splitlines():
        for name in ("sum", "count"):
            if line.startswith(f'cxpulse_ingest_broker_seconds_{name}{{source="events"}}'):
                values[name] = float(line.rsplit(" ", 1)[1])
    return values["sum"] / values["count"] if values.get("count") else None


def row(name: str, run: dict[str, Any]) -> str:
    latency = run["latency_s"] or {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return (
        f"  {name:<10} {run['events_per_s']:>9,.0f} events/s  {run['requests_per_s']:>7,.1f} req/s  "
        f"p50 {latency['p50'] * 1000:6.1f} ms  p99 {latency['p99'] * 1000:6.1f} ms  max {latency['max'] * 1000:6.1f} ms  "
        f"errors {run['errors']}  API CPU {run['api_cpu_percent']:.0f}%  client CPU {run['client_cpu_percent']:.0f}%  {run['statuses']}"
    )


def report(result: dict[str, Any]) -> str:
    load, params = result["load"], result["parameters"]
    lines = [f"cxpulse ingest benchmark: POST /v1/events, {params['batch']} events per batch, {params['clients']} clients, {params['duration_s']:.0f} s per run"]
    for role, label in ROLES.items():
        runs = load[role]
        p99 = (runs["paced"]["latency_s"] or {"p99": float("inf")})["p99"]
        lines += [
            f"{label}:",
            row("paced", runs["paced"]),
            row("saturation", runs["saturation"]),
            f"  events/s accepted: {runs['saturation']['events_per_s']:,.0f} (target {TARGET_EVENTS_PER_S:,}: "
            f"{'met' if runs['saturation']['events_per_s'] >= TARGET_EVENTS_PER_S else 'missed'}); p99 to the 202 at "
            f"{params['rate']:,.0f} events/s: {p99 * 1000:.1f} ms (target {TARGET_P99_S * 1000:.0f} ms: {'met' if p99 <= TARGET_P99_S else 'missed'}); "
            f"broker acknowledgement {(runs['broker_mean_s'] or float('nan')) * 1000:.1f} ms mean per request",
        ]
    lines.append(
        f"note: {result['machine']['cpu_count']} CPUs shared by both APIs, the broker, the worker (folding every event posted) "
        f"and the clients; load average {result['machine']['load_average_1m_at_start']:.1f} at start"
    )
    return "\n".join(lines)


async def bench(args: argparse.Namespace) -> int:
    started = time.monotonic()
    facts = machine()
    service = IngestService(queues=0, rate_scale=0.0, backfill_minutes=0.0, config=args.config, token=new_token())
    print(f"starting: {' '.join(service.command())}  (log: {service.log_path})", flush=True)
    try:
        load = await measure(service, args)
    except (RuntimeError, TimeoutError, OSError, ValueError) as exc:
        print(f"cxpulse bench ingest: {exc}; service log and data kept in {service.workdir}", file=sys.stderr)
        return 1
    finally:
        stop_code = await service.stop(STOP_TIMEOUT_S)
    service.clean_up()
    result = {
        "suite": NAME,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_seconds": round(time.monotonic() - started, 1),
        "machine": facts,
        "parameters": {
            "clients": args.clients, "batch": args.batch, "duration_s": args.duration, "warmup_s": WARMUP_S, "bodies": BODIES,
            "rate": args.rate,
        },
        "load": load,
        "stop_code": stop_code,
    }
    print(report(result))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output} ({result['run_seconds']:.0f} s)")
    return 0
