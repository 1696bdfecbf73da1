"""Time buckets and the rolling windows built from them.

State is kept in one-minute buckets aligned to the UTC epoch. A rolling window of N minutes "ending
now" is the N buckets ending with the current, still filling, minute: it spans between N-1 and N
minutes of wall-clock time. That granularity is the price of answering any window from sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

BUCKET_SECONDS: Final = 60


def bucket_start(epoch_s: float) -> int:
    return int(epoch_s // BUCKET_SECONDS) * BUCKET_SECONDS


class RollingWindow(str, Enum):
    """The rolling windows served; the value is the name used in the API and in metric labels."""

    M15 = "15m"

    @property
    def seconds(self) -> int:
        return int(self.value[:-1]) * 60


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open interval [start, end) of epoch seconds, both on bucket boundaries."""

    start: int
    end: int

    def contains_bucket(self, start: int) -> bool:
        return self.start <= start < self.end


def rolling_span(window: RollingWindow, now: float) -> Span:
    end = bucket_start(now) + BUCKET_SECONDS
    return Span(end - window.seconds, end)
