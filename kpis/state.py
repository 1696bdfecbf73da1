"""KPI state of one source partition: events in, changed buckets out (docs/kpi-definitions.md).

All of a customer's events share a partition number on every source topic (the record key is the
customer id), so one ``PartitionState`` sees a contact's whole life and needs no locks.

Exactness rests on three ideas:

- Offset fences. Every bucket remembers what had been processed when it was written out: one
  vector of per-topic offsets per run of the worker that changed it (``marks``, dominated vectors
  pruned). An effect is a function of one or two events (a survey and the contact event that gave
  it a queue; an answer and the offer its wait is derived from); a bucket version holds the effect
  exactly when all of those events are within one of its vectors, whatever order they were
  processed in. A single merged vector would be wrong: after a restart, one topic's events can be
  re-read ahead of another's, and the two runs' prefixes together cover pairs that neither run
  applied. So re-reading source events that were counted already (after a crash, a rebalance, or
  at-least-once redelivery) changes nothing, while contact state is rebuilt.
- Pending effects. A duration, or the queue of a survey or of a chat message's sentiment, that
  depends on an event not seen yet is parked on the contact and booked, into the bucket of the
  event it belongs to, when that event arrives: the result is the same as in event-time order.
- Closing. A bucket closes when the partition's event time has passed its end by the grace period;
  closed buckets are final, leave memory, and later events for them are late.
"""

from __future__ import annotations

import bisect
import functools
import heapq
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Iterator, NamedTuple

from kpis.buckets import BucketStats
from kpis.event import Event
from kpis.rules import QueueRules
from kpis.scales import SURVEY_SCALES

MINUTE = 60
INTERVAL = 900
SIZES = (MINUTE, INTERVAL)
UNKNOWN = "unknown"
CLOSED_MARK = "~closed"  # closing as a pseudo-topic: effects of closing are fenced by the boundary
# Effects booked in the contact's queue and channel when their event names none: they wait for it.
FOLLOWERS = ("survey", "sentiment")
# A chat message is scored by `cxpulse sentiment`, whose chat.sentiment is what counts: the message
# itself leaves no state here (chats carry many per contact, and the contact horizon would keep them).
IGNORED_TYPES = frozenset({"chat.message"})

Source = tuple[str, int]
Pair = tuple[str, str]
Slot = tuple[int, int]  # (size, start): every (queue, channel) bucket of one time slot
Marks = dict[str, int]
Held = tuple[Source, ...] | Callable[[Marks], bool]


def _held_by_any(held: Held, versions: list[Marks]) -> bool:
    """Whether a bucket whose versions had processed these marks already holds an effect. ``held``
    is the events the effect depends on (it is held when all are within one version), or, for the
    rare effect that depends on any of several events, a test of one version."""
    if callable(held):
        return any(held(marks) for marks in versions)
    for marks in versions:
        for topic, offset in held:
            if offset > marks.get(topic, -1):
                break
        else:
            return True
    return False


def _covers(wide: Marks, narrow: Marks) -> bool:
    return all(offset <= wide.get(topic, -1) for topic, offset in narrow.items())


def frontier(vectors: list[Marks]) -> list[Marks]:
    """The vectors that no other vector covers: the same held effects, the fewest vectors."""
    kept: list[Marks] = []
    for vector in sorted(vectors, key=lambda v: -sum(v.values())):
        if not any(_covers(other, vector) for other in kept):
            kept.append(vector)
    return kept


class BucketKey(NamedTuple):
    size: int
    queue: str
    channel: str
    start: int


class Outcome(Enum):
    COUNTED = "counted"
    DUPLICATE = "duplicate"
    LATE = "late"
    IGNORED = "ignored"


@dataclass(slots=True)
class Bucket:
    stats: BucketStats
    marks: list[Marks] = field(default_factory=list)


@dataclass(slots=True)
class _Pending:
    """An effect waiting for an earlier event of the same contact: what it is, and whose bucket."""

    kind: str  # "answered", "abandoned" (wait), "talk", "acw", "survey", "sentiment"
    at: float
    queue: str | None
    channel: str | None
    origin: Source
    survey: dict[str, Any] | None = None
    sentiment: tuple[float, str] | None = None  # (score, label)


@dataclass(slots=True)
class _Contact:
    first_offsets: dict[str, int]
    event_ids: set[str] = field(default_factory=set)
    last_seen: float = 0.0
    queue: str | None = None
    channel: str | None = None
    queue_source: Source | None = None
    offered_at: float | None = None
    offered_source: Source | None = None
    answered_at: float | None = None
    answered_source: Source | None = None
    ended_at: float | None = None
    ended_source: Source | None = None
    left_queue: bool = False
    pending: list[_Pending] = field(default_factory=list)


class Offer(NamedTuple):
    """One offered contact in a customer's history, ordered by (time, contact id, event id).

    Deduplication is by event id: contact ids are not always unique in recorded traffic."""

    at: float
    contact_id: str
    event_id: str
    queue: str
    channel: str
    repeat: bool
    source: Source


@dataclass(slots=True)
class Changes:
    """What a flush must write. Buckets go out a time slot at a time: one record carries every
    (queue, channel) of a slot, so the number of records follows event time, not traffic."""

    slots: dict[Slot, dict[Pair, Bucket]]  # every slot with a changed or closed bucket, whole
    dirty: set[tuple[int, str, str, int]]  # buckets (BucketKey's fields) changed since the last call
    closed: set[Slot]  # slots closed since the last call: final, no longer held
    offers: list[tuple[str, Offer]]  # customers' offers added or re-flagged, in that order
    offers_floor: float  # offers before this time are no longer needed
    waiting: dict[tuple[str, str], tuple[int, float]] | None


Rules = Callable[[str], QueueRules]


class PartitionState:
    def __init__(self, rules: Rules, grace_s: float, contact_horizon_s: float, repeat_horizon_s: float) -> None:
        self._rules = functools.cache(rules)  # Settings.rules goes through pydantic attribute lookup
        self._grace_s = grace_s
        self._contact_horizon_s = contact_horizon_s
        self._repeat_horizon_s = repeat_horizon_s
        self.buckets: dict[BucketKey, Bucket] = {}
        self._slots: dict[Slot, dict[Pair, Bucket]] = {}
        self.closed_until = 0
        self.watermarks: dict[str, float] = {}
        self.processed: dict[str, int] = {}
        self._contacts: dict[str, _Contact] = {}
        self._contact_expiry: list[tuple[float, str]] = []  # heap of (last seen, contact), may be stale
        self._parked: set[str] = set()  # contacts with a survey or a sentiment waiting for their queue
        self._customers: dict[str, list[Offer]] = {}
        self._customer_expiry: list[tuple[float, str]] = []  # heap of (newest offer, customer), may be stale
        self._waiting: dict[str, tuple[str, str, float]] = {}
        self._dirty: set[tuple[int, str, str, int]] = set()
        self._offer_changes: list[tuple[str, Offer]] = []
        self._offers_floor = 0.0
        self._closed: dict[Slot, dict[Pair, Bucket]] = {}
        self._waiting_changed = False

    # -- restoring -------------------------------------------------------------------------

    def restore_bucket(self, key: BucketKey, bucket: Bucket) -> None:
        if key.start + key.size > self.closed_until:
            self._hold(key, bucket)

    def restore_customer(self, customer_id: str, offers: list[Offer]) -> None:
        self._customers[customer_id] = ordered = sorted(offers)
        heapq.heappush(self._customer_expiry, (ordered[-1].at, customer_id))

    def restore_meta(self, meta: dict[str, Any]) -> None:
        self.closed_until = int(meta.get("closed_until", 0))
        self.watermarks = {k: float(v) for k, v in meta.get("watermarks", {}).items()}

    def meta(self) -> dict[str, Any]:
        """Where to resume: closed horizon, event-time watermarks, and the lowest source offsets that
        contact state still needs (re-read from there after a restart)."""
        low: dict[str, int] = {}
        for contact in self._contacts.values():
            for topic, offset in contact.first_offsets.items():
                if offset < low.get(topic, offset + 1):
                    low[topic] = offset
        for topic, offset in self.processed.items():
            low.setdefault(topic, offset + 1)
        return {"closed_until": self.closed_until, "watermarks": self.watermarks, "low_offsets": low}

    # -- folding ---------------------------------------------------------------------------

    def apply(self, event: Event, topic: str, offset: int, rebuilding: bool = False) -> Outcome:
        """Fold one event in. ``rebuilding`` re-reads an event processed before a restart: one older
        than the closed horizon still updates contact state (closed buckets ignore its effects),
        because it was counted when it first came, before its buckets closed."""
        self.processed[topic] = offset
        if event.type in IGNORED_TYPES:
            return Outcome.IGNORED
        contact = self._contacts.get(event.contact_id)
        if contact is not None and event.event_id in contact.event_ids:
            return Outcome.DUPLICATE
        if event.time < self.closed_until and not rebuilding:
            return Outcome.LATE
        if event.time > self.watermarks.get(topic, 0.0):
            self.watermarks[topic] = event.time
        if contact is None:
            contact = self._contacts[event.contact_id] = _Contact(first_offsets={topic: offset})
            heapq.heappush(self._contact_expiry, (event.time, event.contact_id))
        else:
            contact.first_offsets.setdefault(topic, offset)
        contact.event_ids.add(event.event_id)
        if event.time > contact.last_seen:
            contact.last_seen = event.time
        source = (topic, offset)
        if event.type == "survey.submitted":
            self._follow(contact, event, _Pending("survey", event.time, event.queue, event.channel, source,
                                                  survey=event.answers))
            return Outcome.COUNTED
        if event.type == "chat.sentiment":
            assert event.score is not None and event.label is not None  # the contract requires both
            self._follow(contact, event, _Pending("sentiment", event.time, event.queue, event.channel, source,
                                                  sentiment=(event.score, event.label)))
            return Outcome.COUNTED
        if contact.queue is None:
            contact.queue, contact.channel, contact.queue_source = event.queue, event.channel, source
            self._resolve(contact, source)
            self._parked.discard(event.contact_id)
        handler = self._handlers[event.type]
        handler(self, contact, event, source)
        return Outcome.COUNTED

    def _targets(self, queue: str, channel: str, at: float, held: Held) -> Iterator[BucketStats]:
        """The open buckets (minute and interval) an effect at time ``at`` goes to, skipping those
        whose version already holds it. Called for every effect: looked up by a plain tuple (equal
        to its BucketKey, and cheaper to make), and the marks checked without a generator."""
        if at < self.closed_until:
            return
        buckets = self.buckets
        for size in SIZES:
            start = int(at // size) * size
            key = (size, queue, channel, start)
            bucket = buckets.get(key)  # type: ignore[call-overload]  # a plain tuple finds its BucketKey
            if bucket is None:
                bucket = self._hold(BucketKey(size, queue, channel, start), Bucket(BucketStats()))
            elif bucket.marks and _held_by_any(held, bucket.marks):
                continue
            self._dirty.add(key)
            yield bucket.stats

    def _hold(self, key: BucketKey, bucket: Bucket) -> Bucket:
        self.buckets[key] = bucket
        slot = self._slots.get((key.size, key.start))
        if slot is None:
            slot = self._slots[key.size, key.start] = {}
        slot[key.queue, key.channel] = bucket
        return bucket

    def _offered(self, contact: _Contact, event: Event, source: Source) -> None:
        queue, channel = event.queue or UNKNOWN, event.channel or UNKNOWN
        for stats in self._targets(queue, channel, event.time, (source,)):
            stats.offered += 1
        contact.offered_at, contact.offered_source = event.time, source
        if not contact.left_queue:
            self._waiting[event.contact_id] = (queue, channel, event.time)
            self._waiting_changed = True
        if event.customer_id is not None:
            self._customer_offered(event, queue, channel, source)
        for pending in self._take_pending(contact, ("answered", "abandoned")):
            self._book_wait(pending.kind, pending.queue or UNKNOWN, pending.channel or UNKNOWN, pending.at,
                            _between(event.time, pending.at), (pending.origin, source), reclassify=True)

    def _left_queue(self, contact: _Contact, event: Event, source: Source) -> None:
        kind = "answered" if event.type == "contact.answered" else "abandoned"
        queue, channel = event.queue or UNKNOWN, event.channel or UNKNOWN
        contact.left_queue = True
        if self._waiting.pop(event.contact_id, None) is not None:
            self._waiting_changed = True
        if kind == "answered":
            contact.answered_at, contact.answered_source = event.time, source
            for pending in self._take_pending(contact, ("talk",)):
                self._book_talk(pending, _between(event.time, pending.at), (pending.origin, source))
        wait = event.wait_s
        held: Held = (source,)
        if wait is None and contact.offered_at is not None and contact.offered_source is not None:
            wait = _between(contact.offered_at, event.time)
            held = (source, contact.offered_source)
        if wait is None:
            for stats in self._targets(queue, channel, event.time, held):
                if kind == "answered":
                    stats.answered += 1
                else:
                    stats.abandoned += 1
            contact.pending.append(_Pending(kind, event.time, queue, channel, source))
        else:
            self._book_wait(kind, queue, channel, event.time, wait, held, reclassify=False)

    def _book_wait(
        self, kind: str, queue: str, channel: str, at: float, wait: float, held: Held, reclassify: bool
    ) -> None:
        """Count an answered or abandoned contact with its known wait. With ``reclassify`` the contact
        was already counted (as answered, or as a not-short abandon) when its wait was unknown."""
        rules = self._rules(queue)
        within = wait <= rules.service_level_seconds
        short = kind == "abandoned" and wait < rules.short_abandon_seconds
        for stats in self._targets(queue, channel, at, held):
            if kind == "answered":
                stats.answered += 0 if reclassify else 1
                stats.answered_wait_sum_s += wait
                stats.answered_with_wait += 1
                stats.answered_within_sl += within
                stats.add_wait(wait)
            elif short:
                stats.abandoned -= 1 if reclassify else 0
                stats.short_abandoned += 1
            else:
                stats.abandoned += 0 if reclassify else 1
                stats.abandoned_wait_sum_s += wait
                stats.abandoned_with_wait += 1
                stats.abandoned_within_sl += within
                stats.add_wait(wait)

    def _ended(self, contact: _Contact, event: Event, source: Source) -> None:
        queue, channel = event.queue or UNKNOWN, event.channel or UNKNOWN
        contact.ended_at, contact.ended_source = event.time, source
        talk = event.talk_s
        hold = event.hold_s or 0.0
        for stats in self._targets(queue, channel, event.time, (source,)):
            stats.handled += 1
            stats.hold_sum_s += hold
            stats.talk_sum_s += talk or 0.0
        pending = _Pending("talk", event.time, queue, channel, source)
        if talk is None and contact.answered_at is not None and contact.answered_source is not None:
            self._book_talk(pending, _between(contact.answered_at, event.time), (source, contact.answered_source))
        elif talk is None:
            contact.pending.append(pending)
        for pending in self._take_pending(contact, ("acw",)):
            self._book_acw(pending, _between(event.time, pending.at), (pending.origin, source))

    def _wrapup(self, contact: _Contact, event: Event, source: Source) -> None:
        pending = _Pending("acw", event.time, event.queue or UNKNOWN, event.channel or UNKNOWN, source)
        acw = event.acw_s
        if acw is not None:
            self._book_acw(pending, acw, (source,))
        elif contact.ended_at is not None and contact.ended_source is not None:
            self._book_acw(pending, _between(contact.ended_at, event.time), (source, contact.ended_source))
        else:
            contact.pending.append(pending)

    def _agent_step(self, contact: _Contact, event: Event, source: Source) -> None:
        """A ringing, missed or transferred contact: counted in the contact's bucket at the event's
        time (missed also per agent); ringing alone counts nothing but is deduplicated like the rest."""
        if event.type == "contact.ringing":
            return
        agent_id = event.agent_id
        for stats in self._targets(event.queue or UNKNOWN, event.channel or UNKNOWN, event.time, (source,)):
            if event.type == "contact.transferred":
                stats.transferred += 1
                continue
            stats.missed += 1
            if agent_id is not None:
                stats.missed_by_agent[agent_id] = stats.missed_by_agent.get(agent_id, 0) + 1

    def _book_talk(self, pending: _Pending, talk: float, held: Held) -> None:
        for stats in self._targets(pending.queue or UNKNOWN, pending.channel or UNKNOWN, pending.at, held):
            stats.talk_sum_s += talk

    def _book_acw(self, pending: _Pending, acw: float, held: Held) -> None:
        for stats in self._targets(pending.queue or UNKNOWN, pending.channel or UNKNOWN, pending.at, held):
            stats.acw_sum_s += acw

    def _follow(self, contact: _Contact, event: Event, pending: _Pending) -> None:
        """A survey or a sentiment: booked in its own queue and channel when it names both, otherwise
        in the contact's, parked until a contact event brings them (the effect then depends on both)."""
        source = pending.origin
        if pending.queue is not None and pending.channel is not None:
            self._book_follower(pending, (source,))
        elif contact.queue is None or contact.queue_source is None:
            contact.pending.append(pending)
            self._parked.add(event.contact_id)
        else:
            pending.queue = pending.queue or contact.queue
            pending.channel = pending.channel or contact.channel
            self._book_follower(pending, (source, contact.queue_source))

    def _book_follower(self, pending: _Pending, held: Held) -> None:
        if pending.kind == "survey":
            self._book_survey(pending, held)
        else:
            self._book_sentiment(pending, held)

    def _book_sentiment(self, pending: _Pending, held: Held) -> None:
        assert pending.sentiment is not None
        score, label = pending.sentiment
        for stats in self._targets(pending.queue or UNKNOWN, pending.channel or UNKNOWN, pending.at, held):
            stats.add_sentiment(score, label)

    def _book_survey(self, pending: _Pending, held: Held) -> None:
        answers = pending.survey or {}
        scored = [(scale, answers[scale.name]) for scale in SURVEY_SCALES if answers.get(scale.name) is not None]
        resolved = answers.get("resolved")
        for stats in self._targets(pending.queue or UNKNOWN, pending.channel or UNKNOWN, pending.at, held):
            stats.surveys += 1
            for scale, answer in scored:
                stats.add_score(scale, answer)
            if resolved is not None:
                stats.resolved_answers += 1
                stats.resolved_true += bool(resolved)

    def _resolve(self, contact: _Contact, source: Source) -> None:
        """Book parked surveys and sentiments now that the contact's queue and channel are known."""
        for pending in self._take_pending(contact, FOLLOWERS):
            pending.queue = pending.queue or contact.queue
            pending.channel = pending.channel or contact.channel
            self._book_follower(pending, (pending.origin, source))

    @staticmethod
    def _take_pending(contact: _Contact, kinds: tuple[str, ...]) -> list[_Pending]:
        if not contact.pending:
            return []
        taken = [p for p in contact.pending if p.kind in kinds]
        if taken:
            contact.pending = [p for p in contact.pending if p.kind not in kinds]
        return taken

    # -- repeat contacts --------------------------------------------------------------------

    def _customer_offered(self, event: Event, queue: str, channel: str, source: Source) -> None:
        customer_id = event.customer_id
        assert customer_id is not None
        offers = self._customers.setdefault(customer_id, [])
        position = bisect.bisect_left(offers, (event.time, event.contact_id, event.event_id))
        if position < len(offers) and offers[position].event_id == event.event_id:
            return  # the same event again: offers are ordered by (time, contact, event id)
        previous = offers[position - 1] if position > 0 else None
        repeat = previous is not None and event.time - previous.at <= self._repeat_window(queue)
        offer = Offer(event.time, event.contact_id, event.event_id, queue, channel, repeat, source)
        offers.insert(position, offer)
        self._offer_changes.append((customer_id, offer))
        if position == len(offers) - 1:
            heapq.heappush(self._customer_expiry, (offer.at, customer_id))
        for stats in self._targets(queue, channel, event.time, (source,)):
            stats.known_customer_offered += 1
        if repeat:
            self._count_repeat(offers, position)
        if position + 1 < len(offers):
            later = offers[position + 1]
            if not later.repeat and later.at - event.time <= self._repeat_window(later.queue):
                offers[position + 1] = later = later._replace(repeat=True)
                self._offer_changes.append((customer_id, later))
                self._count_repeat(offers, position + 1)
        # Offers in closed buckets no longer change counts, but the newest of them can still make a
        # later offer a repeat.
        settled = bisect.bisect_left(offers, (float(self.closed_until),))
        if settled > 1:
            del offers[: settled - 1]

    def _count_repeat(self, offers: list[Offer], position: int) -> None:
        """Count the offer at ``position`` as a repeat. A bucket version holds that count when the
        offer and any earlier offer close enough to make it a repeat are within one of its mark
        vectors: which earlier offer happened to arrive first does not matter.

        Marks are per-topic prefixes, so of the earlier offers only the lowest offset per topic
        matters, and an earlier offer of the same topic at or below the offer's own offset (the usual
        case: it was processed first) makes the condition the offer's own. The scan goes back from
        the offer and stops there, so its cost does not grow with a customer's contacts: a
        placeholder customer id ("anonymous") can have hundreds of thousands in one day."""
        offer = offers[position]
        window = self._repeat_window(offer.queue)
        topic, offset = offer.source
        lowest: dict[str, int] = {}
        for index in range(position - 1, -1, -1):
            earlier = offers[index]
            if offer.at - earlier.at > window:
                break
            earlier_topic, earlier_offset = earlier.source
            if earlier_topic == topic and earlier_offset <= offset:
                lowest = {}
                break
            if earlier_offset < lowest.get(earlier_topic, earlier_offset + 1):
                lowest[earlier_topic] = earlier_offset
        held: Held
        if not lowest:
            held = (offer.source,)
        elif len(lowest) == 1:
            [(earliest_topic, earliest_offset)] = lowest.items()
            held = (offer.source, (earliest_topic, earliest_offset))
        else:
            def held(marks: Marks) -> bool:
                return offset <= marks.get(topic, -1) and any(low <= marks.get(t, -1) for t, low in lowest.items())

        for stats in self._targets(offer.queue, offer.channel, offer.at, held):
            stats.repeat_offered += 1

    def _repeat_window(self, queue: str) -> float:
        return self._rules(queue).repeat_contact_days * 86400.0

    # -- closing and expiry -----------------------------------------------------------------

    def close(self, watermark: float) -> None:
        """Close buckets that ended more than the grace period before ``watermark`` and forget what
        no open bucket can need any more."""
        boundary = int((watermark - self._grace_s) // MINUTE) * MINUTE
        if boundary <= self.closed_until:
            return
        self._settle_unknown_followers(boundary)
        self.closed_until = boundary
        for slot in [s for s in self._slots if s[0] + s[1] <= boundary]:
            buckets = self._closed[slot] = self._slots.pop(slot)
            for queue, channel in buckets:
                del self.buckets[BucketKey(slot[0], queue, channel, slot[1])]
        self._expire(watermark)

    def _settle_unknown_followers(self, boundary: int) -> None:
        """A survey or sentiment whose contact never showed up within the grace period goes to queue
        "unknown"; that effect depends on its event and on closing up to ``boundary``."""
        for contact_id in list(self._parked):
            contact = self._contacts.get(contact_id)
            if contact is None:
                self._parked.discard(contact_id)
                continue
            for pending in self._take_pending(contact, FOLLOWERS):
                if pending.at < boundary:
                    pending.queue, pending.channel = pending.queue or UNKNOWN, pending.channel or UNKNOWN
                    self._book_follower(pending, (pending.origin, (CLOSED_MARK, boundary)))
                else:
                    contact.pending.append(pending)
            if not any(p.kind in FOLLOWERS for p in contact.pending):
                self._parked.discard(contact_id)

    def _expire(self, watermark: float) -> None:
        """Forget contacts and customers too old to matter, from heaps ordered by when they were last
        seen (an entry found stale is put back with the newer time), not by a sweep over all."""
        contact_floor = watermark - self._contact_horizon_s
        heap = self._contact_expiry
        while heap and heap[0][0] < contact_floor:
            _, contact_id = heapq.heappop(heap)
            contact = self._contacts.get(contact_id)
            if contact is None:
                continue
            if contact.last_seen >= contact_floor:
                heapq.heappush(heap, (contact.last_seen, contact_id))
                continue
            del self._contacts[contact_id]
            self._parked.discard(contact_id)
            if self._waiting.pop(contact_id, None) is not None:
                self._waiting_changed = True
        customer_floor = watermark - self._repeat_horizon_s - self._grace_s
        self._offers_floor = max(self._offers_floor, customer_floor)
        expiry = self._customer_expiry
        while expiry and expiry[0][0] < customer_floor:
            _, customer_id = heapq.heappop(expiry)
            offers = self._customers.get(customer_id)
            if offers is not None and offers[-1].at < customer_floor:
                del self._customers[customer_id]

    # -- reading out --------------------------------------------------------------------------

    def take_changes(self) -> Changes:
        """Everything changed since the last call, each reported once; changed buckets get their
        marks moved up to what has been processed, since they now hold every effect up to there."""
        processed = {**self.processed, CLOSED_MARK: self.closed_until}
        slots = dict(self._closed)
        for key in self._dirty:
            bucket = self.buckets.get(key)  # type: ignore[call-overload]
            if bucket is None:  # closed since: final, its marks no longer matter
                continue
            bucket.marks = frontier([*bucket.marks, processed])
            slot = (key[0], key[3])
            if slot not in slots:
                slots[slot] = self._slots[slot]
        waiting = self.waiting_summary() if self._waiting_changed else None
        changes = Changes(slots, self._dirty, set(self._closed), self._offer_changes, self._offers_floor, waiting)
        self._dirty = set()
        self._offer_changes = []
        self._closed = {}
        self._waiting_changed = False
        return changes

    def waiting_summary(self) -> dict[tuple[str, str], tuple[int, float]]:
        """Per (queue, channel): how many contacts wait now, and the oldest one's offered time."""
        summary: dict[tuple[str, str], tuple[int, float]] = {}
        for queue, channel, offered_at in self._waiting.values():
            count, oldest = summary.get((queue, channel), (0, offered_at))
            summary[(queue, channel)] = (count + 1, min(oldest, offered_at))
        return summary

    @property
    def contacts_tracked(self) -> int:
        return len(self._contacts)

    @property
    def customers_tracked(self) -> int:
        return len(self._customers)

    _handlers: dict[str, Callable[[PartitionState, _Contact, Event, Source], None]] = {
        "contact.offered": _offered,
        "contact.answered": _left_queue,
        "contact.abandoned": _left_queue,
        "contact.ended": _ended,
        "contact.wrapup_ended": _wrapup,
        "contact.ringing": _agent_step,
        "contact.missed": _agent_step,
        "contact.transferred": _agent_step,
    }


def _between(earlier: float, later: float) -> float:
    """A derived duration, to the millisecond that RFC 3339 times carry, never negative."""
    return max(0.0, round(later - earlier, 3))
