"""``CustomerLedger``: the read side of account events (kpis/accounts.py), company-wide counters per span.

Kept apart from the (queue, channel) buckets of ``KpiBook``: account events belong to no queue, and
their counters join only the roll-up rows. Customers active at a span's start are not a sum over the
span: per partition they are the active count at its anchor (the worker's settled line) plus the
nets of the 15-minute slots from the anchor to the start (less those from the start to the anchor,
when the start is earlier), plus the minute slots of a start inside a 15-minute slot.
"""

from __future__ import annotations

from kpis.accounts import Anchor
from kpis.buckets import BucketStats
from kpis.state import INTERVAL, MINUTE
from kpis.windows import Span


class CustomerLedger:
    """Customer buckets per partition and size, and each partition's anchor."""

    def __init__(self) -> None:
        self._slots: dict[int, dict[int, dict[int, BucketStats]]] = {}
        self._anchors: dict[int, Anchor] = {}

    def put(self, partition: int, size: int, start: int, stats: BucketStats | None) -> None:
        slots = self._slots.setdefault(partition, {MINUTE: {}, INTERVAL: {}})[size]
        if stats is None:
            slots.pop(start, None)
        else:
            slots[start] = stats

    def put_anchor(self, partition: int, anchor: Anchor) -> None:
        self._anchors[partition] = anchor

    def prune(self, size: int, before: float) -> None:
        for by_size in self._slots.values():
            for start in [s for s in by_size[size] if s < before]:
                del by_size[size][start]

    @property
    def seen(self) -> bool:
        return bool(self._slots or self._anchors)

    def counters(self, window_span: Span) -> BucketStats:
        """The span's joins, churns and purchases, and the customers active at its start."""
        total = BucketStats()
        for by_size in self._slots.values():
            slots = by_size[window_span.size]
            for start in window_span.starts():
                part = slots.get(start)
                if part is not None:
                    total.add(part)
        total.customers_net = 0
        total.customers_at_start = sum(self.active_at(partition, window_span.start) for partition in self._slots)
        total.round_durations()
        return total

    def active_at(self, partition: int, at: int) -> int:
        """Slots are looked up between the anchor and ``at`` only (the anchor is 36 hours behind the
        newest event, so a live window reads some 150 slots, not the whole history)."""
        by_size = self._slots.get(partition, {MINUTE: {}, INTERVAL: {}})
        intervals, minutes = by_size[INTERVAL], by_size[MINUTE]
        whole = at // INTERVAL * INTERVAL
        anchor = self._anchors.get(partition)
        if anchor is None:  # no line yet: every slot before the start counts
            active = sum(stats.customers_net for start, stats in intervals.items() if start < whole)
        else:
            line = int(anchor.line)
            ahead = range(line, whole, INTERVAL) if line <= whole else range(whole, line, INTERVAL)
            nets = sum(intervals[start].customers_net for start in ahead if start in intervals)
            active = anchor.active + (nets if line <= whole else -nets)
        return active + sum(minutes[start].customers_net for start in range(whole, at, MINUTE) if start in minutes)
