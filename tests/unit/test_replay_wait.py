"""``cxpulse replay --wait`` against a real HTTP server that misbehaves the way an API under faults
does: no answer at all, then 503, then a status saying the broker is unreachable, then counted."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from adapters.replay import WaitFailed, wait_until_counted

SENT = {("cx.calls", 0): 5}


def status(processed: int, reachable: bool) -> bytes:
    body = {
        "partitions": [{"topic": "cx.calls", "partition": 0, "processed_offset": processed}],
        "broker": {"reachable": reachable, "error": None if reachable else "no answer within 2 s"},
    }
    return json.dumps(body).encode()


def http(code: int, body: bytes) -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (code, len(body), body)


Script = list[bytes | None]  # one answer per request, None: never answer


async def serve(script: Script) -> tuple[asyncio.Server, str]:
    """Each connection reads requests and answers them from the script in turn; the last is repeated."""
    asked = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal asked
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:  # the client closed the connection
                return
            reply = script[min(asked, len(script) - 1)]
            asked += 1
            if reply is None:
                await asyncio.sleep(3600)
                return
            writer.write(reply)
            await writer.drain()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def api() -> AsyncIterator[Callable[[Script], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> str:
        server, url = await serve(script)
        servers.append(server)
        return url

    yield start
    for server in servers:
        server.close()


async def test_rides_out_silence_503_and_an_unreachable_broker(api: Callable[[Script], Awaitable[str]]) -> None:
    url = await api([None, http(503, b"{}"), http(200, status(2, False)), http(200, status(5, True))])
    out = io.StringIO()
    await wait_until_counted(url, SENT, timeout_s=60, out=out, request_timeout_s=0.3)
    assert out.getvalue().splitlines() == [
        f"cxpulse replay: the API at {url} does not answer (ReadTimeout); retrying",
        f"cxpulse replay: the API at {url} answered 503; retrying",
        "cxpulse replay: the API cannot reach the broker (no answer within 2 s); waiting",
        "cxpulse replay: the API and the broker answer again; waiting for the count",
    ]


async def test_a_refused_request_ends_the_wait_with_the_reason(api: Callable[[Script], Awaitable[str]]) -> None:
    url = await api([http(401, b'{"detail":"a bearer token is required"}')])
    with pytest.raises(WaitFailed, match=r"/v1/status answered 401: \{\"detail\":\"a bearer token is required\"\}"):
        await wait_until_counted(url, SENT, timeout_s=60, out=io.StringIO())


async def test_the_deadline_names_what_is_still_missing(api: Callable[[Script], Awaitable[str]]) -> None:
    url = await api([http(200, status(3, True))])
    with pytest.raises(WaitFailed, match=r"within 1 s; still missing \{'cx.calls/0': 2\}"):
        await wait_until_counted(url, SENT, timeout_s=1, out=io.StringIO())
