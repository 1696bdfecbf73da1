"""A real Prometheus (Debian's /usr/bin/prometheus) for tests: temp config and storage, a free loopback port.

``Daemon`` is the general part (spawn a binary with a temp directory, wait for an HTTP readiness path,
GET JSON, stop cleanly); ``Prometheus`` adds its flags and query helpers. Another daemon of the
Prometheus family (Alertmanager) is a subclass with its own ``binary`` and ``arguments()``.

    async with Prometheus("dash", {"scrape_configs": [...]}) as prom:
        await prom.query('up')
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx
import yaml

from tests.integration.stack import ARTIFACTS, eventually, free_port


@dataclass
class Daemon:
    """One HTTP daemon on 127.0.0.1:<port>, its files under a temp directory, its log in test-artifacts/."""

    name: str
    binary = "/usr/bin/true"
    ready_path = "/-/ready"
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = field(default=None, init=False)
    directory: Path | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return ARTIFACTS / f"{self.name}.log"

    def prepare(self, directory: Path) -> None:
        """Write the files the daemon reads (config) into its temp directory."""

    def arguments(self, directory: Path) -> list[str]:
        return []

    async def start(self, timeout_s: float = 30) -> None:
        if not Path(self.binary).exists():
            raise RuntimeError(f"{self.binary} is missing: run deploy/system-packages.sh")
        ARTIFACTS.mkdir(exist_ok=True)
        self.directory = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
        self.prepare(self.directory)
        with open(self.log_path, "wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                self.binary,
                *self.arguments(self.directory),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

        async def ready() -> bool:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"{self.binary} exited with {self.process.returncode}; see {self.log_path}")
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    return (await client.get(self.url + self.ready_path)).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            await eventually(
                ready, timeout_s, f"{self.name} ready at {self.url}{self.ready_path} (log: {self.log_path})"
            )
        except BaseException:
            await self.stop()
            raise

    async def stop(self, timeout_s: float = 20) -> int | None:
        code = None
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.wait_for(self.process.wait(), timeout_s)
            except TimeoutError:
                self.process.kill()
                code = await self.process.wait()
        elif self.process is not None:
            code = self.process.returncode
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
        return code

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def get_json(self, path: str, params: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.get(path, params=params)
        return response.json()


class PrometheusError(AssertionError):
    """The HTTP API answered status "error" (a bad expression, an unknown endpoint parameter)."""


@dataclass
class Prometheus(Daemon):
    """``config`` is the prometheus.yml content as a dict (or YAML text); rule files must be absolute paths."""

    config: dict[str, Any] | str = field(default_factory=dict)
    binary = "/usr/bin/prometheus"

    def prepare(self, directory: Path) -> None:
        text = self.config if isinstance(self.config, str) else yaml.safe_dump(self.config, sort_keys=False)
        (directory / "prometheus.yml").write_text(text)

    def arguments(self, directory: Path) -> list[str]:
        return [
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ]

    async def api(self, path: str, params: Any = None) -> Any:
        """GET /api/v1/<path>; returns "data" or raises PrometheusError with Prometheus's own message."""
        body = await self.get_json(f"/api/v1/{path}", params)
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params!r}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    async def query(self, expr: str, time: float | None = None) -> list[dict[str, Any]]:
        """Instant query; returns the result list (for a scalar or string result, a one-element list)."""
        params = {"query": expr} if time is None else {"query": expr, "time": str(time)}
        data = await self.api("query", params)
        result = data["result"]
        return result if data["resultType"] in ("vector", "matrix") else [{"metric": {}, "value": result}]

    async def targets(self, state: str = "active") -> list[dict[str, Any]]:
        return (await self.api("targets", {"state": state}))[f"{state}Targets"]

    async def series(self, match: str) -> list[dict[str, str]]:
        return await self.api("series", [("match[]", match)])

    async def label_values(self, label: str, match: str | None = None) -> list[str]:
        return await self.api(f"label/{label}/values", [("match[]", match)] if match else None)

    async def reload(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.post("/-/reload")
        assert response.status_code == 200, response.text

    async def all_targets_up(self) -> list[dict[str, Any]] | None:
        """The active targets when every one has been scraped successfully, else None (for ``eventually``)."""
        active = await self.targets()
        return active if active and all(t["health"] == "up" for t in active) else None
