"""``cxpulse ingest asterisk``: a queue_log file (read once, or followed) published as contract events.

Each round reads the lines there are, maps them, publishes the events and dead-letters the lines that
cannot be read, waits for the broker's acknowledgement of all of it, and only then saves the position
(with the calls in progress, the agents' states and the parser's layout), so a crash at any point re-reads at most the
round it was in. Re-read lines give the same event ids, which the worker drops as duplicates.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.errors import KafkaError
from prometheus_client import Counter

from adapters.asterisk import AsteriskReader, MappingOptions, QueueLogMapper
from adapters.follow import Follower, load_position, save_position
from adapters.publisher import Publisher
from adapters.queue_log import BadLine, QueueLogParser
from streams import deadletter, topics

log = logging.getLogger("cxpulse.asterisk")
RETRY_MAX_S = 30.0

LINES = Counter("cxpulse_asterisk_lines", "queue_log lines read (blank lines and CSV headers left out)")
BAD_LINES = Counter("cxpulse_asterisk_bad_lines", "queue_log lines that could not be read, sent to cx.deadletter", ["kind"])
SKIPPED = Counter("cxpulse_asterisk_skipped_events", "queue_log events with no contract v1 counterpart", ["event"])
BROKER_RETRIES = Counter(
    "cxpulse_asterisk_broker_retries", "rounds sent again because the broker did not acknowledge (reading paused meanwhile)"
)
PUBLISHED = Counter("cxpulse_asterisk_events_published", "contract events published from the queue_log", ["type"])


@dataclass(frozen=True)
class IngestOptions:
    """Everything ``cxpulse ingest asterisk`` takes besides the broker."""

    path: Path
    layout: str = "auto"
    timezone: str = "UTC"
    mapping: MappingOptions = field(default_factory=MappingOptions)
    ignore_events: frozenset[str] = frozenset()
    follow: bool = False
    position_file: Path | None = None
    poll_s: float = 0.25
    events_per_record: int = 1


async def ingest(bootstrap: str, options: IngestOptions, stop: asyncio.Event | None = None) -> AsteriskReader:
    """Publish the file's events until its end (or, following, until ``stop`` is set); returns the
    reader with its counts. The parser and the mapper are built first, so that a bad option fails
    before anything is published."""
    stop = stop or asyncio.Event()
    saved = load_position(options.position_file) if options.position_file else None
    parser = QueueLogParser(options.layout, options.timezone, options.ignore_events)
    state = saved.state if saved else {}
    mapper = QueueLogMapper(options.mapping, state.get("open_calls") or {}, state.get("agents") or {})
    if saved:
        parser.restore(saved.state.get("parser") or {})
    reader = AsteriskReader(parser, mapper)
    follower = Follower(options.path, saved)
    try:
        async with Publisher(bootstrap, options.events_per_record) as publisher:
            while not stop.is_set():
                lines = follower.read() if options.follow else follower.read_to_end()
                if not lines:
                    if not options.follow:
                        break
                    await _wait(stop, options.poll_s)
                    continue
                lines_before, skipped_before = reader.lines, dict(mapper.skipped)
                batch = reader.read((line.number, line.raw) for line in lines)
                await _until_acknowledged(stop, lambda: _send(publisher, options.path, batch.events, batch.bad))
                _count(reader, reader.lines - lines_before, batch.events, batch.bad, skipped_before)
                if options.position_file:
                    state = {"open_calls": mapper.open_calls, "agents": mapper.agents.state(), "parser": parser.state()}
                    save_position(options.position_file, dataclasses.replace(follower.position, state=state))
    finally:
        follower.close()
    return reader


async def _send(publisher: Publisher, path: Path, events: list[dict[str, object]], bad: list[BadLine]) -> None:
    await publisher.publish(events)
    await _dead_letter(publisher, path, bad)


async def _until_acknowledged(stop: asyncio.Event, send: Callable[[], Awaitable[None]]) -> None:
    """Send one round until the broker acknowledges it. While the broker is away nothing more is read:
    the file is the buffer, and what is held in memory is bounded by one round. A round sent again
    after a partial acknowledgement repeats events the worker drops by their ids (dead letters may
    repeat)."""
    attempt = 0
    while True:
        try:
            await send()
            if attempt:
                log.info("the broker acknowledged again; reading goes on", extra={"attempts": attempt + 1})
            return
        except (KafkaError, TimeoutError) as exc:
            attempt += 1
            BROKER_RETRIES.inc()
            pause = min(RETRY_MAX_S, 0.5 * 2**attempt)
            log.warning("the broker did not acknowledge; reading is paused and the round will be sent again",
                        extra={"attempt": attempt, "retry_in_s": pause, "error": repr(exc)})  # fmt: skip
            await _wait(stop, pause)
            if stop.is_set():
                raise


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


async def _dead_letter(publisher: Publisher, path: Path, bad: list[BadLine]) -> None:
    for line in bad:
        log.warning(
            "unreadable queue_log line sent to the dead-letter topic",
            extra={"file": str(path), "line": line.line, "kind": line.kind, "reason": line.reason},
        )
    if bad:
        await publisher.publish_raw(
            topics.DEADLETTER,
            ((None, line.raw, deadletter.file_headers(line.kind, line.reason, str(path), line.line)) for line in bad),
        )


def _count(reader: AsteriskReader, lines: int, events: list[dict[str, object]], bad: list[BadLine], skipped_before: dict[str, int]) -> None:
    LINES.inc(lines)
    for line in bad:
        BAD_LINES.labels(line.kind).inc()
    for name, count in reader.mapper.skipped.items():
        if count != skipped_before.get(name, 0):
            SKIPPED.labels(name).inc(count - skipped_before.get(name, 0))
    for event in events:
        PUBLISHED.labels(str(event["type"])).inc()

