"""The one definition of each KPI formula. The stream, the API, the metrics and the tests all call these.

A ratio or mean over an empty denominator is ``None`` (shown as null): "no calls" is not "0 %".
"""

from __future__ import annotations


def ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else numerator / denominator


def mean(total: float, count: float) -> float | None:
    return None if count <= 0 else total / count


def abandon_rate(abandoned: int, answered: int) -> float | None:
    """Abandoned over contacts that left the queue (answered + abandoned)."""
    return ratio(abandoned, answered + abandoned)


def asa_seconds(answered_wait_sum_s: float, answered_with_wait: int) -> float | None:
    """Average speed of answer: mean queue time of answered contacts whose wait is known."""
    return mean(answered_wait_sum_s, answered_with_wait)
