"""The one definition of each KPI formula (see docs/kpi-definitions.md). The stream, the API, the
metrics and the alert statuses all call these.

A ratio or mean over an empty denominator is ``None`` (shown as null): "no calls" is not "0 %".
"""

from __future__ import annotations

import math
import operator
from typing import Mapping, Sequence

from kpis.rules import ServiceLevelFormula


def ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else numerator / denominator


def mean(total: float, count: float) -> float | None:
    return None if count <= 0 else total / count


def abandon_rate(abandoned: int, answered: int) -> float | None:
    """Abandoned over contacts that left the queue (answered + abandoned); short abandons are in neither."""
    return ratio(abandoned, answered + abandoned)


def asa_seconds(answered_wait_sum_s: float, answered_with_wait: int) -> float | None:
    """Average speed of answer: mean queue time of answered contacts whose wait is known."""
    return mean(answered_wait_sum_s, answered_with_wait)


def service_level_terms(
    formula: ServiceLevelFormula, answered: int, abandoned: int, answered_within: int, abandoned_within: int
) -> tuple[int, int]:
    """(numerator, denominator) of the service level under the queue's chosen formula."""
    if formula is ServiceLevelFormula.ANSWERED:
        return answered_within, answered
    if formula is ServiceLevelFormula.ABANDONS_WITHIN_COUNT_AS_MET:
        return answered_within + abandoned_within, answered + abandoned
    return answered_within, answered + abandoned


def aht_seconds(talk_sum_s: float, hold_sum_s: float, acw_sum_s: float, handled: int) -> float | None:
    return mean(talk_sum_s + hold_sum_s + acw_sum_s, handled)


def percentile_from_bins(bins: Mapping[int, int], fraction: float) -> float | None:
    """Nearest-rank percentile over a histogram whose keys are the bins' upper bounds."""
    total = sum(bins.values())
    if total <= 0:
        return None
    rank = math.ceil(fraction * total)
    seen = 0
    for upper in sorted(bins):
        seen += bins[upper]
        if seen >= rank:
            return float(upper)
    raise AssertionError("unreachable: rank is at most the total")


def top_box_share(counts: Sequence[int], top: int) -> float | None:
    """Share of the highest ``top`` answers (CSAT: 4-5 of a 1-5 scale)."""
    return ratio(sum(counts[-top:]), sum(counts))


def scale_mean(counts: Sequence[int], lowest: int) -> float | None:
    """Mean answer of a scale whose first count is for the answer ``lowest``. Every served row
    computes every scale's mean, most of them over no answers: those return before any arithmetic."""
    answers = sum(counts)
    if answers <= 0:
        return None
    return sum(map(operator.mul, range(lowest, lowest + len(counts)), counts)) / answers


def net_promoter_score(counts: Sequence[int]) -> float | None:
    """% promoters (9-10) minus % detractors (0-6) of a 0-10 scale, -100..100."""
    answers = sum(counts)
    if answers <= 0:
        return None
    return 100.0 * (sum(counts[9:11]) - sum(counts[0:7])) / answers


def fcr_repeat(repeat_rate: float | None) -> float | None:
    return None if repeat_rate is None else 1.0 - repeat_rate


YEAR_S = 365 * 86400.0  # a year, for scaling a period's churn and purchases: 365 days


def churn_rate(churned: int, at_start: int) -> float | None:
    """Customers lost in the period over customers active at its start."""
    return ratio(churned, at_start)


def retention_rate(churn: float | None) -> float | None:
    return None if churn is None else 1 - churn


def customer_lifetime_value(
    revenue: float, purchases: int, at_start: int, churned: int, years: float, lifespan_years: float | None
) -> float | None:
    """Average purchase value x purchases per customer per year x lifespan in years; the lifespan is
    the configured one, or 1 / yearly churn (the period's churn rate scaled to a year by its length).
    None without purchases, customers, a period, or (unconfigured) any churn to take a lifespan from."""
    if purchases <= 0 or at_start <= 0 or years <= 0:
        return None
    if lifespan_years is None:
        if churned <= 0:
            return None
        lifespan_years = 1 / (churned / at_start / years)
    return revenue / purchases * (purchases / at_start / years) * lifespan_years


def cost_per_contact(cost: float | None, handled: int) -> float | None:
    """Labour and fixed cost over handled contacts; None where a queue's hourly cost is not configured."""
    return None if cost is None else ratio(cost, handled)
