"""The service under test, started the way a user starts it (``cxpulse run --simulate``) on free ports.

Its environment is this one without the developer's CXPULSE_* settings, so a benchmark measures the
defaults a user gets (plus ``--config`` when the bench is given one). It runs in the current directory,
as a user's would (relative paths in a config file mean the same); its log and Faust's data directory
go to a scratch directory that is removed after a good run and kept when something went wrong.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

from adapters.simulator import queue_profiles
from bench.procfs import child_with_args
from bench.rawhttp import fetch

HOST = "127.0.0.1"
POLL_INTERVAL_S = 0.5
# Live simulated traffic keeps a few records in flight at any moment, so "caught up" cannot mean a lag
# of exactly zero; a backfill still being counted is tens of thousands of records behind.
SETTLED_LAG = 500
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout_s: float, what: str) -> T:
    """Poll until the probe returns something truthy; fail naming what never happened (no blind sleeps)."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    what_failed = "nothing: no time left to probe"
    while time.monotonic() < deadline:
        try:
            last = await probe()
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            last = None
            what_failed = repr(exc)
        else:
            what_failed = repr(last)
        if last:
            return last
        await asyncio.sleep(POLL_INTERVAL_S)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}; last seen: {what_failed}")


@dataclass
class Service:
    queues: int
    rate_scale: float
    backfill_minutes: float
    config: str | None = None
    # Flat, never diurnal: the benchmark must see the same traffic at 03:00 as at 11:00 UTC.
    load: str = "flat"
    api_port: int = field(default_factory=free_port)
    broker_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cxpulse-bench-")))
    process: asyncio.subprocess.Process | None = None
    api_pid: int = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / "service.log"

    def command(self) -> list[str]:
        config = ["--config", self.config] if self.config else []
        return [
            sys.executable, "-m", "service.cli", *config, "run", "--simulate", "--ephemeral",
            "--queues", str(self.queues), "--rate-scale", str(self.rate_scale),
            "--backfill-minutes", str(self.backfill_minutes), "--load", self.load,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CXPULSE_")}
        env.update(
            CXPULSE_BROKER__PORT=str(self.broker_port),
            CXPULSE_API__PORT=str(self.api_port),
            CXPULSE_WORKER__METRICS_PORT=str(self.metrics_port),
            CXPULSE_SENTIMENT__METRICS_PORT=str(free_port()),
            CXPULSE_WORKER__APP_ID=f"cxpulse-bench-{os.getpid()}",
            CXPULSE_WORKER__DATA_DIR=str(self.workdir / "worker-data"),
        )
        return env

    async def start(self, timeout_s: float) -> None:
        """Start ``cxpulse run`` and return once it prints that it serves; find the API process for CPU figures."""
        with open(self.log_path, "wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(), env=self.environment(), stdout=asyncio.subprocess.PIPE, stderr=log
            )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout_s)
        if b"serving at" not in line:
            raise RuntimeError(f"cxpulse run did not start: {line!r}; see {self.log_path}")
        api_pid = child_with_args(self.process.pid, "service.cli", "api")
        if api_pid is None:
            raise RuntimeError("cxpulse run serves, but its API process was not found")
        self.api_pid = api_pid

    async def get_json(self, target: str) -> Any:
        response = await fetch(HOST, self.api_port, target)
        if response.status != 200:
            raise ValueError(f"{target}: status {response.status}")
        return json.loads(response.body)

    async def wait_until_loaded(self, timeout_s: float) -> dict[str, Any]:
        """Wait until the API lists every simulated queue, has /v1/kpis rows for each, and the backfill is counted."""
        expected = {profile.name for profile in queue_profiles(self.queues)}

        async def queues_listed() -> bool:
            listed = {item["queue"] for item in (await self.get_json("/v1/queues"))["items"]}
            return expected <= listed

        async def rows_served() -> dict[str, Any] | None:
            rows = (await self.get_json("/v1/kpis?window=15m"))["items"]
            return {"rows": len(rows)} if expected <= {row["queue"] for row in rows} else None

        async def backfill_counted() -> dict[str, Any] | None:
            status = await self.get_json("/v1/status")
            return status if status["ready"] and status["lag"] <= SETTLED_LAG else None

        deadline = time.monotonic() + timeout_s
        await eventually(queues_listed, timeout_s, f"/v1/queues to list the {len(expected)} simulated queues")
        served = await eventually(rows_served, deadline - time.monotonic(), "/v1/kpis rows for every simulated queue")
        status = await eventually(backfill_counted, deadline - time.monotonic(), f"/v1/status lag <= {SETTLED_LAG}")
        return {"queues": len(expected), "rows": served["rows"], "events_processed": status["events_processed"]}

    async def stop(self, timeout_s: float) -> int | None:
        """Ctrl-C, as a user stops it; kill only if it does not stop in time (its children die with it)."""
        if self.process is None or self.process.returncode is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGINT)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout_s)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            return None

    def clean_up(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
