"""Demo traffic: a discrete-event simulation of a contact center that yields contract-v1 events.

It is pure on purpose (no I/O, no clock, no sleeping): the same seed replays the same day, so the demo,
the tests and load runs all see identical traffic, and pacing against the wall clock stays the caller's job.
Everything random comes from one ``random.Random(seed)`` and the event heap breaks time ties with a
sequence number, which is what makes the output reproducible.

Contacts are served by agents who work 8-hour shifts, take breaks, lunch, meetings and training, and now
and then let an offered contact ring unanswered. That model always runs, because it shapes the contacts'
waits; whether its own events (``agent.*`` for cx.agents, ``contact.ringing``/``contact.missed``) are
emitted is the caller's choice, and the contact events are the same either way.
"""

from __future__ import annotations

import heapq
import math
import random
import time as _time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from adapters.cx_traffic import Action, CxLayer

# Share of the peak arrival rate for each UTC hour of event time: quiet nights, a morning ramp, a
# late-morning peak, a lunch dip and a second, slightly lower, early-afternoon peak.
DIURNAL_LOAD: Final = (
    0.10, 0.10, 0.10, 0.10, 0.10, 0.12,
    0.20, 0.40, 0.70, 0.90, 1.00, 1.00,
    0.85, 0.95, 1.00, 0.90, 0.80, 0.60,
    0.45, 0.35, 0.25, 0.18, 0.12, 0.10,
)  # fmt: skip
# Every hour at the peak rate: what tests, benchmarks and the demo use, so that the traffic they see does
# not depend on the hour they run at.
FLAT_LOAD: Final = (1.0,) * 24
LOAD_PROFILES: Final[dict[str, tuple[float, ...]]] = {"flat": FLAT_LOAD, "diurnal": DIURNAL_LOAD}

REPEAT_SHARE: Final = 0.15
UNKNOWN_CUSTOMER_SHARE: Final = 0.10
# Repeats are scheduled on top of fresh arrivals, so fresh traffic is thinned to keep the total near
# ``calls_per_hour``; only known customers can be recognised as repeating, hence the second ratio.
_FRESH_SHARE: Final = 1.0 - REPEAT_SHARE
_UNKNOWN_AMONG_FRESH: Final = UNKNOWN_CUSTOMER_SHARE / _FRESH_SHARE
_REPEAT_PROBABILITY: Final = REPEAT_SHARE / (1.0 - UNKNOWN_CUSTOMER_SHARE)
_REPEAT_SAME_QUEUE: Final = 0.75
_REPEAT_DELAY_S: Final = (300.0, 4 * 3600.0)
_CUSTOMER_POOL: Final = 1_000_000

_TALK_SIGMA: Final = 0.6
_TALK_CAP: Final = 6.0
_HOLD_PROBABILITY: Final = 0.3
_HOLD_S: Final = (10.0, 120.0)
_ACW_S: Final = (10.0, 90.0)
_HANDLING_OVERHEAD_S: Final = _HOLD_PROBABILITY * sum(_HOLD_S) / 2 + sum(_ACW_S) / 2

_SURVEY_PROBABILITY: Final = 0.20
_SURVEY_DELAY_S: Final = (120.0, 1800.0)
_SURVEY_NAMES_CONTACT: Final = 0.5
_SURVEY_ANSWER_RATES: Final = (("csat", 0.85), ("nps", 0.45), ("ces", 0.30), ("resolved", 0.60))

# Each seat of a queue is worked in three 8-hour shifts a day by three people, each always on the same
# shift. Seats change hands at staggered times, so a queue's staffing never drops all at once.
_SHIFT_S: Final = 8 * 3600.0
_SHIFTS_PER_DAY: Final = 3
# The aux plan of every shift: (reason, earliest and latest start after the shift starts, length).
_SHIFT_AUX: Final = (
    ("break", 1.5 * 3600, 2.5 * 3600, 15 * 60.0),
    ("lunch", 3.5 * 3600, 4.5 * 3600, 30 * 60.0),
    ("break", 5.5 * 3600, 6.5 * 3600, 15 * 60.0),
)
# Some shifts also hold a meeting or a training session, anywhere in the shift.
_EXTRA_AUX_PROBABILITY: Final = 0.3
_EXTRA_AUX: Final = (("meeting", 30 * 60.0), ("training", 60 * 60.0))
_EXTRA_AUX_WINDOW: Final = (0.5 * 3600, 7.0 * 3600)
# The share of a shift spent in aux on average: staffing covers it (see _generated_profile).
PLANNED_AUX_SHARE: Final = (
    sum(aux[3] for aux in _SHIFT_AUX) + _EXTRA_AUX_PROBABILITY * sum(length for _, length in _EXTRA_AUX) / len(_EXTRA_AUX)
) / _SHIFT_S
# Every fifth agent of a queue also serves the next queue of the same channel (a second skill).
_SECOND_QUEUE_EVERY: Final = 5
_MISS_PROBABILITY: Final = 0.02
_RING_S: Final = 20.0
# A waiting contact reaches an agent who has just become available this long after: the agent's
# "available" and "on_contact" never share a timestamp, so their order needs no tie-break.
_CONNECT_S: Final = (1.0, 3.0)

_FIRST_NAMES: Final = (
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kemi", "Liam",
    "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wen", "Yusuf",
)  # fmt: skip
_LAST_NAMES: Final = (
    "Adams", "Berg", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski",
    "Lopez", "Moreau", "Nowak", "Okafor", "Petrov", "Quint", "Rossi", "Silva", "Tanaka", "Usman", "Varga",
    "Weber", "Zhang",
)  # fmt: skip

(
    _ARRIVAL, _REPEAT, _ABANDON, _END, _WRAPUP, _SURVEY, _CONNECT, _MISSED, _SHIFT, _AUX_START, _AUX_END, _CX,
) = range(12)  # fmt: skip


@dataclass(frozen=True, slots=True)
class QueueProfile:
    """How one queue behaves; ``calls_per_hour`` is the rate at the busiest hour of the day, ``agents`` the
    number of agents logged in for it at any time (seats; some of their time goes to aux)."""

    name: str
    channel: str
    calls_per_hour: float
    agents: int
    mean_talk_s: float
    mean_patience_s: float

    def __post_init__(self) -> None:
        """Refuse profiles the simulation cannot draw from rather than failing deep inside a run."""
        if self.calls_per_hour < 0 or self.agents < 0:
            raise ValueError(f"queue {self.name!r}: calls_per_hour and agents must not be negative")
        if self.mean_talk_s <= 0 or self.mean_patience_s <= 0:
            raise ValueError(f"queue {self.name!r}: mean_talk_s and mean_patience_s must be positive")


# Staffed so that the agents not in aux are close to the offered load at peak (rate x handling time),
# so service is good most of the day but the peaks produce real queues and some abandonment.
DEFAULT_QUEUES: Final[tuple[QueueProfile, ...]] = (
    QueueProfile("billing", "voice", calls_per_hour=240, agents=31, mean_talk_s=300, mean_patience_s=120),
    QueueProfile("billing", "chat", calls_per_hour=150, agents=34, mean_talk_s=600, mean_patience_s=180),
    QueueProfile("support", "voice", calls_per_hour=300, agents=46, mean_talk_s=420, mean_patience_s=150),
    QueueProfile("support", "chat", calls_per_hour=180, agents=45, mean_talk_s=720, mean_patience_s=240),
    QueueProfile("sales", "voice", calls_per_hour=120, agents=18, mean_talk_s=360, mean_patience_s=90),
    QueueProfile("retention", "voice", calls_per_hour=60, agents=13, mean_talk_s=540, mean_patience_s=100),
)


def queue_profiles(count: int) -> tuple[QueueProfile, ...]:
    """DEFAULT_QUEUES when count<=len(DEFAULT_QUEUES), else that many generated profiles (names like q001..).

    Generated profiles come from a fixed seed, one profile per draw sequence, so a larger ``count`` extends
    a smaller one instead of reshuffling it: load tests at different sizes share their first queues.
    """
    if count <= len(DEFAULT_QUEUES):
        return DEFAULT_QUEUES
    rng = random.Random(0)
    return tuple(_generated_profile(index, rng) for index in range(1, count + 1))


def _generated_profile(index: int, rng: random.Random) -> QueueProfile:
    """A plausible queue whose agents not in aux are about 10% above its peak load, so it queues at peaks
    without collapsing."""
    chat = index % 3 == 0
    calls_per_hour = float(round(rng.uniform(20.0, 240.0)))
    talk_s = round(rng.uniform(180.0, 480.0) * (1.8 if chat else 1.0), 1)
    patience_s = round(rng.uniform(60.0, 180.0) * (1.5 if chat else 1.0), 1)
    erlangs = calls_per_hour * (talk_s + _HANDLING_OVERHEAD_S) / 3600.0
    return QueueProfile(
        name=f"q{index:03d}",
        channel="chat" if chat else "voice",
        calls_per_hour=calls_per_hour,
        agents=max(1, math.ceil(erlangs * 1.1 / (1.0 - PLANNED_AUX_SHARE))),
        mean_talk_s=talk_s,
        mean_patience_s=patience_s,
    )


def generate(
    start: float,
    duration_s: float | None,
    seed: int = 7,
    queues: Sequence[QueueProfile] = DEFAULT_QUEUES,
    rate_scale: float = 1.0,
    load: Sequence[float] = FLAT_LOAD,
    agents: bool = False,
    cx: bool = False,
) -> Iterator[dict[str, Any]]:
    """Yield contract-v1 event dicts in non-decreasing event time from epoch `start` for `duration_s` seconds of
    event time (None = forever). Same seed + same args => identical sequence. ``load`` is the share of the
    peak rate for each UTC hour of event time (``LOAD_PROFILES``); with the flat profile the traffic drawn
    does not depend on ``start`` at all, only its ids do.

    The center starts empty at ``start``: every seat's agent logs in then, and the stream simply stops at
    the end, so contacts and shifts still in progress then are cut short, as they would be in any window of
    a live stream. ``agents`` adds the agent layer: ``agent.state_changed`` events (for cx.agents) and the
    ``contact.ringing``/``contact.missed`` pairs of offers an agent let ring; the other events are identical
    with or without it. Ids look like ``{seed}-{start_ms}-{n}`` (contact and survey events),
    ``{seed}-{start_ms}-a{n:012d}`` (the agent layer's events, zero-padded so that an agent's events at
    one millisecond sort by id in the order they happened) and ``{seed}-{start_ms}-c{n}`` (contacts).

    ``cx`` adds the CX layer (adapters/cx_traffic.py): tickets (cx.tickets), customer accounts (cx.accounts),
    ``chat.message`` events of chat contacts and comments on some surveys. The customer base's joins and
    the last two days' open tickets are dated before ``start`` and come first; after them, times never go
    back. With it, a tenth of the contacts' customers are account holders (``cust-NNNNNN``), the others
    guests without an account (``guest-NNNNNN``): the contact events are otherwise the same. Its ids look
    like ``{seed}-{start_ms}-x{n:012d}`` (tickets ``-t{n}``).
    """
    if duration_s is not None and duration_s < 0:
        raise ValueError("duration_s must not be negative")
    if rate_scale < 0:
        raise ValueError("rate_scale must not be negative")
    if len(load) != 24 or not all(0.0 <= share <= 1.0 for share in load) or not any(load):
        raise ValueError("load must give 24 hourly shares of the peak rate, each from 0 to 1, not all 0")
    end = math.inf if duration_s is None else start + duration_s
    return _Simulation(start, seed, queues, rate_scale, tuple(load), agents, cx).run(end)


class _TimeFormatter:
    """RFC 3339 in UTC with milliseconds; the minute prefix is cached since consecutive events share it."""

    __slots__ = ("_minute", "_prefix")

    def __init__(self) -> None:
        self._minute: int | None = None
        self._prefix = ""

    def __call__(self, moment: float) -> str:
        minute, millis = divmod(round(moment * 1000), 60_000)
        if minute != self._minute:
            self._minute = minute
            self._prefix = _time.strftime("%Y-%m-%dT%H:%M:", _time.gmtime(minute * 60))
        seconds, millis = divmod(millis, 1000)
        return f"{self._prefix}{seconds:02d}.{millis:03d}Z"


class _Agent:
    """One person. ``routable`` = available and not reserved by a ringing or connecting contact; ``token``
    numbers the routable spells, so queue entries from an earlier spell are recognised as stale. Timers of
    an earlier shift or an ended aux are recognised by ``shift`` and ``aux_token``."""

    __slots__ = (
        "agent_id", "name", "channel", "queues", "state", "routable", "token", "shift", "leaving", "pending",
        "aux_token",
    )  # fmt: skip

    def __init__(self, agent_id: str, name: str, channel: str, queues: list[_Queue]) -> None:
        self.agent_id = agent_id
        self.name = name
        self.channel = channel
        self.queues = queues
        self.state = "logged_out"
        self.routable = False
        self.token = 0
        self.shift = 0
        self.leaving = False
        self.pending: deque[tuple[str, float]] = deque()
        self.aux_token = 0


class _Queue:
    """Run-time state of one queue: routable agents longest-idle first (with stale entries skipped lazily),
    and callers in arrival order."""

    __slots__ = (
        "name", "channel", "peak_rate", "patience_rate", "talk_mu", "talk_cap", "free", "free_limit", "waiting",
    )  # fmt: skip

    def __init__(self, profile: QueueProfile, rate_scale: float) -> None:
        self.name = profile.name
        self.channel = profile.channel
        self.peak_rate = profile.calls_per_hour * rate_scale * _FRESH_SHARE / 3600.0
        self.patience_rate = 1.0 / profile.mean_patience_s
        self.talk_mu = math.log(profile.mean_talk_s) - _TALK_SIGMA**2 / 2
        self.talk_cap = profile.mean_talk_s * _TALK_CAP
        self.free: deque[tuple[_Agent, int]] = deque()
        self.free_limit = 16
        self.waiting: deque[_Contact] = deque()


class _Seat:
    """One position of a queue, handed from person to person at each shift change."""

    __slots__ = ("people", "number", "boundary")

    def __init__(self, people: tuple[_Agent, ...], boundary: float) -> None:
        self.people = people
        self.number = 0  # shifts started so far
        self.boundary = boundary  # when the current shift ends


class _Contact:
    """What later steps of a contact need; ``waiting`` is False while it rings or talks to an agent and
    once it is abandoned. ``patience`` numbers its spells in queue, so a stale patience timer is ignored."""

    __slots__ = ("contact_id", "customer_id", "queue", "offered_at", "waiting", "agent_id", "wait_s", "patience", "missed_by")

    def __init__(self, contact_id: str, customer_id: str | None, queue: _Queue, offered_at: float) -> None:
        self.contact_id = contact_id
        self.customer_id = customer_id
        self.queue = queue
        self.offered_at = offered_at
        self.waiting = True
        self.agent_id = ""
        self.wait_s = 0.0
        self.patience = 0
        self.missed_by: tuple[_Agent, ...] = ()


class _Simulation:
    """The event loop: a heap of (time, sequence, kind, target) entries, each handled by one method."""

    def __init__(
        self,
        start: float,
        seed: int,
        profiles: Sequence[QueueProfile],
        rate_scale: float,
        load: tuple[float, ...],
        agent_events: bool,
        cx: bool = False,
    ) -> None:
        self._rng = random.Random(seed)
        self._load = load
        self._agent_events = agent_events
        # The start is part of every id so that a restarted demo (same seed, later start) is not taken
        # for a replay of the earlier run and dropped by the worker's event_id deduplication.
        self._id_prefix = f"{seed}-{round(start * 1000)}-"
        self._heap: list[tuple[float, int, int, Any]] = []
        self._sequence = 0
        self._events = 0
        self._agent_layer_events = 0
        self._contacts = 0
        self._out: list[dict[str, Any]] = []
        self._format_time = _TimeFormatter()
        self._queues = [_Queue(profile, rate_scale) for profile in profiles]
        self._handlers: tuple[Callable[[float, Any], None], ...] = (
            self._arrive,
            self._repeat,
            self._abandon,
            self._end,
            self._wrapup,
            self._survey,
            self._connect,
            self._missed,
            self._shift,
            self._aux_start,
            self._aux_end,
            self._cx_action,
        )
        self._cx: CxLayer | None = None
        if cx:
            peak = sum(profile.calls_per_hour for profile in profiles) * rate_scale
            self._cx = CxLayer(
                seed, start, self._id_prefix, [profile.name for profile in profiles], peak, load,
                lambda moment, action: self._push(moment, _CX, action), self._format_time,
            )  # fmt: skip
        self._staff(start, profiles)
        for queue in self._queues:
            self._schedule_arrival(queue, start)

    def run(self, end: float) -> Iterator[dict[str, Any]]:
        heap, out, handlers = self._heap, self._out, self._handlers
        if self._cx is not None:
            yield from self._cx.opening
            self._cx.opening.clear()
        while heap and heap[0][0] < end:
            moment, _, kind, target = heapq.heappop(heap)
            handlers[kind](moment, target)
            yield from out
            out.clear()

    def _push(self, moment: float, kind: int, target: Any) -> None:
        self._sequence += 1
        heapq.heappush(self._heap, (moment, self._sequence, kind, target))

    def _cx_action(self, now: float, action: Action) -> None:
        self._out.extend(action(now))

    # Staffing: seats, shifts and aux.

    def _staff(self, start: float, profiles: Sequence[QueueProfile]) -> None:
        """Three people per seat; seat s of n changes hands first at start + 8 h x (s + 1) / n, then every
        8 hours, and every seat's current person logs in at the start."""
        number = 0
        for index, (profile, queue) in enumerate(zip(profiles, self._queues)):
            second = self._second_queue(index, profiles)
            seats = profile.agents
            people = []
            for n in range(1, _SHIFTS_PER_DAY * seats + 1):
                served = [queue, second] if second is not None and n % _SECOND_QUEUE_EVERY == 0 else [queue]
                first, last = number % len(_FIRST_NAMES), (number // len(_FIRST_NAMES) + number) % len(_LAST_NAMES)
                name = f"{_FIRST_NAMES[first]} {_LAST_NAMES[last]}"
                people.append(_Agent(f"{profile.name}-{profile.channel}-a{n:02d}", name, profile.channel, served))
                number += 1
            for seat in range(seats):
                shift_people = tuple(people[seat + shift * seats] for shift in range(_SHIFTS_PER_DAY))
                self._push(start, _SHIFT, _Seat(shift_people, start + _SHIFT_S * (seat + 1) / seats))
            for person in people:
                for own in person.queues:
                    own.free_limit += 2

    def _second_queue(self, index: int, profiles: Sequence[QueueProfile]) -> _Queue | None:
        """The next staffed queue of the same channel (in profile order, wrapping round) with another name:
        a queue profiled without agents stays unstaffed."""
        own = profiles[index]
        for step in range(1, len(profiles)):
            other = (index + step) % len(profiles)
            if profiles[other].channel == own.channel and profiles[other].name != own.name and profiles[other].agents:
                return self._queues[other]
        return None

    def _shift(self, now: float, seat: _Seat) -> None:
        """A seat changes hands: the leaving person logs out once free, the next one logs in now."""
        if seat.number:
            self._leave(now, seat.people[(seat.number - 1) % _SHIFTS_PER_DAY])
            seat.boundary += _SHIFT_S
        person = seat.people[seat.number % _SHIFTS_PER_DAY]
        seat.number += 1
        self._login(now, person, seat.boundary - _SHIFT_S)
        self._push(seat.boundary, _SHIFT, seat)

    def _login(self, now: float, agent: _Agent, shift_start: float) -> None:
        rng = self._rng
        agent.shift += 1
        agent.leaving = False
        agent.pending.clear()
        agent.state = "available"
        if self._agent_events:
            event = self._agent_event(now, agent)
            event["agent_name"] = agent.name
            event["queues"] = [queue.name for queue in agent.queues]
            event["channel"] = agent.channel
        plan = [(reason, rng.uniform(earliest, latest), length) for reason, earliest, latest, length in _SHIFT_AUX]
        if rng.random() < _EXTRA_AUX_PROBABILITY:
            reason, length = rng.choice(_EXTRA_AUX)
            plan.append((reason, rng.uniform(*_EXTRA_AUX_WINDOW), length))
        for reason, offset, length in plan:
            if shift_start + offset > now:
                self._push(shift_start + offset, _AUX_START, (agent, agent.shift, reason, length))
        self._ready(now, agent)

    def _leave(self, now: float, agent: _Agent) -> None:
        """An idle or pausing agent logs out at once; one busy with a contact when its wrap-up ends."""
        agent.leaving = True
        if agent.routable or agent.state == "aux":
            agent.routable = False
            agent.aux_token += 1
            self._log_out(now, agent)

    def _aux_start(self, now: float, target: tuple[_Agent, int, str, float]) -> None:
        """An aux that falls due while the agent is busy starts as soon as the agent is free."""
        agent, shift, reason, length = target
        if shift != agent.shift or agent.leaving:
            return
        if agent.routable:
            self._go_aux(now, agent, reason, length)
        else:
            agent.pending.append((reason, length))

    def _go_aux(self, now: float, agent: _Agent, reason: str, length: float) -> None:
        agent.routable = False
        agent.aux_token += 1
        agent.state = "aux"
        if self._agent_events:
            self._agent_event(now, agent)["reason"] = reason
        self._push(now + length, _AUX_END, (agent, agent.aux_token))

    def _aux_end(self, now: float, target: tuple[_Agent, int]) -> None:
        agent, token = target
        if token == agent.aux_token and agent.state == "aux":
            self._ready(now, agent)

    def _ready(self, now: float, agent: _Agent) -> None:
        """An agent done with a contact, an aux, a missed offer or just logged in: log out at the end of
        the shift, else take a due aux, else the longest-waiting contact of its queues, else wait for one."""
        if agent.leaving:
            self._log_out(now, agent)
            return
        if agent.pending:
            reason, length = agent.pending.popleft()
            self._go_aux(now, agent, reason, length)
            return
        if agent.state != "available":
            agent.state = "available"
            if self._agent_events:
                self._agent_event(now, agent)
        contact = self._longest_waiting(agent)
        if contact is not None:
            self._assign(now, contact, agent, self._rng.uniform(*_CONNECT_S))
            return
        agent.routable = True
        agent.token += 1
        entry = (agent, agent.token)
        for queue in agent.queues:
            free = queue.free
            free.append(entry)
            if len(free) > queue.free_limit:
                queue.free = deque(item for item in free if item[0].routable and item[0].token == item[1])

    # Routing: which agent gets which contact.

    def _free_agent(self, queue: _Queue, contact: _Contact) -> _Agent | None:
        """The longest-idle routable agent of the queue that has not let this contact ring already."""
        free = queue.free
        skipped: list[tuple[_Agent, int]] = []
        found = None
        while free:
            entry = free.popleft()
            agent = entry[0]
            if not agent.routable or agent.token != entry[1]:
                continue
            if agent in contact.missed_by:
                skipped.append(entry)
                continue
            found = agent
            break
        if skipped:
            free.extendleft(reversed(skipped))
        return found

    def _longest_waiting(self, agent: _Agent) -> _Contact | None:
        """Take the contact that has waited longest in any of the agent's queues (not one it let ring)."""
        best: _Contact | None = None
        best_queue: _Queue | None = None
        best_index = 0
        for queue in agent.queues:
            waiting = queue.waiting
            while waiting and not waiting[0].waiting:
                waiting.popleft()
            for index, contact in enumerate(waiting):
                if contact.waiting and agent not in contact.missed_by:
                    if best is None or contact.offered_at < best.offered_at:
                        best, best_queue, best_index = contact, queue, index
                    break
        if best_queue is not None:
            if best_index:
                del best_queue.waiting[best_index]
            else:
                best_queue.waiting.popleft()
        return best

    def _assign(self, now: float, contact: _Contact, agent: _Agent, delay: float) -> None:
        """Offer the contact to the agent: it rings unanswered now and then, else it connects after ``delay``."""
        agent.routable = False
        contact.waiting = False
        if self._rng.random() < _MISS_PROBABILITY:
            self._agent_contact_event("contact.ringing", now, contact, agent)
            self._push(now + _RING_S, _MISSED, (contact, agent))
        elif delay:
            self._push(now + delay, _CONNECT, (contact, agent))
        else:
            self._answer(now, contact, agent)

    def _connect(self, now: float, target: tuple[_Contact, _Agent]) -> None:
        self._answer(now, *target)

    def _missed(self, now: float, target: tuple[_Contact, _Agent]) -> None:
        """The contact goes to another agent at once, or back to the head of its queue."""
        contact, agent = target
        self._agent_contact_event("contact.missed", now, contact, agent)
        contact.missed_by += (agent,)
        other = self._free_agent(contact.queue, contact)
        if other is not None:
            self._assign(now, contact, other, 0.0)
        else:
            self._enqueue(now, contact, front=True)
        self._ready(now, agent)

    # Contacts.

    def _schedule_arrival(self, queue: _Queue, after: float) -> None:
        """Thinning: draw at the peak rate and keep each candidate with the load share of its hour."""
        if queue.peak_rate <= 0:
            return
        rng, moment = self._rng, after
        while True:
            moment += rng.expovariate(queue.peak_rate)
            if rng.random() < self._load[int(moment // 3600) % 24]:
                break
        self._push(moment, _ARRIVAL, queue)

    def _arrive(self, now: float, queue: _Queue) -> None:
        self._schedule_arrival(queue, now)
        self._offer(now, queue, self._fresh_customer())

    def _fresh_customer(self) -> str | None:
        rng = self._rng
        if rng.random() < _UNKNOWN_AMONG_FRESH:
            return None
        draw = rng.random()
        if self._cx is None:
            return f"cust-{int(draw * _CUSTOMER_POOL):06d}"
        return self._cx.holder(draw) or f"guest-{int(draw * _CUSTOMER_POOL):06d}"

    def _repeat(self, now: float, target: tuple[_Queue, str]) -> None:
        queue, customer_id = target
        self._offer(now, queue, customer_id)

    def _offer(self, now: float, queue: _Queue, customer_id: str | None) -> None:
        self._contacts += 1
        contact = _Contact(f"{self._id_prefix}c{self._contacts}", customer_id, queue, now)
        self._emit("contact.offered", now, contact)
        agent = self._free_agent(queue, contact)
        if agent is not None:
            self._assign(now, contact, agent, 0.0)
        else:
            self._enqueue(now, contact, front=False)

    def _enqueue(self, now: float, contact: _Contact, front: bool) -> None:
        """Patience is exponential, hence memoryless: a contact back in queue after a missed offer draws
        its remaining patience afresh."""
        contact.waiting = True
        contact.patience += 1
        queue = contact.queue
        if front:
            queue.waiting.appendleft(contact)
        else:
            queue.waiting.append(contact)
        self._push(now + self._rng.expovariate(queue.patience_rate), _ABANDON, (contact, contact.patience))

    def _abandon(self, now: float, target: tuple[_Contact, int]) -> None:
        """Patience timers are never cancelled, so a timer of a contact no longer (or again) waiting is ignored."""
        contact, patience = target
        if not contact.waiting or patience != contact.patience:
            return
        contact.waiting = False
        event = self._emit("contact.abandoned", now, contact)
        event["wait_s"] = round(now - contact.offered_at, 3)
        if self._cx is not None:
            self._cx.abandoned(now, event, now - contact.offered_at)
        self._maybe_repeat(now, contact)

    def _answer(self, now: float, contact: _Contact, agent: _Agent) -> None:
        rng, queue = self._rng, contact.queue
        contact.agent_id = agent.agent_id
        contact.wait_s = now - contact.offered_at
        event = self._emit("contact.answered", now, contact)
        event["agent_id"] = agent.agent_id
        event["wait_s"] = round(contact.wait_s, 3)
        agent.state = "on_contact"
        if self._agent_events:
            taken = self._agent_event(now, agent)
            taken["contact_id"] = contact.contact_id
            taken["queue"] = queue.name
        talk_s = min(rng.lognormvariate(queue.talk_mu, _TALK_SIGMA), queue.talk_cap)
        hold_s = rng.uniform(*_HOLD_S) if rng.random() < _HOLD_PROBABILITY else 0.0
        self._push(now + talk_s + hold_s, _END, (contact, agent, talk_s, hold_s))
        if self._cx is not None:
            self._cx.conversation(now, now + talk_s + hold_s, event, contact.wait_s)

    def _end(self, now: float, target: tuple[_Contact, _Agent, float, float]) -> None:
        contact, agent, talk_s, hold_s = target
        event = self._emit("contact.ended", now, contact)
        event["agent_id"] = agent.agent_id
        event["talk_s"] = round(talk_s, 3)
        event["hold_s"] = round(hold_s, 3)
        agent.state = "after_contact_work"
        if self._agent_events:
            self._agent_event(now, agent)
        acw_s = self._rng.uniform(*_ACW_S)
        self._push(now + acw_s, _WRAPUP, (contact, agent, acw_s))

    def _wrapup(self, now: float, target: tuple[_Contact, _Agent, float]) -> None:
        contact, agent, acw_s = target
        event = self._emit("contact.wrapup_ended", now, contact)
        event["agent_id"] = agent.agent_id
        event["acw_s"] = round(acw_s, 3)
        if self._rng.random() < _SURVEY_PROBABILITY:
            self._push(now + self._rng.uniform(*_SURVEY_DELAY_S), _SURVEY, contact)
        self._maybe_repeat(now, contact)
        self._ready(now, agent)

    def _maybe_repeat(self, now: float, contact: _Contact) -> None:
        """A known customer sometimes calls back within hours, usually to the same queue."""
        rng = self._rng
        if contact.customer_id is None or rng.random() >= _REPEAT_PROBABILITY:
            return
        queue = contact.queue if rng.random() < _REPEAT_SAME_QUEUE else rng.choice(self._queues)
        self._push(now + rng.uniform(*_REPEAT_DELAY_S), _REPEAT, (queue, contact.customer_id))

    def _survey(self, now: float, contact: _Contact) -> None:
        rng = self._rng
        self._events += 1
        event: dict[str, Any] = {
            "event_id": f"{self._id_prefix}{self._events}",
            "type": "survey.submitted",
            "time": self._format_time(now),
            "contact_id": contact.contact_id,
            "customer_id": contact.customer_id,
        }
        if rng.random() < _SURVEY_NAMES_CONTACT:
            event["queue"] = contact.queue.name
            event["channel"] = contact.queue.channel
            event["agent_id"] = contact.agent_id
        event.update(_survey_answers(rng, contact.wait_s))
        if self._cx is not None:
            self._cx.comment(event)
        self._out.append(event)

    # Output.

    def _emit(self, event_type: str, now: float, contact: _Contact) -> dict[str, Any]:
        self._events += 1
        queue = contact.queue
        event = {
            "event_id": f"{self._id_prefix}{self._events}",
            "type": event_type,
            "time": self._format_time(now),
            "contact_id": contact.contact_id,
            "customer_id": contact.customer_id,
            "queue": queue.name,
            "channel": queue.channel,
        }
        self._out.append(event)
        return event

    def _agent_layer_id(self) -> str:
        self._agent_layer_events += 1
        return f"{self._id_prefix}a{self._agent_layer_events:012d}"

    def _log_out(self, now: float, agent: _Agent) -> None:
        agent.state = "logged_out"
        if self._agent_events:
            self._agent_event(now, agent)

    def _agent_event(self, now: float, agent: _Agent) -> dict[str, Any]:
        """The agent layer's event saying the agent is now in its state; callers set the state first (and
        emit only with the agent layer on: a call per state change is a cost the contacts alone skip)."""
        event: dict[str, Any] = {
            "event_id": self._agent_layer_id(),
            "type": "agent.state_changed",
            "time": self._format_time(now),
            "agent_id": agent.agent_id,
            "state": agent.state,
        }
        self._out.append(event)
        return event

    def _agent_contact_event(self, event_type: str, now: float, contact: _Contact, agent: _Agent) -> None:
        """contact.ringing or contact.missed: a contact event of the agent layer (its own id sequence)."""
        if not self._agent_events:
            return
        queue = contact.queue
        self._out.append(
            {
                "event_id": self._agent_layer_id(),
                "type": event_type,
                "time": self._format_time(now),
                "contact_id": contact.contact_id,
                "customer_id": contact.customer_id,
                "queue": queue.name,
                "channel": queue.channel,
                "agent_id": agent.agent_id,
            }
        )


def _survey_answers(rng: random.Random, wait_s: float) -> dict[str, Any]:
    """Scores follow one latent mood that long waits pull down, so the KPIs show the wait/CSAT link.

    ``ces`` is read as "it was easy" agreement (7 = easiest), so it moves with the other scores.
    """
    mood = rng.gauss(0.8, 1.0) - min(wait_s / 120.0, 3.0)
    scores: dict[str, Any] = {
        "csat": _clamp(round(3.4 + 1.1 * mood), 1, 5),
        "nps": _clamp(round(6.8 + 2.2 * mood), 0, 10),
        "ces": _clamp(round(4.6 + 1.4 * mood), 1, 7),
        "resolved": rng.random() < 0.55 + 0.15 * mood,
    }
    answers = {name: scores[name] for name, rate in _SURVEY_ANSWER_RATES if rng.random() < rate}
    return answers or {"csat": scores["csat"]}


def _clamp(value: int, low: int, high: int) -> int:
    return low if value < low else high if value > high else value
