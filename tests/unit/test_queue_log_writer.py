"""The simulator's traffic written as an Asterisk queue_log and read back by the adapter: the voice
KPIs must be those of the simulator's own events (computed by tests/reference.py from them), with
waits and talk times in the whole seconds a queue_log has."""

from __future__ import annotations

import io
from typing import Any

import pytest

from adapters.asterisk import AsteriskReader, QueueLogMapper
from adapters.queue_log import QueueLogParser
from adapters.queue_log_writer import QueueLogWriter, write_paced
from adapters.simulator import generate
from tests import reference

START = 1_767_261_600.0  # 2026-01-01T10:00:00Z


def test_simulated_calls_survive_the_round_trip_through_a_queue_log() -> None:
    events = list(generate(START, 2 * 3600, seed=3))
    lines = list(QueueLogWriter().lines(events))
    read = AsteriskReader(QueueLogParser("pipe"), QueueLogMapper())
    batch = read.read((number, line.encode()) for number, line in enumerate(lines, start=1))
    assert batch.bad == []
    assert read.mapper.skipped["RINGNOANSWER"] > 0

    voice = [e for e in events if e.get("channel") == "voice" and e["type"] != "contact.wrapup_ended"]
    # What a queue_log keeps: whole seconds, and talk plus hold as the call time.
    rounded = []
    for event in voice:
        kept = {**event, "time": _whole_second(event["time"])}
        if "wait_s" in event:
            kept["wait_s"] = round(event["wait_s"])
        if event["type"] == "contact.ended":
            kept["talk_s"], kept["hold_s"] = round(event["talk_s"] + event["hold_s"]), 0
        rounded.append(kept)
    window = (START - 60, START + 3 * 3600)
    want = reference.compute(rounded, *window)
    got = reference.compute(batch.events, *window)
    queues = {e["queue"] for e in voice}
    assert queues == {"billing", "support", "sales", "retention"}
    for queue in queues:
        for kpi in ("offered", "answered", "abandoned", "handled", "asa_s", "avg_abandon_wait_s", "aht_s", "service_level"):
            assert got[(queue, "voice")][kpi] == pytest.approx(want[(queue, "voice")][kpi]), (queue, kpi)
    assert got[("billing", "voice")]["offered"] > 100


def _whole_second(text: str) -> str:
    """'2026-01-01T10:00:05.250Z' -> '2026-01-01T10:00:05Z': the log's epoch seconds."""
    return text.split(".")[0].rstrip("Z") + "Z"


def test_writing_follows_event_time() -> None:
    events: list[dict[str, Any]] = [
        {"type": "contact.offered", "time": "2026-01-01T10:00:00Z", "contact_id": "c1", "customer_id": "555",
         "queue": "q", "channel": "voice"},
        {"type": "contact.offered", "time": "2026-01-01T10:00:30Z", "contact_id": "c2", "customer_id": None,
         "queue": "q", "channel": "voice"},
        {"type": "contact.offered", "time": "2026-01-01T10:00:30Z", "contact_id": "x", "customer_id": None,
         "queue": "q", "channel": "chat"},
    ]  # fmt: skip
    now = [START + 10]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    out = io.StringIO()
    assert write_paced(out, events, clock=lambda: now[0], sleep=sleep) == 2
    assert slept == [20], "the first call was due already; the second 20 s later; chats are not in a queue_log"
    assert out.getvalue() == f"{int(START)}|c1|q|NONE|ENTERQUEUE||555|1\n{int(START) + 30}|c2|q|NONE|ENTERQUEUE|||1\n"
