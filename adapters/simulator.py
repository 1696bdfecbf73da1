"""Demo traffic: a discrete-event simulation of a contact center that yields contract-v1 events.

It is pure on purpose (no I/O, no clock, no sleeping): the same seed replays the same day, so the demo,
the tests and load runs all see identical traffic, and pacing against the wall clock stays the caller's job.
Everything random comes from one ``random.Random(seed)`` and the event heap breaks time ties with a
sequence number, which is what makes the output reproducible.
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

_ARRIVAL, _REPEAT, _ABANDON, _END, _WRAPUP, _SURVEY = range(6)


@dataclass(frozen=True, slots=True)
class QueueProfile:
    """How one queue behaves; ``calls_per_hour`` is the rate at the busiest hour of the day."""

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


# Staffed close to the offered load at peak (rate x handling time), so service is good most of the day
# but the peaks produce real queues and some abandonment.
DEFAULT_QUEUES: Final[tuple[QueueProfile, ...]] = (
    QueueProfile("billing", "voice", calls_per_hour=240, agents=26, mean_talk_s=300, mean_patience_s=120),
    QueueProfile("billing", "chat", calls_per_hour=150, agents=29, mean_talk_s=600, mean_patience_s=180),
    QueueProfile("support", "voice", calls_per_hour=300, agents=39, mean_talk_s=420, mean_patience_s=150),
    QueueProfile("support", "chat", calls_per_hour=180, agents=38, mean_talk_s=720, mean_patience_s=240),
    QueueProfile("sales", "voice", calls_per_hour=120, agents=15, mean_talk_s=360, mean_patience_s=90),
    QueueProfile("retention", "voice", calls_per_hour=60, agents=11, mean_talk_s=540, mean_patience_s=100),
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
    """A plausible queue staffed about 10% above its peak load, so it queues at peaks without collapsing."""
    chat = index % 3 == 0
    calls_per_hour = float(round(rng.uniform(20.0, 240.0)))
    talk_s = round(rng.uniform(180.0, 480.0) * (1.8 if chat else 1.0), 1)
    patience_s = round(rng.uniform(60.0, 180.0) * (1.5 if chat else 1.0), 1)
    erlangs = calls_per_hour * (talk_s + _HANDLING_OVERHEAD_S) / 3600.0
    return QueueProfile(
        name=f"q{index:03d}",
        channel="chat" if chat else "voice",
        calls_per_hour=calls_per_hour,
        agents=max(1, math.ceil(erlangs * 1.1)),
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
) -> Iterator[dict[str, Any]]:
    """Yield contract-v1 event dicts in non-decreasing event time from epoch `start` for `duration_s` seconds of
    event time (None = forever). Same seed + same args => identical sequence. ``load`` is the share of the
    peak rate for each UTC hour of event time (``LOAD_PROFILES``); with the flat profile the traffic drawn
    does not depend on ``start`` at all, only its ids do.

    The center starts empty at ``start`` and the stream simply stops at the end, so contacts still in
    progress then are cut short, as they would be in any window of a live stream. Ids look like
    ``{seed}-{start_ms}-{n}`` (events) and ``{seed}-{start_ms}-c{n}`` (contacts).
    """
    if duration_s is not None and duration_s < 0:
        raise ValueError("duration_s must not be negative")
    if rate_scale < 0:
        raise ValueError("rate_scale must not be negative")
    if len(load) != 24 or not all(0.0 <= share <= 1.0 for share in load) or not any(load):
        raise ValueError("load must give 24 hourly shares of the peak rate, each from 0 to 1, not all 0")
    end = math.inf if duration_s is None else start + duration_s
    return _Simulation(start, seed, queues, rate_scale, tuple(load)).run(end)


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


class _Queue:
    """Run-time state of one queue: free agents longest-idle first, and callers in arrival order."""

    __slots__ = ("name", "channel", "peak_rate", "patience_rate", "talk_mu", "talk_cap", "free", "waiting")

    def __init__(self, profile: QueueProfile, rate_scale: float) -> None:
        self.name = profile.name
        self.channel = profile.channel
        self.peak_rate = profile.calls_per_hour * rate_scale * _FRESH_SHARE / 3600.0
        self.patience_rate = 1.0 / profile.mean_patience_s
        self.talk_mu = math.log(profile.mean_talk_s) - _TALK_SIGMA**2 / 2
        self.talk_cap = profile.mean_talk_s * _TALK_CAP
        self.free = deque(f"{profile.name}-{profile.channel}-a{n:02d}" for n in range(1, profile.agents + 1))
        self.waiting: deque[_Contact] = deque()


class _Contact:
    """What later steps of a contact need; ``waiting`` is False once it is answered or abandoned."""

    __slots__ = ("contact_id", "customer_id", "queue", "offered_at", "waiting", "agent_id", "wait_s")

    def __init__(self, contact_id: str, customer_id: str | None, queue: _Queue, offered_at: float) -> None:
        self.contact_id = contact_id
        self.customer_id = customer_id
        self.queue = queue
        self.offered_at = offered_at
        self.waiting = True
        self.agent_id = ""
        self.wait_s = 0.0


class _Simulation:
    """The event loop: a heap of (time, sequence, kind, target) entries, each handled by one method."""

    def __init__(
        self, start: float, seed: int, profiles: Sequence[QueueProfile], rate_scale: float, load: tuple[float, ...]
    ) -> None:
        self._rng = random.Random(seed)
        self._load = load
        # The start is part of every id so that a restarted demo (same seed, later start) is not taken
        # for a replay of the earlier run and dropped by the worker's event_id deduplication.
        self._id_prefix = f"{seed}-{round(start * 1000)}-"
        self._heap: list[tuple[float, int, int, Any]] = []
        self._sequence = 0
        self._events = 0
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
        )
        for queue in self._queues:
            self._schedule_arrival(queue, start)

    def run(self, end: float) -> Iterator[dict[str, Any]]:
        heap, out, handlers = self._heap, self._out, self._handlers
        while heap and heap[0][0] < end:
            moment, _, kind, target = heapq.heappop(heap)
            handlers[kind](moment, target)
            yield from out
            out.clear()

    def _push(self, moment: float, kind: int, target: Any) -> None:
        self._sequence += 1
        heapq.heappush(self._heap, (moment, self._sequence, kind, target))

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
        return f"cust-{int(rng.random() * _CUSTOMER_POOL):06d}"

    def _repeat(self, now: float, target: tuple[_Queue, str]) -> None:
        queue, customer_id = target
        self._offer(now, queue, customer_id)

    def _offer(self, now: float, queue: _Queue, customer_id: str | None) -> None:
        self._contacts += 1
        contact = _Contact(f"{self._id_prefix}c{self._contacts}", customer_id, queue, now)
        self._emit("contact.offered", now, contact)
        if queue.free:
            self._answer(now, contact, queue.free.popleft())
        else:
            queue.waiting.append(contact)
            self._push(now + self._rng.expovariate(queue.patience_rate), _ABANDON, contact)

    def _abandon(self, now: float, contact: _Contact) -> None:
        """Patience timers are never cancelled, so a timer of an already answered contact is ignored."""
        if not contact.waiting:
            return
        contact.waiting = False
        event = self._emit("contact.abandoned", now, contact)
        event["wait_s"] = round(now - contact.offered_at, 3)
        self._maybe_repeat(now, contact)

    def _answer(self, now: float, contact: _Contact, agent_id: str) -> None:
        rng, queue = self._rng, contact.queue
        contact.waiting = False
        contact.agent_id = agent_id
        contact.wait_s = now - contact.offered_at
        event = self._emit("contact.answered", now, contact)
        event["agent_id"] = agent_id
        event["wait_s"] = round(contact.wait_s, 3)
        talk_s = min(rng.lognormvariate(queue.talk_mu, _TALK_SIGMA), queue.talk_cap)
        hold_s = rng.uniform(*_HOLD_S) if rng.random() < _HOLD_PROBABILITY else 0.0
        self._push(now + talk_s + hold_s, _END, (contact, talk_s, hold_s))

    def _end(self, now: float, target: tuple[_Contact, float, float]) -> None:
        contact, talk_s, hold_s = target
        event = self._emit("contact.ended", now, contact)
        event["agent_id"] = contact.agent_id
        event["talk_s"] = round(talk_s, 3)
        event["hold_s"] = round(hold_s, 3)
        acw_s = self._rng.uniform(*_ACW_S)
        self._push(now + acw_s, _WRAPUP, (contact, acw_s))

    def _wrapup(self, now: float, target: tuple[_Contact, float]) -> None:
        contact, acw_s = target
        event = self._emit("contact.wrapup_ended", now, contact)
        event["agent_id"] = contact.agent_id
        event["acw_s"] = round(acw_s, 3)
        if self._rng.random() < _SURVEY_PROBABILITY:
            self._push(now + self._rng.uniform(*_SURVEY_DELAY_S), _SURVEY, contact)
        self._maybe_repeat(now, contact)
        self._next_contact(now, contact.queue, contact.agent_id)

    def _next_contact(self, now: float, queue: _Queue, agent_id: str) -> None:
        """Skip callers that abandoned while queued; they stay in the deque until an agent reaches them."""
        waiting = queue.waiting
        while waiting:
            contact = waiting.popleft()
            if contact.waiting:
                self._answer(now, contact, agent_id)
                return
        queue.free.append(agent_id)

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
        self._out.append(event)

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
