"""cxpulse as separate processes on free ports (broker, topics, API, one worker), for ``cxpulse bench pipeline``.

Separate processes rather than ``cxpulse run``, because the pipeline figures need what ``run`` does in one
go taken apart: events published before the worker exists, the worker started at a known moment, and its
own pid for memory and profiles. Each process runs the ``cxpulse`` command a user would run, with an
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
from typing import Any

from bench.rawhttp import fetch
from bench.service import HOST, eventually, free_port
from service.broker import wait_for_port

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

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.broker_port}"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CXPULSE_")}
        if self.config:
            env["CXPULSE_CONFIG"] = self.config
        env.update(
            CXPULSE_BROKER=self.bootstrap,
            CXPULSE_API__HOST=HOST,
            CXPULSE_API__PORT=str(self.api_port),
            CXPULSE_WORKER__METRICS_HOST=HOST,
            CXPULSE_WORKER__METRICS_PORT=str(self.metrics_port),
            CXPULSE_WORKER__APP_ID=f"cxpulse-bench-{self.name}-{os.getpid()}",
            CXPULSE_WORKER__DATA_DIR=str(self.workdir / "worker-data"),
            **self.settings,
        )
        return env

    def log_path(self, role: str) -> Path:
        return self.workdir / f"{role}.log"

    async def _spawn(self, role: str, *args: str) -> asyncio.subprocess.Process:
        with open(self.log_path(role), "ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "service.cli", *args, env=self.environment(), stdout=log, stderr=log
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
        """Start the worker; its pid and the wall-clock moment it was started."""
        started = time.time()
        process = await self._spawn("worker", "worker")
        return process.pid, started

    async def get_json(self, target: str) -> Any:
        response = await fetch(HOST, self.api_port, target)
        if response.status != 200:
            raise ValueError(f"{target}: status {response.status}")
        return json.loads(response.body)

    async def processed(self) -> dict[tuple[str, int], int]:
        """Per source partition, the offset the served numbers include (GET /v1/status)."""
        status = await self.get_json("/v1/status")
        return {(p["topic"], p["partition"]): int(p["processed_offset"]) for p in status["partitions"]}

    async def worker_samples(self) -> list[tuple[str, float]]:
        """The worker's Prometheus samples as (metric name without labels, value)."""
        response = await fetch(HOST, self.metrics_port, "/metrics")
        samples = []
        for line in response.body.decode().splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                samples.append((series.split("{", 1)[0], float(value)))
        return samples

    async def worker_metrics(self) -> dict[str, float]:
        """The worker's metrics summed over labels (``name`` -> total)."""
        totals: dict[str, float] = {}
        for name, value in await self.worker_samples():
            totals[name] = totals.get(name, 0.0) + value
        return totals

    def worker_milestones(self) -> dict[str, float]:
        """Wall-clock moments (epoch s) of the worker's start-up steps, read from its JSON log."""
        found: dict[str, float] = {}
        with open(self.log_path("worker"), encoding="utf-8", errors="replace") as log:
            for line in log:
                for name, text in WORKER_MILESTONES.items():
                    if name not in found and text in line and line.startswith("{"):
                        found[name] = log_time(line)
                if len(found) == len(WORKER_MILESTONES):
                    break
        return found

    def worker_pid(self) -> int:
        return self.processes["worker"].pid

    def worker_alive(self) -> bool:
        process = self.processes.get("worker")
        return process is not None and process.returncode is None

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


def log_time(line: str) -> float:
    """The ``ts`` of a cxpulse JSON log line as epoch seconds."""
    stamp = json.loads(line)["ts"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
