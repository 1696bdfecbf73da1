"""A real Alertmanager (Debian's /usr/bin/prometheus-alertmanager) for tests, and a webhook receiver.

``Alertmanager`` runs on a free loopback port with a temp config and storage, clustering off, and
is ready when /-/ready answers 200 (the ``Daemon`` of tests/integration/prometheus.py does the
spawning, waiting and stopping). ``WebhookReceiver`` is a minimal HTTP server on asyncio streams
that records every POSTed JSON body with the path it was posted to, so a test can route each
Alertmanager receiver to its own path and see which receiver was notified.

    async with WebhookReceiver() as hooks, Alertmanager("am", config) as am:
        await am.alerts()
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import yaml

from tests.integration.prometheus import Daemon

DEPLOYED_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "alertmanager" / "alertmanager.yml"


@dataclass
class Alertmanager(Daemon):
    """``config`` is the alertmanager.yml content as a dict (or YAML text)."""

    config: dict[str, Any] | str = field(default_factory=dict)
    binary = "/usr/bin/prometheus-alertmanager"

    def prepare(self, directory: Path) -> None:
        text = self.config if isinstance(self.config, str) else yaml.safe_dump(self.config, sort_keys=False)
        (directory / "alertmanager.yml").write_text(text)
        (directory / "data").mkdir()

    def arguments(self, directory: Path) -> list[str]:
        return [
            f"--config.file={directory / 'alertmanager.yml'}",
            f"--storage.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # a single instance: no gossip port, no peers to wait for
            "--log.level=warn",
        ]

    async def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """GET /api/v2/alerts (active, silenced and inhibited alike), narrowed by label equality filters."""
        params = [("filter", f'{name}="{value}"') for name, value in filters.items()]
        return await self.get_json("/api/v2/alerts", params)


def config_for_test(
    webhook_base: str,
    timings: dict[str, str],
    source: Path = DEPLOYED_CONFIG,
) -> dict[str, Any]:
    """The deployed alertmanager.yml with only configuration swapped for a test: every webhook URL
    points at ``webhook_base``/<receiver name>, and the route timings in ``timings`` (group_wait,
    group_interval, repeat_interval) replace the deployed ones wherever a route sets them.
    Routing, grouping, inhibition and send_resolved stay as deployed."""
    config = copy.deepcopy(yaml.safe_load(source.read_text()))
    for receiver in config["receivers"]:
        kinds = {key for key in receiver if key.endswith("_configs")}
        assert kinds <= {"webhook_configs"}, f"receiver {receiver['name']} uses {kinds}: a test cannot stand in for it"
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = f"{webhook_base.rstrip('/')}/{receiver['name']}"

    def retime(route: dict[str, Any], top: bool) -> None:
        for key, value in timings.items():
            if top or key in route:
                route[key] = value
        for child in route.get("routes", []):
            retime(child, False)

    retime(config["route"], True)
    return config


@dataclass
class Notification:
    path: str
    received: float  # time.monotonic()
    body: dict[str, Any]

    @property
    def receiver(self) -> str:
        return self.path.strip("/")

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return list(self.body.get("alerts", []))


@dataclass
class WebhookReceiver:
    """Records POSTed JSON bodies; answers 200 to each, one request per connection."""

    host: str = "127.0.0.1"
    port: int = 0
    notifications: list[Notification] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _server: asyncio.base_events.Server | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        status = "200 OK"
        try:
            request_line = (await reader.readline()).decode("latin-1").strip()
            if not request_line:
                return
            method, path, _ = request_line.split(" ", 2)
            headers: dict[str, str] = {}
            while True:
                line = (await reader.readline()).decode("latin-1")
                if line in ("\r\n", "\n", ""):
                    break
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if method != "POST":
                status = "405 Method Not Allowed"
            else:
                try:
                    self.notifications.append(Notification(path, time.monotonic(), json.loads(body)))
                except ValueError as exc:
                    self.errors.append(f"{path}: not JSON ({exc}): {body[:200]!r}")
                    status = "400 Bad Request"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            self.errors.append(f"bad request: {exc!r}")
        finally:
            writer.close()

    def matching(self, predicate: Callable[[Notification], bool]) -> list[Notification]:
        return [n for n in self.notifications if predicate(n)]
