"""cxpulse as separate processes (broker, API, any number of workers) so tests can kill and restart
one of them, as an operator's orchestrator would."""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from adapters.publisher import Publisher
from adapters.replay import wait_until_counted
from service.broker import wait_for_port
from streams.topics import SOURCE_TOPICS
from tests.integration.stack import ARTIFACTS, cxpulse_environment, free_port


@dataclass
class Cluster:
    name: str
    config: Path
    partitions: int = 4
    broker_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    metrics_ports: dict[str, int] = field(default_factory=dict)
    published: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def environment(self, metrics_port: int = 0) -> dict[str, str]:
        return cxpulse_environment(
            CXPULSE_CONFIG=str(self.config),
            CXPULSE_BROKER=self.bootstrap,
            CXPULSE_KAFKA__PARTITIONS=str(self.partitions),
            CXPULSE_API__PORT=str(self.api_port),
            CXPULSE_WORKER__METRICS_PORT=str(metrics_port),
            CXPULSE_WORKER__APP_ID=f"cxpulse-{self.name}",
        )

    async def _spawn(self, role: str, *args: str, metrics_port: int = 0) -> asyncio.subprocess.Process:
        ARTIFACTS.mkdir(exist_ok=True)
        log = open(ARTIFACTS / f"{self.name}-{role}.log", "ab")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "service.cli", *args,
            env=self.environment(metrics_port), stdout=log, stderr=log, start_new_session=True,
        )
        self.processes[role] = process
        return process

    async def start(self, workers: int = 1) -> None:
        await self._spawn("broker", "broker", "--port", str(self.broker_port))
        await wait_for_port("127.0.0.1", self.broker_port, 30)
        topics = await self._spawn("topics", "topics")
        assert await topics.wait() == 0, "cxpulse topics failed"
        await self.start_api()
        for index in range(workers):
            await self.start_worker(f"worker-{index}")

    async def start_api(self) -> None:
        """Also after a kill: the port is the same, so clients keep their URL, as behind a load balancer."""
        await self._spawn("api", "api")
        await wait_for_port("127.0.0.1", self.api_port, 60)

    async def start_worker(self, role: str) -> None:
        port = self.metrics_ports.setdefault(role, free_port())
        await self._spawn(role, "worker", metrics_port=port)

    async def kill(self, role: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(role)
        process.send_signal(sig)
        await asyncio.wait_for(process.wait(), 60)

    async def stop(self) -> None:
        for role in [r for r in self.processes if r != "broker"] + (["broker"] if "broker" in self.processes else []):
            process = self.processes.pop(role)
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except asyncio.TimeoutError:
                    process.kill()
                    await process.wait()

    async def publish(self, events: list[dict[str, Any]]) -> None:
        async with Publisher(self.bootstrap) as publisher:
            for where, end in (await publisher.publish_tracked(events)).items():
                self.published[where] = max(self.published.get(where, 0), end)

    async def wait_counted(self, timeout_s: float = 240) -> float:
        """Until every published record is counted; returns the seconds that took."""
        return await wait_until_counted(self.api, self.published, timeout_s)

    async def committed(self) -> int:
        """Source offsets the worker group has committed, summed over all partitions."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=f"cxpulse-{self.name}", enable_auto_commit=False)
        await consumer.start()
        try:
            offsets = [
                await consumer.committed(TopicPartition(topic, p)) for topic in SOURCE_TOPICS for p in range(self.partitions)
            ]
        finally:
            await consumer.stop()
        return sum(offset or 0 for offset in offsets)

    async def processed(self) -> int:
        return int((await self.get("/v1/status"))["events_processed"])

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        async with httpx.AsyncClient(base_url=self.api, timeout=30) as client:
            response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    async def worker_metric(self, role: str, name: str) -> float:
        """The first series of ``name`` (the only one of an unlabelled metric)."""
        return (await self.worker_series(role, name))[0]

    async def worker_metric_total(self, role: str, name: str) -> float:
        """The sum of every series of ``name``, whatever its labels."""
        return sum(await self.worker_series(role, name))

    async def worker_series(self, role: str, name: str) -> list[float]:
        async with httpx.AsyncClient(timeout=10) as client:
            text = (await client.get(f"http://127.0.0.1:{self.metrics_ports[role]}/metrics")).text
        values = [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name + " ") or line.startswith(name + "{")
        ]
        assert values, f"{name} not exported by {role}"
        return values

    def rss_bytes(self, role: str) -> int | None:
        """Resident memory of a running role from /proc, None once it has exited."""
        process = self.processes.get(role)
        if process is None or process.returncode is not None:
            return None
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return None
