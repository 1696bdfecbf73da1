"""The read side: bucket counters from every partition, merged into KPI rows per window and grouping.

``*`` in a row's queue or channel means "all of them". Every queue and channel seen within retention
gets a row even when its window is empty (zero counts, null ratios): an idle queue is not a missing one.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from kpis import definitions
from kpis.buckets import BucketStats
from kpis.state import BucketKey
from kpis.windows import Span

ALL = "*"


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class KpiBook:
    def __init__(self) -> None:
        self._parts: dict[BucketKey, dict[int, BucketStats]] = defaultdict(dict)

    def put(self, partition: int, key: BucketKey, stats: BucketStats | None) -> None:
        if stats is not None:
            self._parts[key][partition] = stats
            return
        parts = self._parts.get(key)
        if parts is not None:
            parts.pop(partition, None)
            if not parts:
                del self._parts[key]

    def pairs(self) -> set[tuple[str, str]]:
        return {(key.queue, key.channel) for key in self._parts}

    def window_stats(self, span: Span) -> dict[tuple[str, str], BucketStats]:
        """Merged counters per (queue, channel, and their * roll-ups) over the span's buckets."""
        totals: dict[tuple[str, str], BucketStats] = {}
        for queue, channel in self.pairs():
            for group in ((queue, channel), (queue, ALL), (ALL, channel), (ALL, ALL)):
                totals.setdefault(group, BucketStats())
        for key, parts in self._parts.items():
            if not span.contains_bucket(key.start):
                continue
            for part in parts.values():
                for group in ((key.queue, key.channel), (key.queue, ALL), (ALL, key.channel), (ALL, ALL)):
                    totals[group].add(part)
        return totals

    def rows(
        self, span: Span, window: str, queue: str | None = None, channel: str | None = None
    ) -> list[dict[str, Any]]:
        rows = []
        for (row_queue, row_channel), stats in sorted(self.window_stats(span).items()):
            if queue is not None and row_queue != queue:
                continue
            if channel is not None and row_channel != channel:
                continue
            rows.append(
                {
                    "queue": row_queue,
                    "channel": row_channel,
                    "window": window,
                    "start": iso(span.start),
                    "end": iso(span.end),
                    **definitions.compute(stats),
                }
            )
        return rows
