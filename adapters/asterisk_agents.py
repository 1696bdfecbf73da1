"""Queue members' states and queues, followed through a queue_log, as contract agent events.

Asterisk's queue_log has no line that says "agent X is now available". What it has are the facts an
agent's state is made of: queue membership (ADDMEMBER/REMOVEMEMBER), pauses per queue (PAUSE/UNPAUSE,
and PAUSEALL/UNPAUSEALL before the per-queue lines when a member is paused everywhere), agent-pool
logins (AGENTLOGIN/AGENTLOGOFF) and calls (CONNECT, then COMPLETE* or a transfer). ``AgentTracker``
keeps those facts per agent and derives one state from them, in this order:

- ``on_contact`` while a call is connected (a pause during a call takes effect when it ends);
- ``logged_out`` after an agent-pool logoff, or once removed from every queue it was known in;
- ``after_contact_work`` for the queue's configured wrap-up after a call (Asterisk's ``wrapuptime``,
  which the log does not record, so it is configured here; none: straight back);
- ``aux`` when paused in every queue it serves (PAUSEALL, or each one), with the latest pause reason;
- ``available`` otherwise.

An event is published only when the derived state (or the set of queues) changes, so the per-queue
PAUSE lines after a PAUSEALL add nothing. Static members (queues.conf) write no ADDMEMBER; Asterisk
writes pause, ring and call lines only for a queue's members, so any queue named on an agent's line
joins its queues. Several lines of one agent within one second keep their log order: the worker orders
an agent's events by (time, event id), so a later line's events are moved 1 µs after the earlier ones.

The end of a wrap-up has no line of its own: it is published (at its time) when the log passes that
time, i.e. with the next line of any agent or call. Everything here is a pure function of the lines
read, and ``state()`` holds it all for the position file, so a re-read after a restart gives the same
events with the same ids.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Iterator, Mapping

from adapters.queue_log import Entry

ID_PREFIX: Final = "asterisk-"
ANY_QUEUE: Final = "*"
MAX_REASON: Final = 100  # the contract's limit on an aux reason
_SECOND: Final = 1_000_000
_POOL_PREFIX: Final = "Agent/"

State = tuple[str, str | None, str | None, str | None]  # state, reason, contact id, contact queue


@dataclass
class Member:
    """What the log has said about one agent so far (JSON-able, for the position file)."""

    queues: list[str] = field(default_factory=list)
    known: bool = False  # some queue has been named for it, so an empty list means "in no queue"
    paused: dict[str, str | None] = field(default_factory=dict)  # queue -> pause reason
    paused_all: bool = False
    reason: str | None = None  # the latest pause's reason
    logged_in: bool | None = None  # agent-pool login, None when the log never said
    call: list[str] | None = None  # [call id, queue] while connected
    wrapup_until: int | None = None  # microseconds since the epoch
    wrapup_time: str = ""  # the same instant as RFC 3339, in the offset of the line that started it
    wrapup_key: str = ""  # the key of that line (its end event's id)
    shown: list[Any] | None = None  # the state last published
    shown_queues: list[str] | None = None  # the queues last published
    last: int | None = None  # microseconds of its latest event

    def derive(self) -> State:
        if self.call is not None:
            return ("on_contact", None, self.call[0], self.call[1])
        if self.logged_in is False or (self.known and not self.queues):
            return ("logged_out", None, None, None)
        if self.wrapup_until is not None:
            return ("after_contact_work", None, None, None)
        if self.paused_all or (self.queues and all(queue in self.paused for queue in self.queues)):
            return ("aux", self.reason, None, None)
        return ("available", None, None, None)

    def learn(self, queue: str) -> None:
        self.known = True
        if queue not in self.queues:
            self.queues.append(queue)


def pool_agent(name: str) -> str:
    """app_agent_pool logs AGENTLOGIN with the bare agent id ("1001") while its queue lines name the
    member "Agent/1001": the same agent, so a bare id gets the prefix."""
    return name if "/" in name else _POOL_PREFIX + name


def shifted(text: str, micros: int) -> str:
    """An RFC 3339 time moved by ``micros``, keeping its offset (and its ``Z``), so that events derived
    from a line read like the line's own."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")) + timedelta(microseconds=micros)
    written = moment.isoformat()
    return written.replace("+00:00", "Z") if text.endswith("Z") else written


class AgentTracker:
    """One log's agents. ``wrapup`` is seconds of after-contact work per queue (``*``: every other
    queue); ``members`` a saved ``state()`` to resume from; ``channel`` the agents' channel."""

    def __init__(
        self, wrapup: Mapping[str, float] | None = None, members: Mapping[str, Mapping[str, Any]] | None = None, channel: str = "voice",
    ) -> None:  # fmt: skip
        self._channel = channel
        self._wrapup = {queue: round(seconds * _SECOND) for queue, seconds in (wrapup or {}).items()}
        self.members: dict[str, Member] = {agent: Member(**saved) for agent, saved in (members or {}).items()}
        self.next_due: int | None = None
        self._schedule()

    def state(self) -> dict[str, dict[str, Any]]:
        return {agent: asdict(member) for agent, member in self.members.items()}

    def due(self, micros: int) -> list[dict[str, Any]]:
        """The ends of wrap-ups at or before ``micros`` (the time of the line about to be read)."""
        if self.next_due is None or micros < self.next_due:
            return []
        events: list[dict[str, Any]] = []
        ending = sorted((m.wrapup_until, agent) for agent, m in self.members.items() if m.wrapup_until is not None and m.wrapup_until <= micros)
        for until, agent in ending:
            member = self.members[agent]
            member.wrapup_until = None
            events.extend(self._publish(agent, member, until, member.wrapup_time, f"{member.wrapup_key}-wrapup"))
        self._schedule()
        return events

    def line(self, entry: Entry, agent: str) -> list[dict[str, Any]]:
        """An agent line (AGENT_EVENTS): membership, pause or login."""
        name = entry.event
        if name.startswith("AGENT"):
            agent = pool_agent(agent)
        member = self.members.setdefault(agent, Member())
        queue = entry.queue
        reason = (entry.data[0][:MAX_REASON] or None) if entry.data else None
        if name == "ADDMEMBER":
            member.learn(queue)
            if reason == "PAUSED":
                member.paused[queue] = None
            else:
                member.paused.pop(queue, None)
        elif name == "REMOVEMEMBER":
            member.known = True
            if queue in member.queues:
                member.queues.remove(queue)
            member.paused.pop(queue, None)
        elif name == "PAUSE":
            member.learn(queue)
            member.paused[queue] = reason
            member.reason = reason
        elif name == "UNPAUSE":
            member.learn(queue)
            member.paused.pop(queue, None)
            if member.paused_all:
                member.paused_all = False
                member.paused.update({other: member.reason for other in member.queues if other != queue})
        elif name == "PAUSEALL":
            member.paused_all = True
            member.reason = reason
            member.paused = dict.fromkeys(member.queues, reason)
        elif name == "UNPAUSEALL":
            member.paused_all = False
            member.paused = {}
        else:
            member.logged_in = name.endswith("LOGIN")
        return self._publish(agent, member, entry.micros, entry.time, entry.key)

    def connect(self, entry: Entry, agent: str) -> list[dict[str, Any]]:
        member = self.members.setdefault(agent, Member())
        member.learn(entry.queue)
        member.call = [entry.callid, entry.queue]
        if member.wrapup_until is not None:
            member.wrapup_until = None
            self._schedule()
        return self._publish(agent, member, entry.micros, entry.time, entry.key)

    def call_ended(self, entry: Entry, agent: str) -> list[dict[str, Any]]:
        """COMPLETECALLER/COMPLETEAGENT or a transfer: the agent's part of the call is over. A call the
        agent is not known to be on (the log began mid-call) ends the same way."""
        member = self.members.setdefault(agent, Member())
        member.learn(entry.queue)
        if member.call is not None and member.call[0] != entry.callid:
            return self._publish(agent, member, entry.micros, entry.time, entry.key)
        member.call = None
        wrapup = self._wrapup.get(entry.queue, self._wrapup.get(ANY_QUEUE, 0))
        if wrapup > 0:
            member.wrapup_until = entry.micros + wrapup
            member.wrapup_time = shifted(entry.time, wrapup)
            member.wrapup_key = entry.key
            self._schedule()
        return self._publish(agent, member, entry.micros, entry.time, entry.key)

    def rang(self, entry: Entry, agent: str) -> list[dict[str, Any]]:
        """A ring (RINGNOANSWER) tells only that the agent is a member of the queue."""
        member = self.members.setdefault(agent, Member())
        member.learn(entry.queue)
        return self._publish(agent, member, entry.micros, entry.time, entry.key)

    def _schedule(self) -> None:
        self.next_due = min((m.wrapup_until for m in self.members.values() if m.wrapup_until is not None), default=None)

    def _publish(self, agent: str, member: Member, micros: int, time: str, key: str) -> list[dict[str, Any]]:
        """The events for what changed, at ``micros`` (``time`` as text), moved after the agent's
        previous event when the log has several of its lines in one second."""
        state = member.derive()
        changed_state = member.shown is None or tuple(member.shown) != state
        changed_queues = member.known and member.shown_queues != member.queues
        if not (changed_state or changed_queues):
            return []
        last = member.last
        if last is not None and micros <= last and last - micros < _SECOND:
            time = shifted(time, last + 1 - micros)
            micros = last + 1
        member.last = micros
        return list(self._events(agent, member, state, time, key, changed_state, changed_queues))

    def _events(self, agent: str, member: Member, state: State, time: str, key: str, changed_state: bool, changed_queues: bool) -> Iterator[dict[str, Any]]:
        if changed_queues:
            member.shown_queues = list(member.queues)
            yield {"event_id": f"{ID_PREFIX}{key}-queues", "type": "agent.queues_changed", "time": time, "agent_id": agent,
                   "queues": list(member.queues), "channel": self._channel}  # fmt: skip
        if changed_state:
            member.shown = list(state)
            name, reason, contact, queue = state
            event: dict[str, Any] = {"event_id": f"{ID_PREFIX}{key}-state", "type": "agent.state_changed", "time": time,
                                     "agent_id": agent, "state": name, "channel": self._channel}  # fmt: skip
            if name == "aux":
                event["reason"] = reason
            if contact is not None:
                event["contact_id"], event["queue"] = contact, queue
            yield event
