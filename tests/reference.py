"""Independent reference implementation of docs/kpi-definitions.md (the test oracle).

The production code computes KPIs incrementally from a stream; this module computes the same
numbers in one obvious batch pass over a complete list of events, straight from the written
definitions. It deliberately shares no code with `kpis/`, `streams/` or `api/`, so a bug there
cannot hide by being reproduced here.

The batch view has one consequence worth knowing: every event of the input is "seen", so the
grace period and the contact horizon of the live service play no part. Feed it only inputs in
which nothing is late and no contact outlives the horizon when comparing with the service.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

ALL = "*"
UNKNOWN = "unknown"

OFFERED = "contact.offered"
ANSWERED = "contact.answered"
ABANDONED = "contact.abandoned"
ENDED = "contact.ended"
WRAPUP_ENDED = "contact.wrapup_ended"
SURVEY = "survey.submitted"
CHAT_MESSAGE = "chat.message"  # scored by the sentiment scorer; counts nothing itself
SENTIMENT = "chat.sentiment"
FOLLOWERS = (SURVEY, SENTIMENT)  # booked in the contact's queue and channel when they name none
CONTACT_TYPES = (OFFERED, ANSWERED, ABANDONED, ENDED, WRAPUP_ENDED)

FORMULAS = ("answered_plus_abandoned", "answered", "abandons_within_count_as_met")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_DAY_US = 86_400 * 1_000_000

# Upper limits (inclusive) of the histogram ranges and the bin width used inside each one.
_BINS: tuple[tuple[float, int], ...] = ((300, 1), (1_800, 10), (7_200, 60), (math.inf, 600))


@dataclass(frozen=True)
class QueueRules:
    """The per-queue settings that change KPI values (timezone/day_start only move buckets)."""

    service_level_seconds: float = 20
    service_level_formula: str = "answered_plus_abandoned"
    short_abandon_seconds: float = 5
    repeat_contact_days: float = 7


def parse_time(text: str) -> float:
    """RFC 3339 timestamp with an offset -> epoch seconds (UTC)."""
    return _parse_us(text) / 1_000_000


def _parse_us(text: str) -> int:
    """RFC 3339 -> integer epoch microseconds.

    Integers keep derived durations exact: subtracting two float epochs (~1.7e9) would leave
    errors in the last digits that could flip a millisecond rounding or a `<=` comparison.
    """
    # RFC 3339 allows lower-case "t"/"z"; fromisoformat (3.11) only the upper-case ones.
    moment = datetime.fromisoformat(text.upper())
    if moment.utcoffset() is None:
        raise ValueError(f"timestamp without a UTC offset: {text!r}")
    return (moment - _EPOCH) // _MICROSECOND


@dataclass(frozen=True)
class _Event:
    """A deduplicated input event with its time parsed once."""

    raw: dict[str, Any]
    t_us: int
    position: int  # index in the input, so sorting by time is stable and reproducible

    @property
    def type(self) -> str:
        return self.raw["type"]

    def get(self, key: str) -> Any:
        """A field of the event; a missing key and an explicit null both mean "absent"."""
        return self.raw.get(key)


@dataclass
class _Contact:
    """What the other events of one contact need to know about it."""

    first_time_us: dict[str, int] = field(default_factory=dict)  # event type -> earliest time
    queue: str | None = None  # of the contact's earliest contact.* event
    channel: str | None = None


@dataclass
class _Tally:
    """The raw material of one row: counts plus the observations that means/percentiles need.

    Roll-ups merge tallies and compute every ratio afresh from the merged material, which is what
    "a roll-up over several queues" means for means, percentiles and service level alike.
    """

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    handled: int = 0
    surveys: int = 0
    answered_waits: list[float] = field(default_factory=list)  # known waits only
    abandoned_waits: list[float] = field(default_factory=list)  # known waits, short ones excluded
    sl_numerator: int = 0
    sl_denominator: int = 0
    handling_s: float = 0.0  # talk + hold (at ended) + after-contact work (at wrapup_ended)
    csat: list[int] = field(default_factory=list)
    nps: list[int] = field(default_factory=list)
    ces: list[int] = field(default_factory=list)
    resolved: list[bool] = field(default_factory=list)
    known_customer: int = 0
    repeats: int = 0
    sentiment_scores: list[float] = field(default_factory=list)
    sentiment_labels: list[str] = field(default_factory=list)

    def merge(self, other: _Tally) -> None:
        for f in fields(self):
            mine = getattr(self, f.name)
            if isinstance(mine, list):
                mine.extend(getattr(other, f.name))
            else:
                setattr(self, f.name, mine + getattr(other, f.name))


def compute(
    events: Iterable[dict[str, Any]],
    start: float,
    end: float,
    rules: Callable[[str], QueueRules] = lambda queue: QueueRules(),
) -> dict[tuple[str, str], dict[str, Any]]:
    """KPIs over events whose (booking) time t satisfies start <= t < end (epoch seconds, UTC),
    keyed by (queue, channel) plus roll-ups (queue, "*"), ("*", channel), ("*", "*").

    Events outside the window still matter: they supply derived durations (an offered event
    before `start` gives the wait of an answer inside it) and previous contacts for repeat
    detection. Every (queue, channel) any input event is booked to gets a row, even an empty one.
    """
    ordered = _deduplicate_and_sort(events)
    contacts = _index_contacts(ordered)
    repeats = _find_repeats(ordered, rules)

    tallies: dict[tuple[str, str], _Tally] = {}
    for event in ordered:
        pair = _booking_pair(event, contacts)
        tally = tallies.setdefault(pair, _Tally())
        if start <= event.t_us / 1_000_000 < end:
            _count(event, tally, contacts, rules, event.position in repeats)

    rows: dict[tuple[str, str], _Tally] = {(ALL, ALL): _Tally()}
    for (queue, channel), tally in tallies.items():
        for key in ((queue, channel), (queue, ALL), (ALL, channel), (ALL, ALL)):
            rows.setdefault(key, _Tally()).merge(tally)
    return {key: _kpis(tally) for key, tally in rows.items()}


def _deduplicate_and_sort(events: Iterable[dict[str, Any]]) -> list[_Event]:
    """Keep the first occurrence of each event_id, then order by event time (input order on ties)."""
    seen: set[str] = set()
    kept: list[_Event] = []
    for position, raw in enumerate(events):
        if raw["event_id"] in seen or raw["type"] == CHAT_MESSAGE:
            continue
        seen.add(raw["event_id"])
        if raw["type"] not in CONTACT_TYPES and raw["type"] not in FOLLOWERS:
            raise ValueError(f"unknown event type {raw['type']!r} in {raw['event_id']!r}")
        kept.append(_Event(raw, _parse_us(raw["time"]), position))
    kept.sort(key=lambda e: (e.t_us, e.position))
    return kept


def _index_contacts(ordered: list[_Event]) -> dict[str, _Contact]:
    """Per contact: the earliest time of each contact.* event type, and its queue/channel.

    The earliest event of a type is used when a contact has several (e.g. offered twice), since
    event time - unlike arrival order - does not depend on how the input was shuffled.
    """
    contacts: dict[str, _Contact] = defaultdict(_Contact)
    for event in ordered:
        if event.type in FOLLOWERS:
            continue
        contact = contacts[event.get("contact_id")]
        contact.first_time_us.setdefault(event.type, event.t_us)
        if contact.queue is None:
            contact.queue, contact.channel = event.get("queue"), event.get("channel")
    return contacts


def _booking_pair(event: _Event, contacts: dict[str, _Contact]) -> tuple[str, str]:
    """The (queue, channel) a count is booked to: the event's own, for surveys and sentiments filled
    in from the contact's events (field by field), and `unknown` when the contact is never seen."""
    queue, channel = event.get("queue"), event.get("channel")
    if event.type not in FOLLOWERS:
        return queue, channel
    contact = contacts.get(event.get("contact_id"))
    if queue is None:
        queue = contact.queue if contact else None
    if channel is None:
        channel = contact.channel if contact else None
    return (UNKNOWN if queue is None else queue, UNKNOWN if channel is None else channel)


def _find_repeats(ordered: list[_Event], rules: Callable[[str], QueueRules]) -> set[int]:
    """Positions of the offered events that are repeat contacts.

    Looks at all offered events, not only those in the window: a previous contact before the
    window still makes a contact inside it a repeat. Only the customer's immediately previous
    contact needs checking, as it is the closest earlier one.
    """
    by_customer: dict[str, list[_Event]] = defaultdict(list)
    for event in ordered:
        if event.type == OFFERED and event.get("customer_id") is not None:
            by_customer[event.get("customer_id")].append(event)

    repeats: set[int] = set()
    for offers in by_customer.values():
        # Equal times: smaller contact_id is earlier (spec); event_id only makes the order total.
        offers.sort(key=lambda e: (e.t_us, e.get("contact_id"), e.get("event_id")))
        for previous, later in zip(offers, offers[1:]):
            limit_us = rules(later.get("queue")).repeat_contact_days * _DAY_US
            if later.t_us - previous.t_us <= limit_us:
                repeats.add(later.position)
    return repeats


def _count(
    event: _Event,
    tally: _Tally,
    contacts: dict[str, _Contact],
    rules: Callable[[str], QueueRules],
    is_repeat: bool,
) -> None:
    """Add one in-window event to its row, following the Counts/Wait/Service level sections."""
    kind = event.type
    if kind == SURVEY:
        _count_survey(event, tally)
        return
    if kind == SENTIMENT:
        tally.sentiment_scores.append(event.get("score"))
        tally.sentiment_labels.append(event.get("label"))
        return

    queue_rules = rules(event.get("queue"))
    if queue_rules.service_level_formula not in FORMULAS:
        raise ValueError(f"unknown service_level_formula {queue_rules.service_level_formula!r}")
    contact = contacts[event.get("contact_id")]
    if kind == OFFERED:
        tally.offered += 1
        if event.get("customer_id") is not None:
            tally.known_customer += 1
            if is_repeat:
                tally.repeats += 1
    elif kind == ANSWERED:
        wait = _duration(event, "wait_s", contact.first_time_us.get(OFFERED))
        tally.answered += 1
        tally.sl_denominator += 1  # every formula's denominator has all answered contacts
        if wait is not None:
            tally.answered_waits.append(wait)
            if wait <= queue_rules.service_level_seconds:
                tally.sl_numerator += 1
    elif kind == ABANDONED:
        _count_abandon(event, tally, contact, queue_rules)
    elif kind == ENDED:
        tally.handled += 1
        talk = _duration(event, "talk_s", contact.first_time_us.get(ANSWERED))
        hold = event.get("hold_s")
        tally.handling_s += (talk or 0.0) + (hold or 0.0)
    elif kind == WRAPUP_ENDED:
        acw = _duration(event, "acw_s", contact.first_time_us.get(ENDED))
        tally.handling_s += acw or 0.0


def _count_abandon(event: _Event, tally: _Tally, contact: _Contact, queue_rules: QueueRules) -> None:
    """Short abandons are left out of everything but their own count; an unknown wait is not short."""
    wait = _duration(event, "wait_s", contact.first_time_us.get(OFFERED))
    threshold = queue_rules.short_abandon_seconds
    if wait is not None and threshold > 0 and wait < threshold:
        tally.short_abandoned += 1
        return
    tally.abandoned += 1
    if wait is not None:
        tally.abandoned_waits.append(wait)
    if queue_rules.service_level_formula != "answered":
        tally.sl_denominator += 1
    met = wait is not None and wait <= queue_rules.service_level_seconds
    if queue_rules.service_level_formula == "abandons_within_count_as_met" and met:
        tally.sl_numerator += 1


def _count_survey(event: _Event, tally: _Tally) -> None:
    """Each answer feeds only its own KPI, so a survey may answer some questions and skip others."""
    tally.surveys += 1
    for key, answers in (("csat", tally.csat), ("nps", tally.nps), ("ces", tally.ces), ("resolved", tally.resolved)):
        if event.get(key) is not None:
            answers.append(event.get(key))


def _duration(event: _Event, key: str, since_us: int | None) -> float | None:
    """The event's own duration field if present, else event time minus `since_us` rounded to the
    millisecond (half up) and clamped at 0, else None (unknown)."""
    given = event.get(key)
    if given is not None:
        return float(given)
    if since_us is None:
        return None
    elapsed_us = max(0, event.t_us - since_us)
    return ((elapsed_us + 500) // 1000) / 1000


def _bin_up(wait: float) -> float:
    """Round a wait up to the upper edge of its histogram bin (the bin is chosen by the raw wait)."""
    width = next(width for limit, width in _BINS if wait <= limit)
    return float(math.ceil(wait / width) * width)


def _p90(waits: list[float]) -> float | None:
    """Nearest rank on the binned waits: position ceil(0.9 n), computed in integers."""
    if not waits:
        return None
    binned = sorted(_bin_up(w) for w in waits)
    rank = (9 * len(binned) + 9) // 10
    return binned[rank - 1]


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _mean(values: list[float]) -> float | None:
    return _ratio(sum(values), len(values))


def _kpis(t: _Tally) -> dict[str, Any]:
    waits = t.answered_waits + t.abandoned_waits
    repeat_rate = _ratio(t.repeats, t.known_customer)
    nps_net = sum(a >= 9 for a in t.nps) - sum(a <= 6 for a in t.nps)
    return {
        "offered": t.offered,
        "answered": t.answered,
        "abandoned": t.abandoned,
        "short_abandoned": t.short_abandoned,
        "handled": t.handled,
        "surveys": t.surveys,
        "abandon_rate": _ratio(t.abandoned, t.answered + t.abandoned),
        "asa_s": _mean(t.answered_waits),
        "avg_abandon_wait_s": _mean(t.abandoned_waits),
        "max_wait_s": max(waits) if waits else None,
        "wait_p90_s": _p90(waits),
        "service_level": _ratio(t.sl_numerator, t.sl_denominator),
        "service_level_numerator": t.sl_numerator,
        "service_level_denominator": t.sl_denominator,
        "aht_s": _ratio(t.handling_s, t.handled),
        "csat": _ratio(sum(a >= 4 for a in t.csat), len(t.csat)),
        "csat_mean": _mean(t.csat),
        "nps": _ratio(100 * nps_net, len(t.nps)),
        "ces_mean": _mean(t.ces),
        "fcr_survey": _ratio(sum(a is True for a in t.resolved), len(t.resolved)),
        "repeat_contact_rate": repeat_rate,
        "fcr_repeat": None if repeat_rate is None else 1 - repeat_rate,
        "messages_scored": len(t.sentiment_scores),
        "sentiment_mean": _mean(t.sentiment_scores),
        "sentiment_negative_share": _ratio(t.sentiment_labels.count("negative"), len(t.sentiment_labels)),
    }
