"""cxpulse as separate processes on free ports (broker, topics, API, workers), for ``cxpulse bench pipeline``
and ``cxpulse bench scale``.

Separate processes rather than ``cxpulse run``, because the pipeline figures need what ``run`` does in one
go taken apart: events published before any worker exists, the workers started at a known moment, and
their own pids for memory and profiles. Several workers share one consumer group (one app id), each with
its own metrics port, data directory and log; the first is always the role ``worker``, so the
single-worker paths (``worker_pid``, ``log_path("worker")``) read the same whether or not others run. Each process runs the ``cxpulse`` command a user would run, with an
environment cleared of the developer's CXPULSE_* settings (``--config`` is passed on) and its log in a
scratch directory that is removed after a good run and kept when something went wrong.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable

from bench.rawhttp import fetch
from bench.service import HOST, eventually, free_port
from service.broker import wait_for_port

WORKER = "worker"
STOP_TIMEOUT_S = 30.0
START_TIMEOUT_S = 60.0
# The moments of a worker's start, by the first log line that shows each (Faust 0.15's own messages).
WORKER_MILESTONES = {
    "worker_starting": "[^Worker]: Starting...",
    "partitions_assigned": "Executing _on_partitions_assigned",
    "worker_ready": "[^Worker]: Ready",
    "first_partition_state": "partition state ready",
}


@dataclass
class Cluster:
    """One broker with its topics, and the API and worker processes started against it."""

    name: str
    config: str | None
    settings: dict[str, str] = field(default_factory=dict)
    broker_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cxpulse-bench-pipeline-")))
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    # The metrics port of each worker role started (the first worker's is ``metrics_port``).
    metrics_ports: dict[str, int] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.broker_port}"

    def environment(self, role: str = WORKER) -> dict[str, str]:
        """The settings every process gets; the worker ones (metrics port, data directory) are the role's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CXPULSE_")}
        if self.config:
            env["CXPULSE_CONFIG"] = self.config
        env.update(
            CXPULSE_BROKER=self.bootstrap,
            CXPULSE_API__HOST=HOST,
            CXPULSE_API__PORT=str(self.api_port),
            CXPULSE_WORKER__METRICS_HOST=HOST,
            CXPULSE_WORKER__METRICS_PORT=str(self.metrics_ports.get(role, self.metrics_port)),
            CXPULSE_WORKER__APP_ID=f"cxpulse-bench-{self.name}-{os.getpid()}",
            CXPULSE_WORKER__DATA_DIR=str(self.workdir / f"{role}-data"),
            **self.settings,
        )
        return env

    def log_path(self, role: str) -> Path:
        return self.workdir / f"{role}.log"

    async def _spawn(self, role: str, *args: str) -> asyncio.subprocess.Process:
        with open(self.log_path(role), "ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "service.cli", *args, env=self.environment(role), stdout=log, stderr=log
            )
        self.processes[role] = process
        return process

    async def start(self) -> None:
        """Broker and topics, then the API once the topics exist; the worker is started separately."""
        await self._spawn("broker", "broker", "--port", str(self.broker_port))
        await wait_for_port(HOST, self.broker_port, START_TIMEOUT_S)
        topics = await self._spawn("topics", "topics")
        if await asyncio.wait_for(topics.wait(), START_TIMEOUT_S) != 0:
            raise RuntimeError(f"cxpulse topics failed; see {self.log_path('topics')}")
        del self.processes["topics"]
        await self._spawn("api", "api")

        async def ready() -> bool:
            return (await fetch(HOST, self.api_port, "/readyz")).status == 200

        await eventually(ready, START_TIMEOUT_S, "the API to be ready (/readyz)")

    async def start_worker(self) -> tuple[int, float]:
        """Start one worker; its pid and the wall-clock moment it was started."""
        pids, started = await self.start_workers(1)
        return pids[0], started

    async def start_workers(self, count: int) -> tuple[list[int], float]:
        """Start ``count`` workers at once (one consumer group); their pids and the moment they were started."""
        started = time.time()
        pids = []
        for index in range(1, count + 1):
            role = worker_role(index)
            self.metrics_ports[role] = self.metrics_port if index == 1 else free_port()
            pids.append((await self._spawn(role, "worker")).pid)
        return pids, started

    @property
    def workers(self) -> list[str]:
        """The worker roles started, the first one first."""
        return [role for role in self.metrics_ports if role in self.processes]

    async def get_json(self, target: str) -> Any:
        response = await fetch(HOST, self.api_port, target)
        if response.status != 200:
            raise ValueError(f"{target}: status {response.status}")
        return json.loads(response.body)

    async def processed(self) -> dict[tuple[str, int], int]:
        """Per source partition, the offset the served numbers include (GET /v1/status)."""
        status = await self.get_json("/v1/status")
        return {(p["topic"], p["partition"]): int(p["processed_offset"]) for p in status["partitions"]}

    async def worker_samples(self, role: str = WORKER) -> list[tuple[str, float]]:
        """A worker's Prometheus samples as (metric name without labels, value)."""
        response = await fetch(HOST, self.metrics_ports.get(role, self.metrics_port), "/metrics")
        samples = []
        for line in response.body.decode().splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                samples.append((series.split("{", 1)[0], float(value)))
        return samples

    async def worker_metrics(self, role: str = WORKER) -> dict[str, float]:
        """A worker's metrics summed over labels (``name`` -> total)."""
        totals: dict[str, float] = {}
        for name, value in await self.worker_samples(role):
            totals[name] = totals.get(name, 0.0) + value
        return totals

    async def all_worker_metrics(self) -> dict[str, float]:
        """Every worker's metrics summed over labels and workers: the group's own account of a run."""
        totals: dict[str, float] = {}
        for role in self.workers:
            for name, value in (await self.worker_metrics(role)).items():
                totals[name] = totals.get(name, 0.0) + value
        return totals

    def worker_milestones(self, role: str = WORKER) -> dict[str, float]:
        """Wall-clock moments (epoch s) of a worker's start-up steps, read from its JSON log."""
        found: dict[str, float] = {}
        with open(self.log_path(role), encoding="utf-8", errors="replace") as log:
            for line in log:
                for name, text in WORKER_MILESTONES.items():
                    if name not in found and text in line and line.startswith("{"):
                        found[name] = log_time(line)
                if len(found) == len(WORKER_MILESTONES):
                    break
        return found

    def assignments(self, role: str) -> int:
        """How many partition assignments a worker's log shows: more than one is a rebalance it went through."""
        with open(self.log_path(role), encoding="utf-8", errors="replace") as log:
            return sum(1 for line in log if WORKER_MILESTONES["partitions_assigned"] in line)

    def worker_pid(self) -> int:
        return self.processes[WORKER].pid

    def exited_worker(self) -> str | None:
        """A started worker that is no longer running (its role), or None while all run."""
        return next((role for role in self.workers if self.processes[role].returncode is not None), None)

    async def stop(self) -> None:
        """SIGTERM (what an orchestrator sends) to the worker and API, then the broker; kill if one hangs."""
        for role in sorted(self.processes, key=lambda r: r == "broker"):
            process = self.processes.pop(role)
            if process.returncode is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                process.kill()
                await process.wait()

    def clean_up(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def worker_role(index: int) -> str:
    """The role (and log name) of the index-th worker, counted from 1: ``worker``, ``worker-2``, ..."""
    return WORKER if index == 1 else f"{WORKER}-{index}"


async def run_on(cluster: Cluster, what: str, work: Callable[[Cluster], Awaitable[list[str]]]) -> list[str]:
    """Start the cluster, do the work, stop it; the failures (an exception named by ``what``). Its logs
    are kept when something failed and removed otherwise."""
    failures: list[str] = []
    try:
        await cluster.start()
        failures += await work(cluster)
    except (RuntimeError, TimeoutError, OSError, ValueError) as exc:
        failures.append(f"{what}: {exc}")
    finally:
        await cluster.stop()
    if failures:
        print(f"  service logs kept in {cluster.workdir}", file=sys.stderr)
    else:
        cluster.clean_up()
    return failures


def log_time(line: str) -> float:
    """The ``ts`` of a cxpulse JSON log line as epoch seconds."""
    stamp = json.loads(line)["ts"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
