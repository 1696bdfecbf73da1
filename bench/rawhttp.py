"""A deliberately small HTTP/1.1 client over asyncio streams, for load generation.

Python HTTP clients spend more CPU per request than the server under test does, and on a 2-core
machine the client shares the CPUs with the server: a full-featured client would measure itself.
This one writes a fixed GET request and reads only what the benchmark needs (status, headers, a
Content-Length body, or a chunked event stream); anything else is a ``ProtocolError``, counted as an
error rather than silently accepted.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable


class ProtocolError(Exception):
    """The server answered something this client does not read; the benchmark counts it as an error."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def request_bytes(host: str, port: int, target: str, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """A keep-alive GET request, encoded once per distinct header set instead of per request."""
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of a response head (status line and header lines)."""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ProtocolError(f"not an HTTP/1.x status line: {status_line!r}")
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


class Connection:
    """One keep-alive connection; requests on it are sequential, as a polling dashboard's are."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def get(self, request: bytes) -> Response:
        """Send a request from ``request_bytes`` and read the whole response."""
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status, headers = parse_head(head[:-4])
        if status == 304 or status == 204:
            return Response(status, headers, b"")
        length = headers.get("content-length")
        if length is None:
            raise ProtocolError(f"status {status} without Content-Length")
        return Response(status, headers, await self._reader.readexactly(int(length)))

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass


async def fetch(host: str, port: int, target: str) -> Response:
    """One request on a fresh connection: for the bench's own readiness probes, not for load."""
    connection = await Connection.open(host, port)
    try:
        return await connection.get(request_bytes(host, port, target, [("Connection", "close")]))
    finally:
        await connection.close()


# -- Server-Sent Events ----------------------------------------------------------------------------

AS_OF = re.compile(rb'"as_of"\s*:\s*"([^"]+)"')
EVENT_ENDS = (b"\n\n", b"\r\n\r\n")


def split_event(buffer: bytearray) -> bytes | None:
    """Remove and return the first complete SSE event (without its blank line), or None if none is complete."""
    found = [(at, len(end)) for end in EVENT_ENDS if (at := buffer.find(end)) >= 0]
    if not found:
        return None
    at, size = min(found)
    event = bytes(buffer[:at])
    del buffer[: at + size]
    return event


def event_fields(event: bytes) -> tuple[str, int | None]:
    """The ``event:`` name (``message`` when absent, the SSE default; empty for blocks without data, like
    ``retry:``) and the ``id:`` as a number (the server's frame sequence), if any."""
    name, frame, has_data = "", None, False
    for line in event.splitlines():
        if line.startswith(b"event:"):
            name = line[6:].strip().decode()
        elif line.startswith(b"id:"):
            frame = int(line[3:])
        else:
            has_data = has_data or line.startswith(b"data:")
    if not has_data:
        return "", frame
    return name or "message", frame


def event_as_of(event: bytes) -> float | None:
    """The ``as_of`` of an event's JSON data as epoch seconds, found without parsing the whole (large) JSON."""
    match = AS_OF.search(event)
    return None if match is None else datetime.fromisoformat(match.group(1).decode()).timestamp()


@dataclass(frozen=True)
class Arrival:
    """One event as a client saw it: when it arrived (epoch s), its name, id and the server's ``as_of``."""

    at: float
    name: str
    frame: int | None
    as_of: float | None


class StreamClient(asyncio.Protocol):
    """One SSE connection read as an ``asyncio.Protocol``: no StreamReader copies, just event boundaries.

    Decodes chunked transfer coding (what a streaming ASGI response uses) and records an ``Arrival``
    per event. ``settled`` is set once the first ``snapshot`` event is in (``has_snapshot``) or the
    connection is gone, whichever comes first.
    """

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.arrivals: list[Arrival] = []
        self.bytes_received = 0
        self.error: str | None = None
        self.closed = False
        self.has_snapshot = False
        self.settled = asyncio.Event()
        self._head = bytearray()
        self._chunked: bool | None = None
        self._raw = bytearray()
        self._events = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.bytes_received += len(data)
        try:
            if self._chunked is None:
                data = self._read_head(data)
            if self._chunked:
                self._raw += data
                self._dechunk()
            else:
                self._events += data
            self._dispatch(time.time())
        except (ProtocolError, ValueError) as exc:
            self.fail(str(exc))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.has_snapshot:
            self.error = self.error or f"closed before the snapshot: {exc!r}"
        self.settled.set()

    def fail(self, reason: str) -> None:
        self.error = self.error or reason
        if self._transport is not None:
            self._transport.close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _read_head(self, data: bytes) -> bytes:
        """Collect the response head; return the body bytes that came with it (nothing until the head is whole)."""
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            return b""
        status, headers = parse_head(bytes(self._head[:end]))
        if status != 200:
            raise ProtocolError(f"status {status}")
        if not headers.get("content-type", "").startswith("text/event-stream"):
            raise ProtocolError(f"content-type {headers.get('content-type')!r}")
        self._chunked = "chunked" in headers.get("transfer-encoding", "")
        rest = bytes(self._head[end + 4 :])
        self._head.clear()
        return rest

    def _dechunk(self) -> None:
        """Move every complete chunk's payload from the raw buffer to the event buffer."""
        raw = self._raw
        while True:
            line_end = raw.find(b"\r\n")
            if line_end < 0:
                return
            size = int(bytes(raw[:line_end]).split(b";")[0], 16)
            if size == 0:
                raise ProtocolError("the server ended the stream")
            start = line_end + 2
            if len(raw) < start + size + 2:
                return
            self._events += raw[start : start + size]
            del raw[: start + size + 2]

    def _dispatch(self, now: float) -> None:
        while (event := split_event(self._events)) is not None:
            name, frame = event_fields(event)
            if not name:
                continue
            self.arrivals.append(Arrival(now, name, frame, event_as_of(event)))
            if name == "snapshot" and not self.has_snapshot:
                self.has_snapshot = True
                self.settled.set()
