"""A real cxpulse started the way a user starts it: ``cxpulse run`` in a subprocess, on free ports."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence, TypeVar

import httpx
from aiokafka import AIOKafkaProducer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout_s: float, what: str) -> T:
    """Await until the probe returns something other than None/False; fail naming what never happened."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; last seen: {last!r}")


async def produce(
    bootstrap: str, records: Sequence[tuple[str, bytes | None, bytes | None]], max_request_size: int = 1_048_576
) -> None:
    """Publish (topic, key, value) records one by one, each acknowledged, with a plain aiokafka producer
    (``max_request_size`` above aiokafka's default for records larger than cxpulse's own producer sends)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=max_request_size)
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def cxpulse_environment(**variables: str) -> dict[str, str]:
    """This process's environment without the developer's own CXPULSE_* settings, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXPULSE_")}
    env.update(variables)
    return env


def descendants(pid: int) -> set[int]:
    """Every live process below pid, from /proc (children keep their parent even in their own session)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Stack:
    name: str
    extra_args: list[str] = field(default_factory=list)
    config: Path | None = None
    broker_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    sentiment_metrics_port: int = field(default_factory=free_port)
    # Each stack journals into its own directory unless a test shares one between runs on purpose.
    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cxpulse-stack-")))
    process: asyncio.subprocess.Process | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def worker_metrics(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def environment(self) -> dict[str, str]:
        env = cxpulse_environment(
            CXPULSE_BROKER__PORT=str(self.broker_port),
            CXPULSE_API__PORT=str(self.api_port),
            CXPULSE_WORKER__METRICS_PORT=str(self.metrics_port),
            CXPULSE_SENTIMENT__METRICS_PORT=str(self.sentiment_metrics_port),
            CXPULSE_WORKER__APP_ID=f"cxpulse-{self.name}",
            CXPULSE_BROKER__DATA_DIR=str(self.data_dir),
        )
        if self.config is not None:
            env["CXPULSE_CONFIG"] = str(self.config)
        return env

    @property
    def log_path(self) -> Path:
        return ARTIFACTS / f"{self.name}.log"

    async def start(self, timeout_s: float = 90) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        log = open(self.log_path, "wb")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "service.cli", "run", *self.extra_args,
            env=self.environment(), stdout=asyncio.subprocess.PIPE, stderr=log,
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout_s)
        assert b"serving at" in line, f"cxpulse run did not start: {line!r}; see {log.name}"
        assert f"http://127.0.0.1:{self.api_port}".encode() in line

        async def serving() -> bool:
            # The API answers 503 until it has read the snapshot topics to their end: a test starts
            # then (another answer, such as a 401 where reading needs a token, also means it is up).
            return (await self.get("/v1/kpis")).status_code != 503

        await eventually(serving, timeout_s, "GET /v1/kpis to answer other than 503 (the API ready to serve)")

    async def stop(self, sig: int = signal.SIGINT, timeout_s: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), timeout_s)

    async def get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.api, timeout=30) as client:
            return await client.get(path, params=params)

    async def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = await self.get(path, params)
        assert response.status_code == 200, response.text
        return response.json()
