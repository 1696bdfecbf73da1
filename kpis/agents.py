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

import bisect
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, NamedTuple

from kpis.buckets import BucketStats
from kpis.event import AgentEvent
from kpis.rules import QueueRules
from kpis.state import SIZES, UNKNOWN, BucketKey, Outcome, Pair, Slot
from kpis.windows import business_date, local_day_start

HORIZON_S = 36 * 3600.0
LOGGED_OUT = "logged_out"
UNSPECIFIED = "unspecified"
DEFAULT_CHANNEL = "voice"
# The bucket counter of each staffed state's seconds.
STATE_FIELDS = {"available": "available_s", "on_contact": "on_contact_s", "after_contact_work": "agent_acw_s", "aux": "aux_s"}
# The per-day totals of the live record, by state.
DAY_FIELDS = {"available": "available_s", "on_contact": "on_contact_s", "after_contact_work": "after_contact_work_s", "aux": "aux_s"}


class _Sort(NamedTuple):
    time: float
    event_id: str


@dataclass(slots=True)
class _Agent:
    """One agent's retained events, ordered by (time, event id), and what they were last booked as."""

    keys: list[_Sort] = field(default_factory=list)
    events: list[AgentEvent] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    shares: dict[BucketKey, BucketStats] = field(default_factory=dict)
    live: dict[str, Any] | None = None

    def insert(self, event: AgentEvent) -> None:
        key = _Sort(event.time, event.event_id)
        position = bisect.bisect(self.keys, key)
        self.keys.insert(position, key)
        self.events.insert(position, event)
        self.ids.add(event.event_id)


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


class AgentBoard:
    """The agents whose events are in one partition of ``cx.agents`` (keyed by agent id)."""

    def __init__(self, rules: Callable[[str], QueueRules], horizon_s: float = HORIZON_S) -> None:
        self._day_rules = rules("*")
        self._horizon_s = horizon_s
        self._agents: dict[str, _Agent] = {}
        self._totals: dict[BucketKey, BucketStats] = {}
        self._contributors: dict[BucketKey, set[str]] = {}
        self._newest = 0.0
        self._settled = 0.0
        self._dirty: set[str] = set()
        self._changed_slots: set[Slot] = set()
        self._changed_agents: set[str] = set()
        self._live_changed = False

    # -- events in ---------------------------------------------------------------------------

    def apply(self, event: AgentEvent) -> Outcome:
        agent = self._agents.get(event.agent_id)
        if agent is not None and event.event_id in agent.ids:
            return Outcome.DUPLICATE
        if event.time < self._newest - self._horizon_s:
            return Outcome.LATE
        if agent is None:
            agent = self._agents[event.agent_id] = _Agent()
        agent.insert(event)
        if event.time > self._newest:
            self._newest = event.time
        self._dirty.add(event.agent_id)
        return Outcome.COUNTED

    def restore(self, agent_id: str, events: Iterable[AgentEvent]) -> None:
        """A timeline read back from the state table (``timeline``'s output)."""
        for event in events:
            self.apply(event)

    # -- reading out -------------------------------------------------------------------------

    def buckets(self) -> dict[BucketKey, BucketStats]:
        """Every bucket holding agent time of closed segments since the settled line."""
        self._recompute()
        return self._totals

    def live(self) -> list[dict[str, Any]]:
        """One record per agent whose state is known: what the read side needs for the live counts,
        the agents list and the open segment."""
        self._recompute()
        return [agent.live for _, agent in sorted(self._agents.items()) if agent.live is not None]

    def take_changes(self) -> tuple[dict[Slot, dict[Pair, BucketStats]], list[dict[str, Any]] | None, dict[str, list[Any] | None]]:
        """What changed since the last call: whole slots of agent buckets, the live records (None when
        unchanged), and the timelines to persist per agent (None: the agent left state)."""
        self._recompute()
        slots: dict[Slot, dict[Pair, BucketStats]] = {slot: {} for slot in self._changed_slots}
        if slots:
            for key, stats in self._totals.items():
                slot = (key.size, key.start)
                if slot in slots:
                    slots[slot][(key.queue, key.channel)] = stats
        timelines = {agent_id: self.timeline(agent_id) for agent_id in self._changed_agents}
        live = self.live() if self._live_changed else None
        self._changed_slots = set()
        self._changed_agents = set()
        self._live_changed = False
        return slots, live, timelines

    def timeline(self, agent_id: str) -> list[Any] | None:
        agent = self._agents.get(agent_id)
        if agent is None:
            return None
        return [_encode(event) for event in agent.events]

    @property
    def horizon(self) -> float:
        """Agent events before this time are late."""
        return self._newest - self._horizon_s

    @property
    def agents_tracked(self) -> int:
        return len(self._agents)

    # -- recomputing -------------------------------------------------------------------------

    def _recompute(self) -> None:
        if not self._dirty and self._newest - self._horizon_s <= self._settled + 900:
            return
        settled = max(self._settled, (self._newest - self._horizon_s) // 900 * 900)
        if settled > self._settled:
            self._settle(settled)
        for agent_id in sorted(self._dirty):
            self._recompute_agent(agent_id)
        self._dirty = set()

    def _settle(self, settled: float) -> None:
        """Move the settled line: buckets before it are final (written already) and leave memory;
        events before it collapse into the one that gives the state at the line. An agent logged out
        before the line leaves state altogether."""
        self._settled = settled
        for key in [k for k in self._totals if k.start < settled]:
            del self._totals[key]
            del self._contributors[key]
        for agent_id, agent in list(self._agents.items()):
            agent.shares = {k: v for k, v in agent.shares.items() if k.start >= settled}
            cut = bisect.bisect_left(agent.keys, _Sort(settled, ""))
            if cut == 0:
                continue
            if cut == len(agent.events) and agent.live is not None and agent.live["state"] == LOGGED_OUT:
                del self._agents[agent_id]
                self._dirty.discard(agent_id)
                self._changed_agents.add(agent_id)
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
            agent.events[:cut] = [summary]
            agent.keys[:cut] = [_Sort(last.time, last.event_id)]
            agent.ids = {event.event_id for event in agent.events}
            self._changed_agents.add(agent_id)

    def _recompute_agent(self, agent_id: str) -> None:
        agent = self._agents[agent_id]
        shares: dict[BucketKey, BucketStats] = {}
        days: dict[str, dict[str, float]] = {}
        walk = _Walk()
        events = agent.events
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
        self._replace_shares(agent_id, agent, shares)
        live = None if walk.state is None else self._live_record(agent_id, walk, events[-1].time, days)
        if live != agent.live:
            agent.live = live
            self._live_changed = True
        self._changed_agents.add(agent_id)

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

    def _replace_shares(self, agent_id: str, agent: _Agent, shares: dict[BucketKey, BucketStats]) -> None:
        for stats in shares.values():
            stats.round_durations()
        old, agent.shares = agent.shares, shares
        for key in old.keys() | shares.keys():
            before, after = old.get(key), shares.get(key)
            if before == after:
                continue
            contributors = self._contributors.setdefault(key, set())
            if after is None:
                contributors.discard(agent_id)
            else:
                contributors.add(agent_id)
            self._changed_slots.add((key.size, key.start))
            self._total(key)

    def _total(self, key: BucketKey) -> None:
        """A bucket's total made afresh from its agents' shares in a fixed order, so the same set of
        events gives the same total to the last digit, however it arrived."""
        contributors = self._contributors[key]
        total = BucketStats()  # stays, zero, when its last share left: the read side replaces buckets, never drops them
        for agent_id in sorted(contributors):
            total.add(self._agents[agent_id].shares[key])
        total.round_durations()
        self._totals[key] = total


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 3) for name, value in values.items()}


def _encode(event: AgentEvent) -> list[Any]:
    return [event.event_id, event.type, event.time, event.state, event.reason,
            None if event.queues is None else list(event.queues), event.channel, event.capacity,
            event.contact_id, event.contact_queue, event.name]  # fmt: skip


def decode_timeline(agent_id: str, rows: list[list[Any]]) -> list[AgentEvent]:
    """The events of ``AgentBoard.timeline`` back, for ``AgentBoard.restore``."""
    return [
        AgentEvent(str(event_id), str(kind), float(at), agent_id, state, reason,
                   None if queues is None else tuple(queues), channel, capacity, contact_id, contact_queue, name)
        for event_id, kind, at, state, reason, queues, channel, capacity, contact_id, contact_queue, name in rows
    ]  # fmt: skip
