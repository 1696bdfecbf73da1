"""Pure statistics for benchmark figures, kept free of I/O so they can be checked by hand-worked unit tests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile: the smallest observed value with at least q% of the values at or below it.

    Nearest rank, not interpolation, so every reported latency is one a client actually waited.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile {q} is outside (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Summary:
    """How a set of durations (seconds) is distributed; the figures a latency report quotes."""

    count: int
    mean: float
    p50: float
    p99: float
    max: float


def summarize(values: Sequence[float]) -> Summary | None:
    """Count, mean, p50, p99 and max of ``values``; None when there are none (a run that measured nothing)."""
    if not values:
        return None
    return Summary(len(values), sum(values) / len(values), percentile(values, 50), percentile(values, 99), max(values))


def longest_gap(arrivals: Sequence[float], start: float, end: float) -> float:
    """The longest stretch of [start, end] without an arrival, counting the edges of the window.

    A stream client that got nothing in the whole window has waited ``end - start``; one whose messages
    stopped early has waited from its last message to ``end``: both are gaps a wallboard user would see.
    """
    if end < start:
        raise ValueError("window ends before it starts")
    inside = sorted(t for t in arrivals if start <= t <= end)
    edges = [start, *inside, end]
    return max(later - earlier for earlier, later in zip(edges, edges[1:]))
