"""Contract events written back as an Asterisk queue_log, so a demo (or a benchmark) can be fed through
``cxpulse ingest asterisk`` exactly as a real PBX's log would be.

Only voice contacts and voice agents exist in a queue_log. A contact becomes the lines app_queue.c
writes for it: ENTERQUEUE (the customer id as caller id), CONNECT (holdtime), ABANDON (waittime),
RINGNOANSWER for each missed offer (its ring time from the contact's ``contact.ringing`` for that agent),
and COMPLETECALLER or COMPLETEAGENT (holdtime|calltime|origpos, alternating by call so both appear), or
BLINDTRANSFER when the agent transferred it. The log counts whole seconds and has no hold or
after-contact work of its own: the calltime is talk plus hold, rounded, and wrap-ups and surveys are
left out.

Agents are written as dynamic members, the way a PBX whose agents log in with a feature code logs them:
a login is ADDMEMBER to each of the agent's queues, a logout REMOVEMEMBER from each, a change of queues
the difference, ``aux`` PAUSEALL|reason followed by PAUSE|reason per queue (as app_queue.c writes a pause
without a queue) and its end UNPAUSEALL and UNPAUSE per queue. ``on_contact`` and ``after_contact_work``
need no line: CONNECT and the call's end say it (the reader is told the wrap-up, if any).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, TextIO

from streams.contract import parse_time

DEFAULT_RING_MS = 15_000


@dataclass
class _Agent:
    """What the log written so far says about one agent."""

    queues: list[str] = field(default_factory=list)  # the agent's queues, written or not
    logged_in: bool = False
    paused: str | None = None  # the pause reason while paused ("" for none)


class QueueLogWriter:
    """Turns contract events (in event-time order) into queue_log lines, remembering each call's wait
    until its end line needs it and each agent's membership and pause.

    A call's end waits until an event with a later time (or ``finish``), because its transfer, if
    any, may come just after it with the same time and changes the line."""

    def __init__(self) -> None:
        self._waits: dict[str, int] = {}
        self._calls = 0
        self._rings: dict[tuple[str, str], float] = {}
        self._transferred: set[str] = set()
        self._held: list[dict[str, Any]] = []
        self._agents: dict[str, _Agent] = {}
        self._channels: dict[str, str] = {}

    def lines(self, events: Iterable[dict[str, Any]], final: bool = True) -> Iterator[str]:
        for event in events:
            if self._held and parse_time(event["time"]) > parse_time(self._held[0]["time"]):
                yield from self.finish()
            kind = event["type"]
            if kind.startswith("agent."):
                # The contract gives an agent's channel once and carries it forward: a queue_log has
                # only the telephony agents.
                channel = self._channels[event["agent_id"]] = event.get("channel") or self._channels.get(event["agent_id"], "voice")
                if channel == "voice":
                    yield from self._agent_lines(event)
            elif event.get("channel") == "voice":
                yield from self._lines(event)
        if final:
            yield from self.finish()

    def finish(self) -> Iterator[str]:
        """The calls' end lines still held."""
        held, self._held = self._held, []
        for event in held:
            yield self._end_line(event)

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
            yield f"{head}|{agent}|CONNECT|{wait}|{event['contact_id']}-agent|3"
        elif kind == "contact.abandoned":
            yield f"{head}|NONE|ABANDON|1|1|{round(event.get('wait_s', 0))}"
        elif kind == "contact.ringing":
            self._rings[(event["contact_id"], agent)] = parse_time(event["time"])
        elif kind == "contact.missed":
            began = self._rings.pop((event["contact_id"], agent), None)
            ring_ms = DEFAULT_RING_MS if began is None else round((parse_time(event["time"]) - began) * 1000)
            yield f"{head}|{agent}|RINGNOANSWER|{ring_ms}"
        elif kind == "contact.transferred":
            self._transferred.add(event["contact_id"])
        elif kind == "contact.ended":
            self._held.append(event)

    def _end_line(self, event: dict[str, Any]) -> str:
        contact = event["contact_id"]
        head = f"{int(parse_time(event['time']))}|{contact}|{event['queue']}|{event.get('agent_id') or 'NONE'}"
        wait = self._waits.pop(contact, 0)
        talk = round(event.get("talk_s", 0) + event.get("hold_s", 0))
        if contact in self._transferred:
            self._transferred.discard(contact)
            return f"{head}|BLINDTRANSFER|2000|from-internal|{wait}|{talk}|1"
        who = "COMPLETEAGENT" if len(contact) % 2 else "COMPLETECALLER"
        return f"{head}|{who}|{wait}|{talk}|1"

    def _agent_lines(self, event: dict[str, Any]) -> Iterator[str]:
        agent = self._agents.setdefault(event["agent_id"], _Agent())
        epoch = int(parse_time(event["time"]))
        member = event["agent_id"]

        def line(queue: str, name: str, data: str = "") -> str:
            return f"{epoch}|{'MANAGER' if 'MEMBER' in name else 'NONE'}|{queue}|{member}|{name}|{data}"

        queues = event.get("queues")
        if queues is not None:
            if agent.logged_in:
                paused = "PAUSED" if agent.paused is not None else ""
                yield from (line(q, "REMOVEMEMBER") for q in agent.queues if q not in queues)
                yield from (line(q, "ADDMEMBER", paused) for q in queues if q not in agent.queues)
            agent.queues = list(queues)
        state = event.get("state")
        if state is None:
            return
        if state == "logged_out":
            if agent.logged_in:
                yield from (line(q, "REMOVEMEMBER") for q in agent.queues)
            agent.logged_in, agent.paused = False, None
            return
        if not agent.logged_in:
            agent.logged_in = True
            yield from (line(q, "ADDMEMBER") for q in agent.queues)
        if state == "aux":
            reason = event.get("reason") or ""
            if agent.paused != reason:
                agent.paused = reason
                yield line("NONE", "PAUSEALL", reason)
                yield from (line(q, "PAUSE", reason) for q in agent.queues)
        elif agent.paused is not None:
            agent.paused = None
            yield line("NONE", "UNPAUSEALL")
            yield from (line(q, "UNPAUSE") for q in agent.queues)


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
        for line in writer.lines([event], final=False):
            out.write(line + "\n")
            written += 1
    for line in writer.finish():
        out.write(line + "\n")
        written += 1
    out.flush()
    return written
