"""Independent reference for agent time (the test oracle of issue 14's agents board).

The production core keeps agent timelines incrementally, event by event, per partition; this module
computes the same numbers in one obvious batch pass over a complete list of events, straight from
the written semantics (docs/kpi-definitions.md, "Agents"). It shares no code with `kpis/`,
`streams/` or `api/`, so a bug there cannot hide by being reproduced here, and it is exact: times
are Fractions of a second, so no sum depends on the order it was added in.

How it works, deliberately without cleverness:

- an agent's timeline is its events (deduplicated by event_id) sorted by (event time, event_id);
- a segment runs from one `agent.state_changed` to the next; it is cut into pieces at every other
  event of the agent inside it, so that on each piece the state, the queues and the channel are
  constant (each read as "the latest event carrying it at or before the piece's start");
- a piece's time goes to every minute and 15-minute bucket it overlaps, split equally across the
  queues served on it (no queues yet: queue ``unknown``), and to every business day it overlaps;
- the open segment (after an agent's last state event) is booked only when ``until`` is given, the
  way the API adds it at read time up to its clock.

The batch view has one consequence worth knowing: every event of the input is "seen", so the
lateness horizon of the live service plays no part. Feed it only inputs in which nothing is late.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from fractions import Fraction
from typing import Any, Iterable, Iterator
from zoneinfo import ZoneInfo

STATE_CHANGED = "agent.state_changed"
MISSED = "contact.missed"
TRANSFERRED = "contact.transferred"
UNKNOWN_QUEUE = "unknown"
DEFAULT_CHANNEL = "voice"
UNSPECIFIED_REASON = "unspecified"
ALL = "*"
SIZES = (60, 900)

# Where a state's time goes besides staffed_s: the bucket counter, and the per-agent day total.
BUCKET_FIELDS = {"available": "available_s", "on_contact": "on_contact_s", "after_contact_work": "agent_acw_s", "aux": "aux_s"}
DAY_FIELDS = {"available": "available_s", "on_contact": "on_contact_s", "after_contact_work": "after_contact_work_s", "aux": "aux_s"}

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)

BucketId = tuple[int, str, str, int]  # (size, queue, channel, start), as kpis.state.BucketKey orders it


def seconds(text: str) -> Fraction:
    """RFC 3339 with an offset -> exact epoch seconds (integer microseconds over a million)."""
    moment = datetime.fromisoformat(text.upper())  # RFC 3339 allows "t" and "z"
    if moment.utcoffset() is None:
        raise ValueError(f"timestamp without a UTC offset: {text!r}")
    return Fraction((moment - _EPOCH) // _MICROSECOND, 1_000_000)


@dataclass(frozen=True)
class DayRules:
    """The default rules' business day: a time zone and the local time the day starts at."""

    timezone: str = "UTC"
    day_start: str = "00:00"

    def _start_clock(self) -> time:
        hours, minutes = self.day_start.split(":")
        return time(int(hours), int(minutes))

    def date_of(self, t: Fraction) -> date:
        """The business date holding instant t: local wall time minus the day start, its date."""
        local = datetime.fromtimestamp(math.floor(t), ZoneInfo(self.timezone)).replace(tzinfo=None)
        start = self._start_clock()
        return (local - timedelta(hours=start.hour, minutes=start.minute)).date()

    def start_of(self, day: date) -> Fraction:
        """The instant business date ``day`` starts (local day start; 23 or 25 hours on DST days)."""
        return Fraction(int(datetime.combine(day, self._start_clock(), tzinfo=ZoneInfo(self.timezone)).timestamp()))


@dataclass
class AgentTime:
    """Seconds of agent time in one bucket (or a window summed from buckets), and the contact counts
    the agents section adds to it."""

    staffed_s: Fraction = Fraction(0)
    available_s: Fraction = Fraction(0)
    on_contact_s: Fraction = Fraction(0)
    agent_acw_s: Fraction = Fraction(0)
    aux_s: Fraction = Fraction(0)
    aux_reason_s: dict[str, Fraction] = field(default_factory=dict)
    missed: int = 0
    transferred: int = 0
    missed_by_agent: dict[str, int] = field(default_factory=dict)

    def add(self, other: AgentTime) -> None:
        self.staffed_s += other.staffed_s
        self.available_s += other.available_s
        self.on_contact_s += other.on_contact_s
        self.agent_acw_s += other.agent_acw_s
        self.aux_s += other.aux_s
        for reason, value in other.aux_reason_s.items():
            self.aux_reason_s[reason] = self.aux_reason_s.get(reason, Fraction(0)) + value
        self.missed += other.missed
        self.transferred += other.transferred
        for agent, count in other.missed_by_agent.items():
            self.missed_by_agent[agent] = self.missed_by_agent.get(agent, 0) + count

    def occupancy(self) -> Fraction | None:
        """(on contact + after-contact work) / (staffed - aux); None when nobody was available for work."""
        denominator = self.staffed_s - self.aux_s
        return None if denominator == 0 else (self.on_contact_s + self.agent_acw_s) / denominator

    def aux_share(self) -> Fraction | None:
        return None if self.staffed_s == 0 else self.aux_s / self.staffed_s


@dataclass
class AgentDay:
    """One agent's totals on one business day."""

    handled: int = 0
    staffed_s: Fraction = Fraction(0)
    available_s: Fraction = Fraction(0)
    on_contact_s: Fraction = Fraction(0)
    after_contact_work_s: Fraction = Fraction(0)
    aux_s: Fraction = Fraction(0)
    missed: int = 0

    def aht_s(self) -> Fraction | None:
        return None if self.handled == 0 else (self.on_contact_s + self.after_contact_work_s) / self.handled


@dataclass(frozen=True)
class _Event:
    t: Fraction
    event_id: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class Piece:
    """A stretch of one agent's time on which state, reason, queues and channel do not change."""

    start: Fraction
    end: Fraction
    state: str
    reason: str | None
    queues: tuple[str, ...]
    channel: str


def _unique(events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    seen: set[str] = set()
    for event in events:
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            yield event


def timelines(events: Iterable[dict[str, Any]]) -> dict[str, list[_Event]]:
    """Each agent's events, duplicates dropped, in (event time, event_id) order."""
    by_agent: dict[str, list[_Event]] = defaultdict(list)
    for raw in _unique(events):
        by_agent[raw["agent_id"]].append(_Event(seconds(raw["time"]), raw["event_id"], raw))
    for timeline in by_agent.values():
        timeline.sort(key=lambda e: (e.t, e.event_id))
    return dict(by_agent)


def _latest(timeline: list[_Event], t: Fraction, key: str) -> Any:
    """The value of ``key`` on the latest event at or before t that carries it (None if none does)."""
    value = None
    for event in timeline:
        if event.t > t:
            break
        if event.raw.get(key) is not None:
            value = event.raw[key]
    return value


def _states(timeline: list[_Event]) -> list[_Event]:
    return [e for e in timeline if e.raw["type"] == STATE_CHANGED]


def pieces(timeline: list[_Event], until: Fraction | None = None) -> Iterator[Piece]:
    """The agent's closed segments cut at its other events; with ``until``, the open one up to it."""
    states = _states(timeline)
    for index, state in enumerate(states):
        end = states[index + 1].t if index + 1 < len(states) else until
        if end is None or end <= state.t:
            continue
        cuts = sorted({state.t, end} | {e.t for e in timeline if state.t < e.t < end})
        for a, b in zip(cuts, cuts[1:]):
            queues = tuple(dict.fromkeys(_latest(timeline, a, "queues") or ())) or (UNKNOWN_QUEUE,)
            channel = _latest(timeline, a, "channel") or DEFAULT_CHANNEL
            yield Piece(a, b, state.raw["state"], state.raw.get("reason"), queues, channel)


def buckets(
    agent_events: Iterable[dict[str, Any]], contact_events: Iterable[dict[str, Any]] = (), until: Fraction | None = None
) -> dict[BucketId, AgentTime]:
    """Every minute and 15-minute bucket holding agent time or a missed/transferred contact."""
    result: dict[BucketId, AgentTime] = defaultdict(AgentTime)
    for timeline in timelines(agent_events).values():
        for piece in pieces(timeline, until):
            if piece.state == "logged_out":
                continue
            for size in SIZES:
                start = math.floor(piece.start / size) * size
                while start < piece.end:
                    overlap = min(piece.end, Fraction(start + size)) - max(piece.start, Fraction(start))
                    share = overlap / len(piece.queues)
                    for queue in piece.queues:
                        counters = result[(size, queue, piece.channel, start)]
                        counters.staffed_s += share
                        name = BUCKET_FIELDS[piece.state]
                        setattr(counters, name, getattr(counters, name) + share)
                        if piece.state == "aux":
                            reason = piece.reason or UNSPECIFIED_REASON
                            counters.aux_reason_s[reason] = counters.aux_reason_s.get(reason, Fraction(0)) + share
                    start += size
    for event in _unique(contact_events):
        if event["type"] not in (MISSED, TRANSFERRED):
            continue
        t = seconds(event["time"])
        for size in SIZES:
            counters = result[(size, event["queue"], event["channel"], math.floor(t / size) * size)]
            if event["type"] == TRANSFERRED:
                counters.transferred += 1
            else:
                counters.missed += 1
                if event.get("agent_id"):
                    counters.missed_by_agent[event["agent_id"]] = counters.missed_by_agent.get(event["agent_id"], 0) + 1
    return dict(result)


def window(
    table: dict[BucketId, AgentTime], start: float, end: float, size: int = 900, queue: str = ALL, channel: str = ALL
) -> AgentTime:
    """The sum of the buckets of one size starting in [start, end), for a queue and channel or their
    roll-up ``*`` (the true agent time, since each second was split across the queues served)."""
    total = AgentTime()
    for (bucket_size, bucket_queue, bucket_channel, bucket_start), counters in table.items():
        if (
            bucket_size == size
            and start <= bucket_start < end
            and queue in (ALL, bucket_queue)
            and channel in (ALL, bucket_channel)
        ):
            total.add(counters)
    return total


def days(
    agent_events: Iterable[dict[str, Any]],
    contact_events: Iterable[dict[str, Any]] = (),
    rules: DayRules = DayRules(),
    until: Fraction | None = None,
) -> dict[str, dict[str, AgentDay]]:
    """Per agent and business date (YYYY-MM-DD): handled, time per state (closed segments, and the
    open one up to ``until`` when given), and contacts missed. A contact is handled on the day its
    segment starts, as soon as it starts: counted by the event that enters it, open or closed."""
    result: dict[str, dict[str, AgentDay]] = defaultdict(lambda: defaultdict(AgentDay))
    for agent, timeline in timelines(agent_events).items():
        states = _states(timeline)
        for index, state in enumerate(states):
            previous = states[index - 1].raw if index else None
            entering = state.raw["state"] == "on_contact" and (
                previous is None
                or previous["state"] != "on_contact"
                or previous.get("contact_id") != state.raw.get("contact_id")
            )
            if entering:
                result[agent][rules.date_of(state.t).isoformat()].handled += 1
        for piece in pieces(timeline, until):
            if piece.state == "logged_out":
                continue
            a = piece.start
            while a < piece.end:
                day = rules.date_of(a)
                b = min(piece.end, rules.start_of(day + timedelta(days=1)))
                totals = result[agent][day.isoformat()]
                totals.staffed_s += b - a
                name = DAY_FIELDS[piece.state]
                setattr(totals, name, getattr(totals, name) + (b - a))
                a = b
    for event in _unique(contact_events):
        if event["type"] == MISSED and event.get("agent_id"):
            result[event["agent_id"]][rules.date_of(seconds(event["time"])).isoformat()].missed += 1
    return {agent: dict(by_day) for agent, by_day in result.items()}


def _run_start(states: list[_Event], same: Any) -> Fraction:
    """When the last run of state events that all agree with the last one on ``same`` began."""
    start = len(states) - 1
    while start > 0 and same(states[start - 1].raw) == same(states[-1].raw):
        start -= 1
    return states[start].t


def live(agent_events: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each agent's state after its last event in event time (agents with no state event yet are left
    out): the fields of the worker's live record other than ``days``. ``since`` is when the agent
    entered its current state and reason (a second event repeating them changes nothing a person
    would call a new state: a new contact while on contact, a break reported twice);
    ``contact_since`` when the contact in progress began."""
    result: dict[str, dict[str, Any]] = {}
    for agent, timeline in timelines(agent_events).items():
        states = _states(timeline)
        if not states:
            continue
        last, end = states[-1], timeline[-1].t
        on_contact = last.raw["state"] == "on_contact"
        result[agent] = {
            "agent_id": agent,
            "name": _latest(timeline, end, "agent_name"),
            "state": last.raw["state"],
            "reason": last.raw.get("reason"),
            "since": _run_start(states, lambda raw: (raw["state"], raw.get("reason"))),
            "contact_since": _run_start(states, lambda raw: (raw["state"], raw.get("contact_id"))) if on_contact else None,
            "queues": list(dict.fromkeys(_latest(timeline, end, "queues") or ())) or [UNKNOWN_QUEUE],
            "channel": _latest(timeline, end, "channel") or DEFAULT_CHANNEL,
            "capacity": _latest(timeline, end, "capacity") or 1,
            "contact_id": last.raw.get("contact_id"),
            "contact_queue": last.raw.get("queue"),
        }
    return result
