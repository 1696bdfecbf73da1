"""The KPI set served by the API and exported as metrics, computed from merged bucket counters."""

from __future__ import annotations

from typing import Any

from kpis import formulas
from kpis.buckets import BucketStats

KPI_NAMES = ("offered", "answered", "abandoned", "abandon_rate", "asa_s", "avg_abandon_wait_s", "max_wait_s")


def compute(stats: BucketStats) -> dict[str, Any]:
    """KPI values for one window and grouping, in the names of the API; ratios may be None."""
    return {
        "offered": stats.offered,
        "answered": stats.answered,
        "abandoned": stats.abandoned,
        "abandon_rate": formulas.abandon_rate(stats.abandoned, stats.answered),
        "asa_s": formulas.asa_seconds(stats.answered_wait_sum_s, stats.answered_with_wait),
        "avg_abandon_wait_s": formulas.mean(stats.abandoned_wait_sum_s, stats.abandoned_with_wait),
        "max_wait_s": stats.max_wait_s if stats.answered_with_wait + stats.abandoned_with_wait else None,
    }
