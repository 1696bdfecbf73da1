"""KPI state of one source partition: events in, dirty bucket counters out.

All of a customer's events share a partition (the record key is the customer id), so a contact's
whole life is folded by one ``PartitionState`` and nothing here needs locks or cross-partition reads.
The worker writes each dirty bucket once per batch; what it writes is exactly ``to_json`` of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from kpis.buckets import BucketStats
from kpis.windows import bucket_start
from streams.contract import Event


class BucketKey(NamedTuple):
    queue: str
    channel: str
    start: int


@dataclass(slots=True)
class _Contact:
    """What later events of a contact need from earlier ones, whatever order they arrive in."""

    offered_at: float | None = None
    last_seen: float = 0.0
    pending_waits: list[tuple[str, float, BucketKey]] = field(default_factory=list)


def _seconds_between(earlier: float, later: float) -> float:
    """A derived duration, to the millisecond that RFC 3339 times carry, never negative."""
    return max(0.0, round(later - earlier, 3))


class PartitionState:
    def __init__(self, retention_s: float, contact_horizon_s: float) -> None:
        self.buckets: dict[BucketKey, BucketStats] = {}
        self._dirty: set[BucketKey] = set()
        self._removed: set[BucketKey] = set()
        self._contacts: dict[str, _Contact] = {}
        self._seen: dict[str, float] = {}
        self._retention_s = retention_s
        self._contact_horizon_s = contact_horizon_s
        self.watermark = 0.0

    def load(self, key: BucketKey, stats: BucketStats) -> None:
        """Restore a bucket written by an earlier run (table recovery)."""
        self.buckets[key] = stats

    def apply(self, event: Event) -> bool:
        """Fold one event in; False when its event_id was already counted."""
        if event.event_id in self._seen:
            return False
        self._seen[event.event_id] = event.time
        if event.time > self.watermark:
            self.watermark = event.time
        if event.type == "contact.offered":
            self._offered(event)
        elif event.type in ("contact.answered", "contact.abandoned"):
            self._left_queue(event)
        return True

    def _bucket(self, queue: str, channel: str, at: float) -> tuple[BucketKey, BucketStats]:
        key = BucketKey(queue, channel, bucket_start(at))
        stats = self.buckets.get(key)
        if stats is None:
            stats = self.buckets[key] = BucketStats()
        self._dirty.add(key)
        return key, stats

    def _contact(self, event: Event) -> _Contact:
        contact = self._contacts.get(event.contact_id)
        if contact is None:
            contact = self._contacts[event.contact_id] = _Contact()
        contact.last_seen = max(contact.last_seen, event.time)
        return contact

    def _offered(self, event: Event) -> None:
        assert event.queue is not None and event.channel is not None
        _, stats = self._bucket(event.queue, event.channel, event.time)
        stats.offered += 1
        contact = self._contact(event)
        contact.offered_at = event.time
        for kind, left_at, key in contact.pending_waits:
            self._book_wait(kind, _seconds_between(event.time, left_at), key)
        contact.pending_waits.clear()

    def _left_queue(self, event: Event) -> None:
        assert event.queue is not None and event.channel is not None
        kind = "answered" if event.type == "contact.answered" else "abandoned"
        key, stats = self._bucket(event.queue, event.channel, event.time)
        if kind == "answered":
            stats.answered += 1
        else:
            stats.abandoned += 1
        contact = self._contact(event)
        wait = event.number("wait_s")
        if wait is None and contact.offered_at is not None:
            wait = _seconds_between(contact.offered_at, event.time)
        if wait is None:
            contact.pending_waits.append((kind, event.time, key))
        else:
            self._book_wait(kind, wait, key)

    def _book_wait(self, kind: str, wait: float, key: BucketKey) -> None:
        stats = self.buckets.get(key)
        if stats is None:
            return
        if kind == "answered":
            stats.answered_wait_sum_s += wait
            stats.answered_with_wait += 1
        else:
            stats.abandoned_wait_sum_s += wait
            stats.abandoned_with_wait += 1
        stats.max_wait_s = max(stats.max_wait_s, wait)
        self._dirty.add(key)

    def expire(self) -> None:
        """Drop buckets past retention and contacts past the horizon, judged by this partition's event time."""
        bucket_floor = self.watermark - self._retention_s
        for key in [k for k in self.buckets if k.start + 60 <= bucket_floor]:
            del self.buckets[key]
            self._dirty.discard(key)
            self._removed.add(key)
        contact_floor = self.watermark - self._contact_horizon_s
        for contact_id in [c for c, s in self._contacts.items() if s.last_seen < contact_floor]:
            del self._contacts[contact_id]
        for event_id in [e for e, t in self._seen.items() if t < contact_floor]:
            del self._seen[event_id]

    def take_changes(self) -> tuple[dict[BucketKey, BucketStats], set[BucketKey]]:
        """Buckets changed and buckets removed since the last call, each reported once."""
        changed = {key: self.buckets[key] for key in self._dirty}
        removed = self._removed
        self._dirty = set()
        self._removed = set()
        return changed, removed

    @property
    def contacts_tracked(self) -> int:
        return len(self._contacts)
