"""Asterisk queue_log entries (``adapters.queue_log``) mapped to contract v1 voice and agent events.

A queued call is the log's ``callid`` (the caller channel's uniqueid): ``ENTERQUEUE`` is offered,
``CONNECT`` answered (its holdtime is ``wait_s``), ``ABANDON`` abandoned (its waittime), ``COMPLETECALLER``
/ ``COMPLETEAGENT`` and the transfers ended (their calltime is ``talk_s``: the agent's part of a
transferred call ends where the transfer happens); a transfer is also ``contact.transferred`` by its
agent, and ``RINGNOANSWER`` is ``contact.ringing`` (when the ring began) and ``contact.missed`` by that
member. The queue exits that are not a caller hanging up (``EXITWITHTIMEOUT``, ``EXITEMPTY``,
``EXITWITHKEY``, ``WITHDRAW``) follow ``ExitPolicy``: Asterisk's own queue statistics count them as
abandoned (``record_abandoned`` in app_queue.c, except the exit with a key), and so does this mapping by
default, because contract v1 has no other way to say that a call left the queue: an exit that is not
counted leaves the call "waiting" in the live figures until the worker forgets it.

Agents (the member field) are followed by ``adapters.asterisk_agents``: membership, pause and login
lines, and the calls' CONNECT and end lines, become ``agent.queues_changed`` and ``agent.state_changed``.

The log names the caller only in ``ENTERQUEUE`` (data2, the caller id); the mapper remembers it for
the call's later events in a bounded map of calls still in a queue or talking, so that every event of a
call has the same record key (the customer id) and lands on the customer's partition.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Iterable, Mapping

from adapters.asterisk_agents import AgentTracker, shifted
from adapters.queue_log import AGENT_EVENTS, BadLine, Entry, QueueLogParser

CHANNEL: Final = "voice"
ID_PREFIX: Final = "asterisk-"
NO_VALUE: Final = "NONE"
# The contract's limits (streams/schemas/contact-event.v1.schema.json), checked here so that a line
# the worker would refuse is reported with its line number instead.
MAX_ID: Final = 200


class ExitPolicy(str, Enum):
    """How a queue exit that is not a caller's hang-up is counted."""

    ABANDONED = "abandoned"  # contact.abandoned with the exit's wait: in the abandon rate and the live figures
    UNCOUNTED = "uncounted"  # nothing published: offered, never answered nor abandoned


EXITS: Final = ("EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY", "WITHDRAW")
DEFAULT_EXITS: Final[Mapping[str, ExitPolicy]] = {name: ExitPolicy.ABANDONED for name in EXITS}
# Where the caller's wait is among an exit's parameters (pos|origpos|waittime; the key comes first).
_EXIT_WAIT: Final = {"EXITWITHTIMEOUT": 2, "EXITEMPTY": 2, "EXITWITHKEY": 3, "WITHDRAW": 2, "ABANDON": 2}
# Where the agent's call time is: COMPLETE* holdtime|calltime|origpos; TRANSFER and BLINDTRANSFER
# exten|context|holdtime|calltime|origpos. ATTENDEDTRANSFER's destination takes one to three
# parameters, so its calltime is counted from the end.
_TALK_AT: Final = {"COMPLETECALLER": 1, "COMPLETEAGENT": 1, "TRANSFER": 3, "BLINDTRANSFER": 3, "ATTENDEDTRANSFER": -2}
_TRANSFERS: Final = frozenset({"TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER"})
_ENDS_A_CALL: Final = frozenset({*_EXIT_WAIT, *_TALK_AT})
DEFAULT_MAX_OPEN_CALLS: Final = 100_000


class BadData(ValueError):
    """A line whose event is known but whose parameters cannot make a contract event."""


@dataclass(frozen=True)
class MappingOptions:
    """What an operator may choose: how each exit counts, the channel name, how many calls the
    caller-id map may hold before it forgets the oldest, and each queue's wrap-up (Asterisk's
    ``wrapuptime``, seconds of after-contact work after each call; ``*`` for every other queue)."""

    exits: Mapping[str, ExitPolicy] = field(default_factory=lambda: dict(DEFAULT_EXITS))
    channel: str = CHANNEL
    max_open_calls: int = DEFAULT_MAX_OPEN_CALLS
    wrapup: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.exits) - set(EXITS)
        if unknown:
            raise ValueError(f"not a queue exit: {', '.join(sorted(unknown))} (exits are {', '.join(EXITS)})")
        if self.max_open_calls < 1:
            raise ValueError("max_open_calls must be at least 1")
        bad = [queue for queue, seconds in self.wrapup.items() if not 0 <= seconds <= 86_400]
        if bad:
            raise ValueError(f"wrap-up of {', '.join(bad)} must be 0 to 86400 seconds")


def parse_exit_policy(text: str) -> tuple[str, ExitPolicy]:
    """``EVENT=POLICY`` as the CLI takes it, e.g. ``EXITWITHKEY=uncounted``."""
    name, _, policy = text.partition("=")
    name = name.strip().upper()
    if name not in EXITS:
        raise ValueError(f"{name!r} is not a queue exit (one of {', '.join(EXITS)})")
    try:
        return name, ExitPolicy(policy.strip().lower())
    except ValueError:
        raise ValueError(f"{policy!r} is not a policy (one of {', '.join(p.value for p in ExitPolicy)})") from None


def parse_wrapup(text: str) -> tuple[str, float]:
    """``QUEUE=SECONDS`` as the CLI takes it, e.g. ``support=30`` or ``*=15``."""
    queue, _, seconds = text.partition("=")
    try:
        return queue.strip(), float(seconds)
    except ValueError:
        raise ValueError(f"{text!r} is not QUEUE=SECONDS") from None


class QueueLogMapper:
    """Maps entries in log order. It keeps the callers of open calls (``open_calls``) and the agents
    (``agents``), both restorable from a position file, and counts what it did: events per contract
    type, skipped log events per name, and callers forgotten because the map was full (their calls'
    later events have no customer id, so they are keyed by the call id and may land on another
    partition than the call's offer)."""

    def __init__(
        self, options: MappingOptions | None = None, open_calls: Mapping[str, str | None] | None = None,
        agents: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:  # fmt: skip
        self.options = options or MappingOptions()
        self.open_calls: dict[str, str | None] = dict(open_calls or {})
        self.agents = AgentTracker(self.options.wrapup, agents, self.options.channel)
        self.events: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.uncounted: Counter[str] = Counter()
        self.forgotten = 0
        self._exits = {**DEFAULT_EXITS, **self.options.exits}

    def advance(self, micros: int) -> list[dict[str, Any]]:
        """The ends of wrap-ups the log has passed by ``micros``: called before each entry is mapped,
        whether or not that entry can be read."""
        agents = self.agents
        if agents.next_due is None or micros < agents.next_due:
            return []
        return self._count(agents.due(micros))

    def map(self, entry: Entry) -> list[dict[str, Any]]:
        """The contract events of one entry (none for an event with no contract v1 counterpart)."""
        agents = self.agents
        events: list[dict[str, Any]] = []
        name = entry.event
        if name == "ENTERQUEUE":
            events.append(self._offered(entry))
        elif name == "CONNECT":
            events.append(self._event(entry, "contact.answered", wait_s=_seconds(entry, 0, "holdtime")))
            if (agent := _agent(entry)) is not None:
                events += self._count(agents.connect(entry, agent))
        elif name in _EXIT_WAIT:
            left = self._left(entry)
            if left is not None:
                events.append(left)
        elif name in _TALK_AT:
            events += self._ended(entry)
        elif name == "RINGNOANSWER":
            events += self._missed(entry)
        elif name in AGENT_EVENTS:
            events += self._agent_line(entry)
        else:
            self.skipped[name] += 1
        return events

    def _agent_line(self, entry: Entry) -> list[dict[str, Any]]:
        agent = _agent(entry)
        if agent is None:
            raise BadData(f"{entry.event} needs a member (the agent field), not {entry.agent!r}")
        if entry.event not in _WITHOUT_QUEUE and (entry.queue in ("", NO_VALUE) or len(entry.queue) > MAX_ID):
            raise BadData(f"{entry.event} needs a queue name of 1 to {MAX_ID} characters, not {entry.queue!r}")
        return self._count(self.agents.line(entry, agent))

    def _missed(self, entry: Entry) -> list[dict[str, Any]]:
        """The member did not answer: rang from (line time - ring time) to the line's time."""
        agent = _agent(entry)
        if agent is None:
            raise BadData(f"RINGNOANSWER needs a member (the agent field), not {entry.agent!r}")
        ring_ms = _seconds(entry, 0, "ring time in milliseconds")
        missed = self._event(entry, "contact.missed")
        started = shifted(entry.time, -ring_ms * 1000)
        ringing = {**missed, "event_id": f"{ID_PREFIX}{entry.key}-ringing", "type": "contact.ringing", "time": started}
        self.events["contact.ringing"] += 1
        return [ringing, missed, *self._count(self.agents.rang(entry, agent))]

    def _offered(self, entry: Entry) -> dict[str, Any]:
        caller = entry.data[1] if len(entry.data) > 1 and entry.data[1] else None
        if caller is not None and len(caller) > MAX_ID:
            raise BadData(f"caller id longer than {MAX_ID} characters")
        event = self._event(entry, "contact.offered", customer=caller)
        calls = self.open_calls
        calls.pop(entry.callid, None)
        calls[entry.callid] = caller
        if len(calls) > self.options.max_open_calls:
            del calls[next(iter(calls))]
            self.forgotten += 1
        return event

    def _left(self, entry: Entry) -> dict[str, Any] | None:
        position = _EXIT_WAIT[entry.event]
        wait = _seconds(entry, position, "waittime") if len(entry.data) > position else None
        if entry.event != "ABANDON" and self._exits[entry.event] is ExitPolicy.UNCOUNTED:
            _check(entry)  # a bad line is bad whether or not its exit is counted
            self.uncounted[entry.event] += 1
            self.open_calls.pop(entry.callid, None)
            return None
        extra: dict[str, Any] = {} if wait is None else {"wait_s": wait}
        return self._event(entry, "contact.abandoned", **extra)

    def _ended(self, entry: Entry) -> list[dict[str, Any]]:
        data = entry.data
        position = _TALK_AT[entry.event]
        if position < 0:
            position += len(data)
            if position < 2:
                raise BadData(f"{entry.event} has {len(data)} parameters, at least 4 expected (destination|holdtime|calltime|origpos)")
        ended = self._event(entry, "contact.ended", talk_s=_seconds(entry, position, "calltime"))
        events = [ended]
        if entry.event in _TRANSFERS:
            transferred = {k: v for k, v in ended.items() if k != "talk_s"}
            transferred.update(event_id=f"{ID_PREFIX}{entry.key}-transferred", type="contact.transferred")
            self.events["contact.transferred"] += 1
            events.append(transferred)
        if (agent := _agent(entry)) is not None:
            events += self._count(self.agents.call_ended(entry, agent))
        return events

    def _count(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for event in events:
            self.events[event["type"]] += 1
        return events

    def _event(self, entry: Entry, kind: str, customer: str | None = None, **extra: Any) -> dict[str, Any]:
        _check(entry)
        callid = entry.callid
        if kind != "contact.offered":
            customer = self.open_calls.get(callid)
            if entry.event in _ENDS_A_CALL:
                self.open_calls.pop(callid, None)
        event: dict[str, Any] = {
            "event_id": ID_PREFIX + entry.key,
            "type": kind,
            "time": entry.time,
            "contact_id": callid,
            "customer_id": customer,
            "queue": entry.queue,
            "channel": self.options.channel,
        }
        agent = entry.agent
        if agent and agent != NO_VALUE and kind != "contact.offered":
            event["agent_id"] = agent[:MAX_ID]
        event.update(extra)
        self.events[kind] += 1
        return event


_WITHOUT_QUEUE: Final = frozenset({"PAUSEALL", "UNPAUSEALL", "AGENTLOGIN", "AGENTLOGOFF", "AGENTCALLBACKLOGIN", "AGENTCALLBACKLOGOFF"})


def _agent(entry: Entry) -> str | None:
    """The member a line is about (its interface or member name, as the log has it), if any."""
    agent = entry.agent
    return agent[:MAX_ID] if agent and agent != NO_VALUE else None


def _check(entry: Entry) -> None:
    """A call event needs a call (the contact) and a queue; Asterisk writes NONE where it has neither."""
    if not entry.callid or entry.callid == NO_VALUE or len(entry.callid) > MAX_ID:
        raise BadData(f"{entry.event} needs a call id of 1 to {MAX_ID} characters, not {entry.callid!r}")
    if not entry.queue or entry.queue == NO_VALUE or len(entry.queue) > MAX_ID:
        raise BadData(f"{entry.event} needs a queue name of 1 to {MAX_ID} characters, not {entry.queue!r}")


def _seconds(entry: Entry, position: int, name: str) -> int:
    """A whole, non-negative number of seconds among the entry's parameters."""
    data = entry.data
    if position >= len(data):
        raise BadData(f"{entry.event} has {len(data)} parameters; its {name} (parameter {position + 1}) is missing")
    text = data[position].strip()
    if not text.isdigit():
        raise BadData(f"{entry.event} {name} is not a whole number of seconds: {text!r}")
    return int(text)


@dataclass
class Batch:
    """What a run of lines gave: contract events in log order, and the lines that could not be read."""

    events: list[dict[str, Any]] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)


class AsteriskReader:
    """Parser and mapper together, with the counts an operator asks for: lines read, and bad lines
    per kind (the parser's, and ``data`` for a known event whose parameters make no contract event)."""

    def __init__(self, parser: QueueLogParser, mapper: QueueLogMapper) -> None:
        self.parser = parser
        self.mapper = mapper
        self.lines = 0
        self.bad: Counter[str] = Counter()

    def read(self, lines: Iterable[tuple[int, bytes]]) -> Batch:
        batch = Batch()
        parse, map_entry, advance = self.parser.parse, self.mapper.map, self.mapper.advance
        events, bad = batch.events, batch.bad
        for number, raw in lines:
            entry = parse(number, raw)
            if entry is None:
                continue
            self.lines += 1
            if isinstance(entry, BadLine):
                bad.append(entry)
                continue
            events += advance(entry.micros)
            try:
                events += map_entry(entry)
            except BadData as exc:
                bad.append(BadLine(number, "data", str(exc), raw))
        for line in bad:
            self.bad[line.kind] += 1
        return batch
