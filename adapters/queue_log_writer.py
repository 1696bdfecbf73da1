"""Contract events written back as an Asterisk queue_log, so a demo (or a benchmark) can be fed through
``cxpulse ingest asterisk`` exactly as a real PBX's log would be.

Only voice contacts exist in a queue_log. Each becomes the lines app_queue.c writes for it: ENTERQUEUE
(the customer id as caller id), CONNECT (holdtime), ABANDON (waittime), and COMPLETECALLER or
COMPLETEAGENT (holdtime|calltime|origpos, alternating by call so both appear). The log counts whole
seconds and has no hold or after-contact work of its own: the calltime is talk plus hold, rounded, and
wrap-ups and surveys are left out. A few RINGNOANSWER lines (every seventh answered call first rang an
agent who did not pick up) make the log look like a real one; the ingest skips them.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Iterator, TextIO

from streams.contract import parse_time


class QueueLogWriter:
    """Turns contract events (in event-time order) into queue_log lines, remembering each call's wait
    until its end line needs it."""

    def __init__(self) -> None:
        self._waits: dict[str, int] = {}
        self._calls = 0

    def lines(self, events: Iterable[dict[str, Any]]) -> Iterator[str]:
        for event in events:
            if event.get("channel") == "voice":
                yield from self._lines(event)

    def _lines(self, event: dict[str, Any]) -> Iterator[str]:
        kind = event["type"]
        head = f"{int(parse_time(event['time']))}|{event['contact_id']}|{event['queue']}"
        agent = event.get("agent_id") or "NONE"
        if kind == "contact.offered":
            yield f"{head}|NONE|ENTERQUEUE||{event.get('customer_id') or ''}|1"
        elif kind == "contact.answered":
            wait = round(event.get("wait_s", 0))
            self._waits[event["contact_id"]] = wait
            self._calls += 1
            if self._calls % 7 == 0:
                yield f"{head}|{agent}-missed|RINGNOANSWER|15000"
            yield f"{head}|{agent}|CONNECT|{wait}|{event['contact_id']}-agent|3"
        elif kind == "contact.abandoned":
            yield f"{head}|NONE|ABANDON|1|1|{round(event.get('wait_s', 0))}"
        elif kind == "contact.ended":
            wait = self._waits.pop(event["contact_id"], 0)
            talk = round(event.get("talk_s", 0) + event.get("hold_s", 0))
            who = "COMPLETEAGENT" if len(event["contact_id"]) % 2 else "COMPLETECALLER"
            yield f"{head}|{agent}|{who}|{wait}|{talk}|1"


def write_paced(out: TextIO, events: Iterable[dict[str, Any]], clock: Any = time.time, sleep: Any = time.sleep) -> int:
    """Append each event's lines once the clock reaches its time (a live log for ``--follow``), those
    already due at once; flushed as they go. Returns the number of lines."""
    writer = QueueLogWriter()
    written = 0
    for event in events:
        delay = parse_time(event["time"]) - clock()
        if delay > 0:
            out.flush()
            sleep(delay)
        for line in writer.lines([event]):
            out.write(line + "\n")
            written += 1
    out.flush()
    return written
