"""Per-bucket counters: the additive unit of KPI state.

Everything here is a sum or a max, so buckets merge across partitions and compose into any window
made of whole buckets; KPIs are computed from merged counters, never averaged from averages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable


@dataclass(slots=True)
class BucketStats:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_wait_sum_s: float = 0.0
    answered_with_wait: int = 0
    abandoned_wait_sum_s: float = 0.0
    abandoned_with_wait: int = 0
    max_wait_s: float = 0.0

    def add(self, other: BucketStats) -> None:
        self.offered += other.offered
        self.answered += other.answered
        self.abandoned += other.abandoned
        self.answered_wait_sum_s += other.answered_wait_sum_s
        self.answered_with_wait += other.answered_with_wait
        self.abandoned_wait_sum_s += other.abandoned_wait_sum_s
        self.abandoned_with_wait += other.abandoned_with_wait
        self.max_wait_s = max(self.max_wait_s, other.max_wait_s)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BucketStats:
        """Unknown keys are ignored and missing ones default, so old and new snapshots both load."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def merged(cls, parts: Iterable[BucketStats]) -> BucketStats:
        total = cls()
        for part in parts:
            total.add(part)
        return total
