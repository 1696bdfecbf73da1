"""``cxpulse bench asterisk``: how fast ``cxpulse ingest asterisk`` reads a queue_log.

A queue_log of simulated calls (the simulator's voice queues written by adapters.queue_log_writer, with
its RINGNOANSWER lines) is written to a scratch file. Two figures, in lines per second:
1. parse + map: the file read the way the ingest reads it (adapters.follow in one-shot mode, the parser,
   the mapper) with nothing published; the best of --repeat runs, since a shared machine only ever
   slows a run down.
2. with publishing: the whole ``ingest()`` of that file to an embedded broker started for the run (every
   event acknowledged by the broker, one event per record, as the ingest publishes); one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from adapters.asterisk import AsteriskReader, QueueLogMapper
from adapters.asterisk_ingest import IngestOptions, ingest
from adapters.follow import Follower
from adapters.queue_log import QueueLogParser
from adapters.queue_log_writer import QueueLogWriter
from adapters.simulator import generate, queue_profiles
from bench.pipeline import machine
from bench.service import HOST, free_port

NAME = "asterisk"
DEFAULT_LINES = 250_000
DEFAULT_REPEAT = 3
DEFAULT_SEED = 7
TARGET_LINES_PER_S = 50_000
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_OUTPUT = RESULTS / "asterisk-latest.json"
SUMMARY = f"""\
queue_log lines/s read by `cxpulse ingest asterisk` from a file of {DEFAULT_LINES:,} simulated lines: parsed and
mapped without a broker (target {TARGET_LINES_PER_S:,}/s), and published to an embedded broker."""
DESCRIPTION = (__doc__ or "").partition("\n\n")[2] + "\nPrints a table and writes JSON (machine, parameters, figures) to --output."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES, help="queue_log lines in the file (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="parse + map runs, the best reported (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="simulation seed (default: %(default)s)")
    parser.add_argument("--no-broker", action="store_true", help="measure parse + map only")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON result file (default: bench/results/asterisk-latest.json)")


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="cxpulse-bench-asterisk-") as scratch:
        log = Path(scratch) / "queue_log"
        written = write_log(log, args.lines, args.seed)
        best = max((parse_and_map(log) for _ in range(max(1, args.repeat))), key=lambda run: run["lines_per_s"])
        published = None if args.no_broker else asyncio.run(with_broker(log))
    result: dict[str, Any] = {
        "machine": machine(),
        "parameters": {"lines": written, "repeat": args.repeat, "seed": args.seed},
        "parse_map": best,
        "published": published,
        "target": {"lines_per_s": TARGET_LINES_PER_S, "met": best["lines_per_s"] >= TARGET_LINES_PER_S},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(report(result))
    return 0


def write_log(path: Path, lines: int, seed: int) -> int:
    """At least ``lines`` lines of simulated calls (48 queues, their voice ones), cut at a whole call."""
    writer = QueueLogWriter()
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for line in writer.lines(generate(START, None, seed=seed, queues=queue_profiles(48))):
            out.write(line + "\n")
            written += 1
            if written >= lines:
                break
    return written


def parse_and_map(path: Path) -> dict[str, Any]:
    reader = AsteriskReader(QueueLogParser(), QueueLogMapper())
    follower = Follower(path)
    events = 0
    started = time.perf_counter()
    while lines := follower.read_to_end():
        events += len(reader.read((line.number, line.raw) for line in lines).events)
    seconds = time.perf_counter() - started
    follower.close()
    return {"lines": reader.lines, "events": events, "bad": sum(reader.bad.values()), "seconds": seconds,
            "lines_per_s": reader.lines / seconds}  # fmt: skip


async def with_broker(path: Path) -> dict[str, Any]:
    from service.broker import broker_command, wait_for_port
    from service.settings import load_settings
    from service.topics import ensure_topics

    port = free_port()
    broker = await asyncio.create_subprocess_exec(
        *broker_command(HOST, port), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await wait_for_port(HOST, port, 60)
        settings = load_settings(None, environ={})
        settings.kafka.bootstrap = f"{HOST}:{port}"
        await ensure_topics(settings)
        started = time.perf_counter()
        reader = await ingest(settings.bootstrap, IngestOptions(path=path))
        seconds = time.perf_counter() - started
    finally:
        broker.terminate()
        await broker.wait()
    events = sum(reader.mapper.events.values())
    return {"lines": reader.lines, "events": events, "seconds": seconds, "lines_per_s": reader.lines / seconds,
            "events_per_s": events / seconds}  # fmt: skip


def report(result: dict[str, Any]) -> str:
    parse = result["parse_map"]
    rows = [
        f"queue_log file: {result['parameters']['lines']:,} lines, {parse['events']:,} events, {parse['bad']} unreadable",
        f"parse + map:       {parse['lines_per_s']:>10,.0f} lines/s (best of {result['parameters']['repeat']}; target "
        f"{TARGET_LINES_PER_S:,}: {'met' if result['target']['met'] else 'NOT met'})",
    ]
    published = result["published"]
    if published:
        rows.append(f"with publishing:   {published['lines_per_s']:>10,.0f} lines/s ({published['events_per_s']:,.0f} events/s acknowledged by the embedded broker)")
    return "\n".join(rows)

