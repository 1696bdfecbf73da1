"""``cxpulse run``: starts broker, topics, worker, API (and simulator), and stops all of them on exit.

Children run in their own process groups, so Ctrl-C reaches only this supervisor, which then stops
them in reverse order; the kernel's parent-death signal stops them too if the supervisor is killed.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field

from service.broker import broker_command, wait_for_port
from service.settings import Settings
from service.topics import ensure_topics

log = logging.getLogger("cxpulse.run")

_PR_SET_PDEATHSIG = 1
STOP_TIMEOUT_S = 15.0


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Supervisor:
    settings: Settings
    config_path: str | None
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        if self.config_path:
            env["CXPULSE_CONFIG"] = self.config_path
        env["CXPULSE_BROKER"] = self.settings.bootstrap
        process = subprocess.Popen(
            argv, env=env, stdout=sys.stderr.fileno(), start_new_session=True, preexec_fn=_die_with_parent
        )
        self.children.append((name, process))
        log.info("started", extra={"child": name, "pid": process.pid})
        return process

    def cxpulse(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        return self.spawn(name, [sys.executable, "-m", "service.cli", *args])

    def stop_all(self) -> None:
        for name, process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in reversed(self.children):
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("did not stop in time, killing", extra={"child": name, "pid": process.pid})
                process.kill()
                process.wait()
            log.info("stopped", extra={"child": name, "code": process.returncode})
        self.children.clear()


async def _wait_for_http(url: str, timeout_s: float) -> None:
    import httpx

    deadline = asyncio.get_running_loop().time() + timeout_s
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(url)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")
            await asyncio.sleep(0.1)


async def _first_exit(supervisor: Supervisor, stop: asyncio.Event) -> str | None:
    """Name of the child that exited on its own, or None when a stop signal came first."""
    while not stop.is_set():
        for name, process in supervisor.children:
            if process.poll() is not None:
                return name
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except asyncio.TimeoutError:
            pass
    return None


async def run(settings: Settings, config_path: str | None, simulate: bool, simulate_args: list[str]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    supervisor = Supervisor(settings, config_path)
    try:
        if settings.embedded:
            supervisor.spawn("broker", broker_command(settings.broker.host, settings.broker.port))
            await wait_for_port(settings.broker.host, settings.broker.port, 30)
        await ensure_topics(settings)
        supervisor.cxpulse("worker", "worker")
        supervisor.cxpulse("api", "api")
        base_url = f"http://{settings.api.host}:{settings.api.port}"
        await _wait_for_http(f"{base_url}/healthz", 60)
        if simulate:
            supervisor.cxpulse("simulator", "simulate", *simulate_args)
        worker_metrics = (
            f", worker metrics http://{settings.worker.metrics_host}:{settings.worker.metrics_port}/metrics"
            if settings.worker.metrics_port
            else ""
        )
        print(
            f"cxpulse is serving at {base_url}  (wallboard {base_url}/wallboard, KPIs {base_url}/v1/kpis, docs {base_url}/docs, "
            f"metrics {base_url}/metrics{worker_metrics}); Ctrl-C stops everything",
            flush=True,
        )
        exited = await _first_exit(supervisor, stop)
        if exited is not None:
            log.error("a process exited; stopping the others", extra={"child": exited})
            return 1
        return 0
    finally:
        supervisor.stop_all()
