"""The KPI set served by the API, exported as metrics and judged by alerts, from merged counters."""

from __future__ import annotations

import functools
from typing import Any, Final

from kpis import formulas
from kpis.buckets import BucketStats

COUNTS: Final = ("offered", "answered", "abandoned", "short_abandoned", "handled", "surveys")


def compute(stats: BucketStats, sl_numerator: int, sl_denominator: int) -> dict[str, Any]:
    """KPI values for one window and grouping, in the names of the API; ratios may be None.

    The service-level terms come in already summed because each queue applies its own formula.
    """
    waits_known = stats.answered_with_wait + stats.abandoned_with_wait
    repeat_rate = formulas.ratio(stats.repeat_offered, stats.known_customer_offered)
    values: dict[str, Any] = {name: getattr(stats, name) for name in COUNTS}
    values.update(
        abandon_rate=formulas.abandon_rate(stats.abandoned, stats.answered),
        asa_s=formulas.asa_seconds(stats.answered_wait_sum_s, stats.answered_with_wait),
        avg_abandon_wait_s=formulas.mean(stats.abandoned_wait_sum_s, stats.abandoned_with_wait),
        max_wait_s=stats.max_wait_s if waits_known else None,
        wait_p90_s=formulas.percentile_from_bins(stats.wait_bins, 0.9),
        service_level=formulas.ratio(sl_numerator, sl_denominator),
        service_level_numerator=sl_numerator,
        service_level_denominator=sl_denominator,
        aht_s=formulas.aht_seconds(stats.talk_sum_s, stats.hold_sum_s, stats.acw_sum_s, stats.handled),
        fcr_survey=formulas.ratio(stats.resolved_true, stats.resolved_answers),
        repeat_contact_rate=repeat_rate,
        fcr_repeat=formulas.fcr_repeat(repeat_rate),
        csat=formulas.top_box_share(stats.csat_counts, 2),
        csat_mean=formulas.scale_mean(stats.csat_counts, 1),
        nps=formulas.net_promoter_score(stats.nps_counts),
        ces_mean=formulas.scale_mean(stats.ces_counts, 1),
    )
    return values


@functools.cache
def names() -> tuple[str, ...]:
    """The KPI fields of a row in the order rows have them. Exports take their columns from here,
    so the order is defined once, by ``compute``."""
    return tuple(compute(BucketStats(), 0, 0))
