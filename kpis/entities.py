"""What the recomputing folds share (agents, tickets, customers): per-entity event sets, and bucket
totals made afresh from each entity's share.

An entity's buckets are a function of its set of events (deduplicated by event id) in event-time
order. When an event comes, late or early, the entity's share of every bucket is recomputed from its
events and replaces the old share; a bucket's total is then summed afresh from its entities' shares
in a fixed order. Duplicates, disorder and re-reading after a restart change nothing, because a set
does not change when an element comes again, and the same set gives the same totals to the last digit.

Events older than a horizon behind the newest one are late; buckets before the settled line (the
horizon rounded down to a 15-minute slot) are final and leave memory. What an entity keeps of its
events before the line is its fold's decision (kpis/agents.py, kpis/tickets.py, kpis/accounts.py).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Generic, Iterable, NamedTuple, Protocol, TypeVar

from kpis.buckets import BucketStats
from kpis.state import INTERVAL, SIZES, BucketKey, Outcome, Pair, Slot


class Timed(Protocol):
    """What an event needs to be kept in a timeline."""

    @property
    def event_id(self) -> str: ...

    @property
    def time(self) -> float: ...


E = TypeVar("E", bound=Timed)


class Sort(NamedTuple):
    time: float
    event_id: str


@dataclass(slots=True)
class Timeline(Generic[E]):
    """One entity's retained events, ordered by (time, event id)."""

    keys: list[Sort] = field(default_factory=list)
    events: list[E] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)

    def insert(self, event: E) -> None:
        key = Sort(event.time, event.event_id)
        position = bisect.bisect(self.keys, key)
        self.keys.insert(position, key)
        self.events.insert(position, event)
        self.ids.add(event.event_id)

    def cut(self, line: float) -> int:
        """How many events are before the line."""
        return bisect.bisect_left(self.keys, Sort(line, ""))

    def replace_head(self, cut: int, kept: list[E]) -> None:
        """The first ``cut`` events replaced by ``kept`` (their summary, in time order)."""
        self.events[:cut] = kept
        self.keys[:cut] = [Sort(event.time, event.event_id) for event in kept]
        self.ids = {event.event_id for event in self.events}


class EventSets(Generic[E]):
    """Per-entity event sets of one source partition, the newest event time, and which entities
    changed since their shares were last recomputed."""

    def __init__(self, horizon_s: float) -> None:
        self.horizon_s = horizon_s
        self.timelines: dict[str, Timeline[E]] = {}
        self.newest = 0.0
        self.dirty: set[str] = set()

    def add(self, entity_id: str, event: E) -> Outcome:
        timeline = self.timelines.get(entity_id)
        if timeline is not None and event.event_id in timeline.ids:
            return Outcome.DUPLICATE
        if event.time < self.newest - self.horizon_s:
            return Outcome.LATE
        if timeline is None:
            timeline = self.timelines[entity_id] = Timeline()
        timeline.insert(event)
        if event.time > self.newest:
            self.newest = event.time
        self.dirty.add(entity_id)
        return Outcome.COUNTED

    @property
    def horizon(self) -> float:
        """Events before this time are late."""
        return self.newest - self.horizon_s

    def settled_line(self, settled: float) -> float:
        """Where the settled line goes: the horizon rounded down to a 15-minute slot, never back."""
        return max(settled, (self.newest - self.horizon_s) // INTERVAL * INTERVAL)

    def drop(self, entity_id: str) -> None:
        """The entity leaves state."""
        self.timelines.pop(entity_id, None)
        self.dirty.discard(entity_id)


def bucket_of(shares: dict[BucketKey, BucketStats], size: int, pair: Pair, at: float) -> BucketStats:
    """The share's bucket of one size holding ``at``, created when missing."""
    key = BucketKey(size, pair[0], pair[1], int(at // size) * size)
    stats = shares.get(key)
    if stats is None:
        stats = shares[key] = BucketStats()
    return stats


def buckets_at(shares: dict[BucketKey, BucketStats], pair: Pair, at: float) -> list[BucketStats]:
    """The share's buckets of every size holding ``at``: where an instantaneous step is counted."""
    return [bucket_of(shares, size, pair, at) for size in SIZES]


class SharedBuckets:
    """Bucket totals of one partition as the sum of their entities' shares."""

    def __init__(self) -> None:
        self.shares: dict[str, dict[BucketKey, BucketStats]] = {}
        self.totals: dict[BucketKey, BucketStats] = {}
        self._contributors: dict[BucketKey, set[str]] = {}
        self.changed_slots: set[Slot] = set()
        self._line = 0.0

    def replace(self, entity_id: str, shares: dict[BucketKey, BucketStats]) -> None:
        """The entity's share of every bucket, replacing its previous one; totals it changed are redone."""
        for stats in shares.values():
            stats.round_durations()
        old = self.shares.pop(entity_id, {})
        if shares:
            self.shares[entity_id] = shares
        for key in old.keys() | shares.keys():
            before, after = old.get(key), shares.get(key)
            if before == after:
                continue
            contributors = self._contributors.setdefault(key, set())
            if after is None:
                contributors.discard(entity_id)
            else:
                contributors.add(entity_id)
            self.changed_slots.add((key.size, key.start))
            self._total(key)

    def _total(self, key: BucketKey) -> None:
        """A bucket's total made afresh from its entities' shares in a fixed order, so the same set of
        events gives the same total to the last digit, however it arrived."""
        total = BucketStats()  # stays, zero, when its last share left: the read side replaces buckets, never drops them
        for entity_id in sorted(self._contributors[key]):
            total.add(self.shares[entity_id][key])
        total.round_durations()
        self.totals[key] = total

    def forget(self, entity_id: str) -> None:
        """An entity that leaves state with all its shares before the line: the totals holding them
        are final and stay as they are."""
        for key in self.shares.pop(entity_id, {}):
            contributors = self._contributors.get(key)
            if contributors is not None:
                contributors.discard(entity_id)

    def net_between(self, start: float, end: float) -> int:
        """The sum of ``customers_net`` over the 15-minute totals in [start, end)."""
        return sum(stats.customers_net for key, stats in self.totals.items() if key.size == INTERVAL and start <= key.start < end)

    def settle(self, line: float) -> None:
        """Buckets before the line are final and leave memory, with every share of them; a total not
        written out yet stays until ``take_slots`` has given it (a replay can move the line past
        buckets between two writes)."""
        self._line = line
        for key in [k for k in self._contributors if k.start < line]:
            for entity_id in self._contributors[key]:  # the shares of it, not every entity's
                shares = self.shares.get(entity_id)
                if shares is not None:
                    shares.pop(key, None)
                    if not shares:
                        del self.shares[entity_id]
            self._contributors[key] = set()
            if (key.size, key.start) not in self.changed_slots:
                del self._contributors[key]
                self.totals.pop(key, None)

    def take_slots(self) -> dict[Slot, dict[Pair, BucketStats]]:
        """Whole slots of buckets that changed since the last call."""
        slots: dict[Slot, dict[Pair, BucketStats]] = {slot: {} for slot in self.changed_slots}
        if slots:
            for key, stats in self.totals.items():
                slot = (key.size, key.start)
                if slot in slots:
                    slots[slot][(key.queue, key.channel)] = stats
        self.changed_slots = set()
        if any(start < self._line for _, start in slots):
            self.settle(self._line)
        return slots


class RecomputedBoard(Generic[E]):
    """A partition's entities of one kind (tickets, customers), recomputed on the pattern above: what
    the boards share, each fold's own steps left to ``_recompute_entity`` and ``_settle``.

    Changed entities are recomputed first, at the line they arrived under, then the line moves: a
    replay that brings a day at once books the day before it leaves. A restored board takes its line
    first, so events it holds from before the horizon are not booked again."""

    def __init__(self, horizon_s: float) -> None:
        self._sets: EventSets[E] = EventSets(horizon_s)
        self._buckets = SharedBuckets()
        self._settled = 0.0
        self._restoring = False
        self._changed: set[str] = set()

    def _entity_id(self, event: E) -> str:
        raise NotImplementedError

    def _recompute_entity(self, entity_id: str) -> None:
        raise NotImplementedError

    def _settle(self, previous: float, settled: float) -> None:
        """The fold's own part of moving the line from ``previous``, before the buckets before it
        leave memory: what its entities keep, which leave (``SharedBuckets.forget``)."""
        raise NotImplementedError

    @staticmethod
    def _encode(event: E) -> list[Any]:
        raise NotImplementedError

    def apply(self, event: E) -> Outcome:
        return self._sets.add(self._entity_id(event), event)

    def restore(self, events: Iterable[E]) -> None:
        """An entity's events read back from the state table (``events``' output)."""
        self._restoring = True
        for event in events:
            self.apply(event)

    @property
    def horizon(self) -> float:
        """Events before this time are late."""
        return self._sets.horizon

    @property
    def tracked(self) -> int:
        return len(self._sets.timelines)

    def buckets(self) -> dict[BucketKey, BucketStats]:
        self._recompute()
        return self._buckets.totals

    def events(self, entity_id: str) -> list[Any] | None:
        """What the state table holds of the entity; None once it left state."""
        timeline = self._sets.timelines.get(entity_id)
        return None if timeline is None else [self._encode(event) for event in timeline.events]

    def _take_persisted(self) -> dict[str, list[Any] | None]:
        persisted = {entity_id: self.events(entity_id) for entity_id in self._changed}
        self._changed = set()
        return persisted

    def _recompute(self) -> None:
        if self._restoring:
            self._move_line()
            self._restoring = False
        for entity_id in sorted(self._sets.dirty):
            self._recompute_entity(entity_id)
            self._changed.add(entity_id)
        self._sets.dirty = set()
        self._move_line()

    def _move_line(self) -> None:
        settled = self._sets.settled_line(self._settled)
        if settled > self._settled:
            previous, self._settled = self._settled, settled
            self._settle(previous, settled)
            self._buckets.settle(settled)
