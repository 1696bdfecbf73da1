"""``AgentBoard``: one source partition's agents, from their state events to time per state per bucket.

Agent time is not counted event by event like contacts (kpis/state.py) but recomputed: an agent's
buckets are a function of its timeline, the set of its events (deduplicated by event id) in event
time order. A late event that lands between two others splits a segment that was already booked,
which increments could only undo with fences per pair of events; recomputing the agent's share of
each bucket from its timeline and replacing the old share needs none, and re-reading events after a
crash or a takeover changes nothing because a set does not change when an element comes again.

Only closed segments (from one event to the next) are booked; the open one, from the latest event
to now, is added by the read side at its own clock (kpis/book.py), so a replayed backlog is not
stretched to the wall clock and a live window still grows second by second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from kpis.buckets import BucketStats
from kpis.entities import RecomputedBoard
from kpis.event import AgentEvent
from kpis.rules import QueueRules
from kpis.state import SIZES, UNKNOWN, BucketKey, Pair, Slot
from kpis.windows import business_date, local_day_start

HORIZON_S = 36 * 3600.0
LOGGED_OUT = "logged_out"
UNSPECIFIED = "unspecified"
DEFAULT_CHANNEL = "voice"
# The bucket counter of each staffed state's seconds.
STATE_FIELDS = {"available": "available_s", "on_contact": "on_contact_s", "after_contact_work": "agent_acw_s", "aux": "aux_s"}
# The per-day totals of the live record, by state.
DAY_FIELDS = {"available": "available_s", "on_contact": "on_contact_s", "after_contact_work": "after_contact_work_s", "aux": "aux_s"}


@dataclass(slots=True)
class _Walk:
    """What is in effect at a point of an agent's timeline: each property carries forward from the
    latest event that gave it."""

    state: str | None = None
    reason: str | None = None
    queues: tuple[str, ...] = ()
    channel: str = DEFAULT_CHANNEL
    capacity: int = 1
    name: str | None = None
    since: float = 0.0
    contact_id: str | None = None
    contact_queue: str | None = None
    contact_since: float | None = None

    def step(self, event: AgentEvent) -> bool:
        """Take one event in; True when it starts a new handled contact."""
        if event.queues is not None:
            self.queues = event.queues
        if event.channel is not None:
            self.channel = event.channel
        if event.capacity is not None:
            self.capacity = event.capacity
        if event.name is not None:
            self.name = event.name
        if event.state is None:
            return False
        reason = (event.reason or UNSPECIFIED) if event.state == "aux" else None
        handled = event.state == "on_contact" and (
            self.state != "on_contact" or (event.contact_id is not None and event.contact_id != self.contact_id)
        )
        if (event.state, reason) != (self.state, self.reason):
            self.since = event.time
        self.state, self.reason = event.state, reason
        if handled:
            self.contact_id, self.contact_queue, self.contact_since = event.contact_id, event.contact_queue, event.time
        elif event.state != "on_contact":
            self.contact_id = self.contact_queue = self.contact_since = None
        return handled


class AgentBoard(RecomputedBoard[AgentEvent]):
    """The agents whose events are in one partition of ``cx.agents`` (keyed by agent id)."""

    def __init__(self, rules: Callable[[str], QueueRules], horizon_s: float = HORIZON_S) -> None:
        super().__init__(horizon_s)
        self._day_rules = rules("*")
        self._live: dict[str, dict[str, Any]] = {}
        self._live_changed = False

    def _entity_id(self, event: AgentEvent) -> str:
        return event.agent_id

    @staticmethod
    def _encode(event: AgentEvent) -> list[Any]:
        return [event.event_id, event.type, event.time, event.state, event.reason,
                None if event.queues is None else list(event.queues), event.channel, event.capacity,
                event.contact_id, event.contact_queue, event.name]  # fmt: skip

    # -- reading out -------------------------------------------------------------------------

    def live(self) -> list[dict[str, Any]]:
        """One record per agent whose state is known: what the read side needs for the live counts,
        the agents list and the open segment."""
        self._recompute()
        return [record for _, record in sorted(self._live.items())]

    def take_changes(self) -> tuple[dict[Slot, dict[Pair, BucketStats]], list[dict[str, Any]] | None, dict[str, list[Any] | None]]:
        """What changed since the last call: whole slots of agent buckets, the live records (None when
        unchanged), and the timelines to persist per agent (None: the agent left state)."""
        self._recompute()
        slots = self._buckets.take_slots()
        live = self.live() if self._live_changed else None
        self._live_changed = False
        return slots, live, self._take_persisted()

    # -- recomputing -------------------------------------------------------------------------

    def _settle(self, previous: float, settled: float) -> None:
        """Events before the line collapse into the one that gives the state at the line. An agent
        logged out before the line leaves state altogether."""
        for agent_id, agent in list(self._sets.timelines.items()):
            cut = agent.cut(settled)
            if cut == 0:
                continue
            live = self._live.get(agent_id)
            if cut == len(agent.events) and live is not None and live["state"] == LOGGED_OUT:
                self._sets.drop(agent_id)
                self._buckets.forget(agent_id)
                del self._live[agent_id]
                self._changed.add(agent_id)
                self._live_changed = True
                continue
            walk = _Walk()
            for event in agent.events[:cut]:
                walk.step(event)
            last = agent.events[cut - 1]
            summary = AgentEvent(
                last.event_id, last.type, last.time, last.agent_id, walk.state,
                walk.reason if walk.state == "aux" else None, walk.queues, walk.channel, walk.capacity,
                walk.contact_id, walk.contact_queue, walk.name,
            )  # fmt: skip
            agent.replace_head(cut, [summary])
            self._changed.add(agent_id)

    def _recompute_entity(self, agent_id: str) -> None:
        events = self._sets.timelines[agent_id].events
        shares: dict[BucketKey, BucketStats] = {}
        days: dict[str, dict[str, float]] = {}
        walk = _Walk()
        for index, event in enumerate(events):
            if walk.step(event) and event.time >= self._settled:
                day = days.setdefault(business_date(event.time, self._day_rules).isoformat(), {})
                day["handled"] = day.get("handled", 0) + 1
            if index + 1 == len(events):
                break
            start, end = max(event.time, self._settled), events[index + 1].time
            if walk.state is None or walk.state == LOGGED_OUT or end <= start:
                continue
            queues = walk.queues or (UNKNOWN,)
            self._book(shares, start, end, walk.state, walk.reason, queues, walk.channel)
            self._book_days(days, start, end, walk.state)
        self._buckets.replace(agent_id, shares)
        live = None if walk.state is None else self._live_record(agent_id, walk, events[-1].time, days)
        if live != self._live.get(agent_id):
            if live is None:
                self._live.pop(agent_id, None)
            else:
                self._live[agent_id] = live
            self._live_changed = True

    @staticmethod
    def _live_record(agent_id: str, walk: _Walk, open_from: float, days: dict[str, dict[str, float]]) -> dict[str, Any]:
        return {
            "agent_id": agent_id, "name": walk.name, "state": walk.state, "reason": walk.reason, "since": walk.since,
            "open_from": open_from, "queues": list(walk.queues or (UNKNOWN,)), "channel": walk.channel,
            "capacity": walk.capacity, "contact_id": walk.contact_id, "contact_queue": walk.contact_queue,
            "contact_since": walk.contact_since, "days": {d: _rounded(v) for d, v in sorted(days.items())},
        }  # fmt: skip

    def _book(
        self, shares: dict[BucketKey, BucketStats], start: float, end: float, state: str, reason: str | None,
        queues: tuple[str, ...], channel: str,
    ) -> None:  # fmt: skip
        state_field = STATE_FIELDS[state]
        for size in SIZES:
            slot = int(start // size) * size
            while slot < end:
                overlap = (min(end, slot + size) - max(start, slot)) / len(queues)
                for queue in queues:
                    key = BucketKey(size, queue, channel, slot)
                    stats = shares.get(key)
                    if stats is None:
                        stats = shares[key] = BucketStats()
                    stats.staffed_s += overlap
                    setattr(stats, state_field, getattr(stats, state_field) + overlap)
                    if reason is not None:
                        stats.aux_reason_s[reason] = stats.aux_reason_s.get(reason, 0.0) + overlap
                slot += size

    def _book_days(self, days: dict[str, dict[str, float]], start: float, end: float, state: str) -> None:
        """Split a segment at business-day starts (the default rules') into per-day totals."""
        while start < end:
            day = business_date(start, self._day_rules)
            following = local_day_start(day.fromordinal(day.toordinal() + 1), self._day_rules)
            part_end = min(end, following)
            totals = days.setdefault(day.isoformat(), {})
            seconds = part_end - start
            totals["staffed_s"] = totals.get("staffed_s", 0.0) + seconds
            totals[DAY_FIELDS[state]] = totals.get(DAY_FIELDS[state], 0.0) + seconds
            start = part_end


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 3) for name, value in values.items()}


def decode_timeline(agent_id: str, rows: list[list[Any]]) -> list[AgentEvent]:
    """The events of ``AgentBoard.events`` back, for ``AgentBoard.restore``."""
    return [
        AgentEvent(str(event_id), str(kind), float(at), agent_id, state, reason,
                   None if queues is None else tuple(queues), channel, capacity, contact_id, contact_queue, name)
        for event_id, kind, at, state, reason, queues, channel, capacity, contact_id, contact_queue, name in rows
    ]  # fmt: skip
