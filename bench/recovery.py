"""``cxpulse bench recovery``: how long counting stops when the worker of a ``cxpulse run`` is SIGKILLed.

``cxpulse run --simulate --ephemeral`` (embedded broker, demo traffic with its 15-minute backfill, so
the worker has state to restore) is started on free ports. Then, --kills times: once the supervisor's
standby worker is ready (or, with --cold, after killing that standby so a new process must start),
the worker is SIGKILLed and one offer of a queue of its own is published at once; the figure is the
time from the kill until ``/v1/kpis`` serves that offer (polled every 50 ms). With --uptime-minutes
the traffic (--rate-scale times the demo's) flows that long first: the state changelog a takeover
restores grows with it, since the embedded broker never compacts. The supervisor gives up
on a worker that dies more than 5 times in 5 minutes, so the kills are spread over several runs of
--per-run kills each.

Each kill is also cut into phases from the service's log (the supervisor's, the worker's and
aiokafka's JSON lines, timestamped to the millisecond): supervisor noticed the death, replacement
started (standby told to go, or new process), Faust starting (imports done), JoinGroup sent, joined
(the broker's answer), partitions assigned, worker ready (state table restored), a partition's
state rebuilt, the offer served by the API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from adapters.publisher import Publisher
from bench.pipeline import machine
from bench.rawhttp import fetch
from bench.service import HOST, Service
from bench.stats import percentile
from bench.tables import number, table
from service.supervisor import MAX_RESTARTS

NAME = "recovery"
DEFAULT_KILLS = 10
DEFAULT_PER_RUN = MAX_RESTARTS - 1
TARGET_S = 10.0
POLL_S = 0.05
START_TIMEOUT_S = 180.0
STANDBY_TIMEOUT_S = 90.0
COUNTED_TIMEOUT_S = 120.0
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_OUTPUT = RESULTS / "recovery-latest.json"
SUMMARY = f"""\
seconds from a worker SIGKILL under `cxpulse run` (embedded broker) to an offer published at the kill being
served, {DEFAULT_KILLS} kills: min/median/max (target under {TARGET_S:.0f} s), each phase from the logs."""
DESCRIPTION = (__doc__ or "").partition("\n\n")[2] + "\nPrints a table and writes JSON (machine, parameters, every kill) to --output."

Entry = dict[str, Any]
# In the order a takeover passes them; each is the first log entry after the previous one that matches.
PHASES: tuple[tuple[str, Callable[[Entry, int], bool]], ...] = (
    ("noticed", lambda e, pid: e["msg"] == "worker exited, restarting it" and e.get("pid") == pid),
    ("replacement started", lambda e, pid: e["msg"] == "standby worker took over"
     or (e["msg"] == "started" and e.get("child") == "worker")),
    ("Faust starting", lambda e, pid: e["msg"] == "[^Worker]: Starting..."),
    ("JoinGroup sent", lambda e, pid: e["msg"].startswith("(Re-)joining group")),
    ("joined", lambda e, pid: e["msg"].startswith("Joined group")),
    ("assigned", lambda e, pid: e["msg"] == "Executing _on_partitions_assigned"),
    ("worker ready", lambda e, pid: e["msg"] == "[^Worker]: Ready"),
    ("partition state rebuilt", lambda e, pid: e["msg"] == "partition state ready"),
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kills", type=int, default=DEFAULT_KILLS, help="worker SIGKILLs measured (default: %(default)s)")
    parser.add_argument("--per-run", type=int, default=DEFAULT_PER_RUN, help=f"kills per `cxpulse run` (at most {MAX_RESTARTS}, the supervisor's restart limit) (default: %(default)s)")
    parser.add_argument("--cold", action="store_true", help="kill the standby worker first: the worker is replaced by a new process")
    parser.add_argument("--rate-scale", type=float, default=1.0, help="demo traffic's rate, times the simulator's (default: %(default)s)")
    parser.add_argument("--uptime-minutes", type=float, default=0.0, help="let the traffic flow this long before the first kill of each run: the state changelog a takeover restores grows with it on the embedded broker, which never compacts (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON result file (default: bench/results/recovery-latest.json)")


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.per_run <= MAX_RESTARTS:
        print(f"cxpulse bench recovery: --per-run must be 1 to {MAX_RESTARTS}")
        return 2
    kills: list[dict[str, Any]] = []
    remaining = args.kills
    while remaining > 0:
        kills += asyncio.run(one_run(min(remaining, args.per_run), args, getattr(args, "config", None)))
        remaining -= args.per_run
    totals = [kill["seconds"] for kill in kills]
    result: dict[str, Any] = {
        "machine": machine(),
        "parameters": {"kills": args.kills, "per_run": args.per_run, "cold": args.cold, "rate_scale": args.rate_scale,
                       "uptime_minutes": args.uptime_minutes},
        "seconds": {"min": min(totals), "median": percentile(totals, 50), "max": max(totals)},
        "target": {"seconds": TARGET_S, "met": max(totals) < TARGET_S},
        "kills": kills,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(report(result))
    return 0


async def one_run(kills: int, args: argparse.Namespace, config: str | None) -> list[dict[str, Any]]:
    service = Service(queues=6, rate_scale=args.rate_scale, backfill_minutes=15, config=config)
    await service.start(START_TIMEOUT_S)
    found: list[dict[str, Any]] = []
    try:
        await service.wait_until_loaded(START_TIMEOUT_S)
        await asyncio.sleep(args.uptime_minutes * 60)  # the traffic flowing is what is waited for
        log = ServiceLog(service.log_path)
        async with Publisher(f"{HOST}:{service.broker_port}") as publisher:
            for _ in range(kills):
                found.append(await kill_once(service, log, publisher, args.cold))
                print(f"cxpulse bench recovery: kill {len(found)}: counted again after {found[-1]['seconds']:.2f} s", flush=True)
    except BaseException:
        print(f"cxpulse bench recovery: failed; the service's log is kept: {service.log_path}")
        raise
    finally:
        await service.stop(60)
    service.clean_up()
    return found


async def kill_once(service: Service, log: ServiceLog, publisher: Publisher, cold: bool) -> dict[str, Any]:
    standby = await log.wait_for_standby(STANDBY_TIMEOUT_S)
    if cold:
        os.kill(standby, signal.SIGKILL)
        await log.wait_for(lambda e: e["msg"].startswith("the standby worker exited") and e.get("pid") == standby,
                           STANDBY_TIMEOUT_S, "the supervisor to see the standby gone")  # fmt: skip
    worker = log.worker_pid()
    queue = f"recovery-{uuid.uuid4().hex[:8]}"
    killed_at = time.time()
    os.kill(worker, signal.SIGKILL)
    await publisher.publish([offer(queue, killed_at)])
    counted_at = await served(service, queue, COUNTED_TIMEOUT_S)
    log.read()
    return {
        "worker_pid": worker,
        "seconds": counted_at - killed_at,
        "phases": phases(log.entries_since(killed_at), worker, killed_at) | {"served": counted_at - killed_at},
    }


def offer(queue: str, at: float) -> dict[str, Any]:
    """A contract-v1 offer of a queue no other event uses, so its count says this event was served."""
    contact = uuid.uuid4().hex
    return {
        "event_id": f"recovery-{contact}", "type": "contact.offered",
        "time": datetime.fromtimestamp(at, tz=timezone.utc).isoformat(), "contact_id": contact,
        "customer_id": f"recovery-{contact}", "queue": queue, "channel": "voice",
    }  # fmt: skip


async def served(service: Service, queue: str, timeout_s: float) -> float:
    """When ``/v1/kpis`` first served the queue's offer (a 503 while the API catches up counts as not yet)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = await fetch(HOST, service.api_port, f"/v1/kpis?queue={queue}&channel=voice&window=60m")
        if response.status == 200 and any(item["offered"] for item in json.loads(response.body)["items"]):
            return time.time()
        await asyncio.sleep(POLL_S)
    raise TimeoutError(f"the offer of {queue} was not served within {timeout_s:.0f} s of the kill")


def phases(entries: Iterable[Entry], killed: int, killed_at: float) -> dict[str, float | None]:
    """Seconds from the kill to each phase of the takeover, None for a phase not in the log."""
    found: dict[str, float | None] = {name: None for name, _ in PHASES}
    pending = iter(PHASES)
    name, matches = next(pending)
    for entry in entries:
        if matches(entry, killed):
            found[name] = entry["at"] - killed_at
            step = next(pending, None)
            if step is None:
                break
            name, matches = step
    return found


def parse_line(line: str) -> Entry | None:
    """A JSON log line with its time as epoch seconds under ``at``; None for any other line (the broker's)."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict) or "ts" not in entry or "msg" not in entry:
        return None
    entry["at"] = datetime.strptime(entry["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
    return entry


@dataclass
class ServiceLog:
    """The ``cxpulse run`` log as it grows, read from where the last read stopped."""

    path: Path
    entries: list[Entry] = field(default_factory=list)
    _offset: int = 0

    def read(self) -> None:
        with self.path.open("rb") as file:
            file.seek(self._offset)
            data = file.read()
        complete = data.rfind(b"\n") + 1
        self._offset += complete
        for line in data[:complete].decode(errors="replace").splitlines():
            entry = parse_line(line)
            if entry is not None:
                self.entries.append(entry)

    def entries_since(self, at: float) -> list[Entry]:
        # Log times have milliseconds: an entry in the kill's own millisecond may follow it.
        return [entry for entry in self.entries if entry["at"] >= at - 0.001]

    def worker_pid(self) -> int:
        """The worker the supervisor started or handed over to last."""
        for entry in reversed(self.entries):
            if entry["msg"] == "standby worker took over" or (entry["msg"] == "started" and entry.get("child") == "worker"):
                return int(entry["pid"])
        raise LookupError(f"no worker started in {self.path}")

    async def wait_for(self, matches: Callable[[Entry], bool], timeout_s: float, what: str) -> Entry:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            self.read()
            for entry in self.entries[seen:]:
                if matches(entry):
                    return entry
            seen = len(self.entries)
            await asyncio.sleep(POLL_S)
        raise TimeoutError(f"waited {timeout_s:.0f} s for {what} in {self.path}")

    async def wait_for_standby(self, timeout_s: float) -> int:
        """The pid of a standby worker ready since the last kill (the supervisor starts one 10 s after a worker)."""
        self.read()
        kills = ("standby worker took over", "worker exited, restarting it")
        since = max((e["at"] for e in self.entries if e["msg"] in kills), default=0.0)
        ready = await self.wait_for(lambda e: e["msg"] == "standby worker ready to take over" and e["at"] >= since,
                                    timeout_s, "a standby worker ready")  # fmt: skip
        return int(ready["pid"])


def report(result: dict[str, Any]) -> str:
    seconds = result["seconds"]
    kills = result["kills"]
    names = [name for name, _ in PHASES] + ["served"]

    def median(name: str) -> float | None:
        values = [kill["phases"][name] for kill in kills if kill["phases"][name] is not None]
        return percentile(values, 50) if values else None

    rows = [[f"kill -> {name} (median)", number(median(name), 2, " s"), "", ""] for name in names]
    mode = "a new worker process (--cold)" if result["parameters"]["cold"] else "the standby worker"
    rows.append([f"kill -> offer served, {len(kills)} kills, replaced by {mode}",
                 f"min {seconds['min']:.2f}, median {seconds['median']:.2f}, max {seconds['max']:.2f} s",
                 f"< {TARGET_S:.0f} s", "met" if result["target"]["met"] else "MISSED"])  # fmt: skip
    return table(rows)
