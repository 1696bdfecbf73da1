"""``Kpi`` and ``KPIS``: the catalog, one declaration per KPI, from which every surface is derived.

The rows of ``/v1/kpis`` and ``/v1/history``, the Prometheus gauges, the statuses and alert rules of
the thresholds file, the wallboard's number formats (served by ``/v1/catalog``), the Grafana panels
and the KPI table of ``docs/kpi-definitions.md`` all read this tuple; tests fail when a surface
misses an entry. Adding a KPI computed from existing counters is one entry here (plus its test);
a survey scale (``kpis/scales.py``) brings its ``<scale>_mean`` entry by itself.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Callable, Final, Literal, NamedTuple

from kpis import formulas
from kpis.buckets import BucketStats
from kpis.scales import SCALES_BY_NAME, SURVEY_SCALES, Better, SurveyScale

# "amount": money in the configured currency (accounts.currency).
Unit = Literal["count", "ratio", "seconds", "score", "amount"]
# How a screen shows the value: count "42", percent "95%", duration "1:05", score "4.2", signed "+35".
Display = Literal["count", "percent", "duration", "score", "signed"]
Kind = Literal["window", "live"]
# Leading indicators move before the outcome (waits, backlog, sentiment) and can be acted on today;
# lagging ones report the outcome afterwards (CSAT, churn, cost). Plain counts are neither.
Indicator = Literal["leading", "lagging"]
# The group a KPI is shown in (a Grafana row, a block of the docs table), in display order.
SECTIONS: Final = ("volumes", "waits", "abandonment", "handling", "quality", "agents", "tickets", "customers")
Section = Literal["volumes", "waits", "abandonment", "handling", "quality", "agents", "tickets", "customers"]


class Counters(NamedTuple):
    """What a window's formulas read: the merged bucket counters, and the service-level terms summed
    per queue beforehand (each queue applies its own service-level formula). ``cost`` is summed per
    queue too (each at its own hourly cost; None when a queue in it has none configured); ``years``
    is the span's length, ``company`` whether the row covers every queue and channel (the only rows
    that carry the company-wide customer KPIs), ``lifespan_years`` the configured customer lifespan."""

    stats: BucketStats
    sl_numerator: int
    sl_denominator: int
    cost: float | None = None
    years: float = 0.0
    company: bool = False
    lifespan_years: float | None = None


Formula = Callable[[Counters], "float | int | None"]


@dataclass(frozen=True, slots=True)
class Kpi:
    """One KPI. ``volume`` names the count KPIs whose sum must reach a rule's ``min_volume`` before
    it may alert (None for live values, judged at any volume); ``better`` is None for plain counts,
    which are neither good nor bad and take no threshold or target. ``definition`` is the heading
    anchor of its written definition in docs/kpi-definitions.md. ``indicator`` places it on the
    scorecard's leading or lagging side (None: shown on neither)."""

    name: str
    section: Section
    title: str
    unit: Unit
    display: Display
    better: Better | None
    metric: str
    help: str
    definition: str
    formula: Formula | None = None
    volume: tuple[str, ...] | None = ()
    kind: Kind = "window"
    indicator: Indicator | None = None

    @property
    def judged(self) -> bool:
        """May carry a threshold (and a target): only what has a better direction."""
        return self.better is not None


def _count(name: str, section: Section, title: str, metric: str, help_text: str, definition: str = "counts") -> Kpi:
    return Kpi(
        name, section, title, "count", "count", None, metric, help_text, definition,
        formula=operator.attrgetter(f"stats.{name}"), volume=None,
    )  # fmt: skip


def _agent_seconds(name: str, title: str, metric: str, help_text: str) -> Kpi:
    return Kpi(
        name, "agents", title, "seconds", "duration", None, metric, help_text, "agent-time",
        formula=lambda c: round(getattr(c.stats, name), 3), volume=None,
    )  # fmt: skip


def _agents_live(name: str, title: str, help_text: str) -> Kpi:
    metric = f"cxpulse_{name.removeprefix('agents_')}_agents"
    return Kpi(name, "agents", title, "count", "count", None, metric, help_text, "agents-now", volume=None, kind="live")


def _scale_mean(scale: SurveyScale) -> Kpi:
    return Kpi(
        f"{scale.name}_mean", "quality", f"{scale.title} (mean)", "score", "score", scale.better,
        f"cxpulse_window_{scale.name}_mean_score", f"Mean {scale.name} answer, {scale.lowest}..{scale.highest}.",
        scale.definition, formula=lambda c: formulas.scale_mean(c.stats.score_counts(scale), scale.lowest),
        volume=("surveys",), indicator="lagging",
    )  # fmt: skip


def _company(name: str, title: str, metric: str, help_text: str) -> Kpi:
    """A count of account events: company-wide, so null in any row narrower than all queues and channels."""
    return Kpi(
        name, "customers", title, "count", "count", None, metric, help_text, "customers",
        formula=lambda c: getattr(c.stats, name) if c.company else None, volume=None,
    )  # fmt: skip


def _churn(c: Counters) -> float | None:
    return formulas.churn_rate(c.stats.customers_churned, c.stats.customers_at_start) if c.company else None


def _clv(c: Counters) -> float | None:
    s = c.stats
    if not c.company:
        return None
    return formulas.customer_lifetime_value(s.revenue, s.purchases, s.customers_at_start, s.customers_churned, c.years, c.lifespan_years)


_LEFT_QUEUE = ("answered", "abandoned")
_CSAT = SCALES_BY_NAME["csat"]
_NPS = SCALES_BY_NAME["nps"]


def _waits_known(c: Counters) -> bool:
    return c.stats.answered_with_wait + c.stats.abandoned_with_wait > 0


def _repeat_rate(c: Counters) -> float | None:
    return formulas.ratio(c.stats.repeat_offered, c.stats.known_customer_offered)


KPIS: Final[tuple[Kpi, ...]] = (
    _count("offered", "volumes", "Offered", "cxpulse_window_offered_contacts", "Contacts offered to the queue in the window."),
    _count("answered", "volumes", "Answered", "cxpulse_window_answered_contacts", "Contacts answered in the window."),
    _count(
        "abandoned", "abandonment", "Abandoned", "cxpulse_window_abandoned_contacts",
        "Contacts abandoned in the window, short abandons excluded.",
    ),  # fmt: skip
    _count(
        "short_abandoned", "abandonment", "Short abandons", "cxpulse_window_short_abandoned_contacts",
        "Contacts abandoned within the queue's short-abandon time.",
    ),  # fmt: skip
    _count("handled", "handling", "Handled", "cxpulse_window_handled_contacts", "Conversations ended in the window."),
    _count("surveys", "quality", "Survey responses", "cxpulse_window_survey_responses", "Survey responses received in the window.", "surveys"),
    Kpi(
        "abandon_rate", "abandonment", "Abandon rate", "ratio", "percent", "lower", "cxpulse_window_abandon_ratio",
        "Abandoned over answered plus abandoned, 0..1.", "abandonment",
        formula=lambda c: formulas.abandon_rate(c.stats.abandoned, c.stats.answered), volume=_LEFT_QUEUE,
        indicator="leading",
    ),
    Kpi(
        "asa_s", "waits", "Average speed of answer", "seconds", "duration", "lower", "cxpulse_window_asa_seconds",
        "Average speed of answer: mean wait of answered contacts.",
        "wait-times-answered-and-abandoned-contacts-short-abandons-excluded",
        formula=lambda c: formulas.asa_seconds(c.stats.answered_wait_sum_s, c.stats.answered_with_wait),
        volume=("answered",), indicator="leading",
    ),
    Kpi(
        "avg_abandon_wait_s", "abandonment", "Average wait before abandoning", "seconds", "duration", None,
        "cxpulse_window_abandon_wait_avg_seconds", "Mean wait of abandoned contacts.",
        "wait-times-answered-and-abandoned-contacts-short-abandons-excluded",
        formula=lambda c: formulas.mean(c.stats.abandoned_wait_sum_s, c.stats.abandoned_with_wait),
        volume=("abandoned",), indicator="leading",
    ),
    Kpi(
        "max_wait_s", "waits", "Longest wait", "seconds", "duration", "lower", "cxpulse_window_wait_max_seconds",
        "Longest wait of a contact answered or abandoned.",
        "wait-times-answered-and-abandoned-contacts-short-abandons-excluded",
        formula=lambda c: c.stats.max_wait_s if _waits_known(c) else None, volume=_LEFT_QUEUE, indicator="leading",
    ),
    Kpi(
        "wait_p90_s", "waits", "90th percentile wait", "seconds", "duration", "lower", "cxpulse_window_wait_p90_seconds",
        "90th percentile wait of contacts answered or abandoned.",
        "wait-times-answered-and-abandoned-contacts-short-abandons-excluded",
        formula=lambda c: formulas.percentile_from_bins(c.stats.wait_bins, 0.9), volume=_LEFT_QUEUE,
        indicator="leading",
    ),
    Kpi(
        "service_level", "waits", "Service level", "ratio", "percent", "higher", "cxpulse_window_service_level_ratio",
        "Service level under the queue's formula, 0..1.", "service-level",
        formula=lambda c: formulas.ratio(c.sl_numerator, c.sl_denominator), volume=_LEFT_QUEUE, indicator="leading",
    ),
    Kpi(
        "service_level_numerator", "waits", "Within service level", "count", "count", None,
        "cxpulse_window_service_level_met_contacts",
        "Contacts that met the service level under the queue's formula (the ratio's numerator).", "service-level",
        formula=lambda c: c.sl_numerator, volume=None,
    ),
    Kpi(
        "service_level_denominator", "waits", "Service level counted", "count", "count", None,
        "cxpulse_window_service_level_counted_contacts",
        "Contacts the service level counts under the queue's formula (the ratio's denominator).", "service-level",
        formula=lambda c: c.sl_denominator, volume=None,
    ),
    Kpi(
        "aht_s", "handling", "Average handle time", "seconds", "duration", "lower", "cxpulse_window_aht_seconds",
        "Average handle time: talk, hold and after-contact work per handled contact.", "handling",
        formula=lambda c: formulas.aht_seconds(c.stats.talk_sum_s, c.stats.hold_sum_s, c.stats.acw_sum_s, c.stats.handled),
        volume=("handled",), indicator="lagging",
    ),
    Kpi(
        "fcr_survey", "quality", "First contact resolution (surveys)", "ratio", "percent", "higher",
        "cxpulse_window_fcr_survey_ratio", "Surveys answering resolved over surveys with a resolved answer.", "surveys",
        formula=lambda c: formulas.ratio(c.stats.resolved_true, c.stats.resolved_answers), volume=("surveys",),
        indicator="lagging",
    ),
    Kpi(
        "repeat_contact_rate", "quality", "Repeat contact rate", "ratio", "percent", "lower", "cxpulse_window_repeat_contact_ratio",
        "Known-customer contacts that repeat an earlier one.", "repeat-contacts",
        formula=_repeat_rate, volume=("offered",), indicator="lagging",
    ),
    Kpi(
        "fcr_repeat", "quality", "First contact resolution (repeats)", "ratio", "percent", "higher",
        "cxpulse_window_fcr_repeat_ratio", "One minus the repeat contact rate.", "repeat-contacts",
        formula=lambda c: formulas.fcr_repeat(_repeat_rate(c)), volume=("offered",), indicator="lagging",
    ),
    Kpi(
        "csat", "quality", "CSAT", "ratio", "percent", "higher", "cxpulse_window_csat_ratio", "Share of CSAT answers of 4 or 5.",
        "surveys", formula=lambda c: formulas.top_box_share(c.stats.score_counts(_CSAT), 2), volume=("surveys",),
        indicator="lagging",
    ),
    Kpi(
        "nps", "quality", "NPS", "score", "signed", "higher", "cxpulse_window_nps_score", "Net promoter score, -100..100.",
        "surveys", formula=lambda c: formulas.net_promoter_score(c.stats.score_counts(_NPS)), volume=("surveys",),
        indicator="lagging",
    ),
    *(_scale_mean(scale) for scale in SURVEY_SCALES),
    _count(
        "messages_scored", "quality", "Messages scored", "cxpulse_window_sentiment_scored_messages",
        "Customers' chat messages and survey comments scored for sentiment in the window.", "sentiment",
    ),  # fmt: skip
    Kpi(
        "sentiment_mean", "quality", "Sentiment (mean)", "score", "score", "higher", "cxpulse_window_sentiment_mean_score",
        "Mean sentiment score of customers' messages, -1..1.", "sentiment",
        formula=lambda c: formulas.mean(c.stats.sentiment_score_sum, c.stats.messages_scored), volume=("messages_scored",),
        indicator="leading",
    ),
    Kpi(
        "sentiment_negative_share", "quality", "Negative messages", "ratio", "percent", "lower",
        "cxpulse_window_sentiment_negative_ratio", "Share of customers' scored messages that are negative, 0..1.",
        "sentiment", formula=lambda c: formulas.ratio(c.stats.sentiment_negative, c.stats.messages_scored),
        volume=("messages_scored",), indicator="leading",
    ),
    _count(
        "missed", "agents", "Missed offers", "cxpulse_window_missed_contacts",
        "Contacts offered to an agent who did not answer.", "agent-time",
    ),  # fmt: skip
    _count(
        "transferred", "agents", "Transfers", "cxpulse_window_transferred_contacts",
        "Contacts an agent transferred.", "agent-time",
    ),  # fmt: skip
    Kpi(
        "occupancy", "agents", "Occupancy", "ratio", "percent", "lower", "cxpulse_window_occupancy_ratio",
        "Time on contacts and in after-contact work over staffed time less aux time, 0..1.", "occupancy",
        formula=lambda c: formulas.ratio(c.stats.on_contact_s + c.stats.agent_acw_s, c.stats.staffed_s - c.stats.aux_s),
        volume=None, indicator="leading",
    ),
    Kpi(
        "aux_share", "agents", "Aux share", "ratio", "percent", "lower", "cxpulse_window_aux_ratio",
        "Time in auxiliary states (breaks, meetings, training) over staffed time, 0..1.", "occupancy",
        formula=lambda c: formulas.ratio(c.stats.aux_s, c.stats.staffed_s), volume=None, indicator="leading",
    ),
    _agent_seconds("staffed_s", "Staffed time", "cxpulse_window_staffed_seconds", "Agent time logged in, in any state."),
    _agent_seconds("available_s", "Available time", "cxpulse_window_available_seconds", "Agent time available for a contact."),
    _agent_seconds("on_contact_s", "On-contact time", "cxpulse_window_on_contact_seconds", "Agent time on contacts."),
    _agent_seconds("agent_acw_s", "Agent ACW time", "cxpulse_window_agent_acw_seconds", "Agent time in after-contact work."),
    _agent_seconds("aux_s", "Aux time", "cxpulse_window_aux_seconds", "Agent time in auxiliary states."),
    _count("tickets_created", "tickets", "Tickets created", "cxpulse_window_created_tickets", "Tickets created in the window.", "tickets"),
    _count("tickets_resolved", "tickets", "Tickets resolved", "cxpulse_window_resolved_tickets", "Tickets resolved in the window.", "tickets"),
    _count(
        "tickets_reopened", "tickets", "Tickets reopened", "cxpulse_window_reopened_tickets",
        "Resolved tickets reopened in the window.", "tickets",
    ),  # fmt: skip
    _count(
        "complaints", "tickets", "Complaints", "cxpulse_window_complaint_tickets",
        "Tickets created in the window flagged as complaints.", "tickets",
    ),  # fmt: skip
    Kpi(
        "resolution_avg_s", "tickets", "Average resolution time", "seconds", "duration", "lower",
        "cxpulse_window_resolution_avg_seconds", "Mean time from a ticket's creation to its resolution, booked at resolution.",
        "resolution-and-first-response", formula=lambda c: formulas.mean(c.stats.resolution_sum_s, c.stats.resolutions_timed),
        volume=("tickets_resolved",), indicator="lagging",
    ),
    Kpi(
        "resolution_p90_s", "tickets", "90th percentile resolution time", "seconds", "duration", "lower",
        "cxpulse_window_resolution_p90_seconds", "90th percentile time from a ticket's creation to its resolution.",
        "resolution-and-first-response", formula=lambda c: formulas.percentile_from_bins(c.stats.resolution_bins, 0.9),
        volume=("tickets_resolved",), indicator="lagging",
    ),
    Kpi(
        "first_response_avg_s", "tickets", "Average first response time", "seconds", "duration", "lower",
        "cxpulse_window_first_response_avg_seconds", "Mean time from a ticket's creation to its first response.",
        "resolution-and-first-response",
        formula=lambda c: formulas.mean(c.stats.first_response_sum_s, c.stats.first_responses),
        volume=("tickets_created",), indicator="leading",
    ),
    Kpi(
        "cost_per_contact", "handling", "Cost per contact", "amount", "score", "lower", "cxpulse_window_cost_per_contact_amount",
        "Staffed time at the queue's hourly cost plus its fixed cost, over handled contacts.", "cost-per-contact",
        formula=lambda c: formulas.cost_per_contact(c.cost, c.stats.handled), volume=("handled",), indicator="lagging",
    ),
    _company("customers_joined", "Customers joined", "cxpulse_window_joined_customers", "Customers who joined in the window."),
    _company("customers_churned", "Customers churned", "cxpulse_window_churned_customers", "Customers lost in the window."),
    _company(
        "customers_at_start", "Customers at start", "cxpulse_window_customers_at_start_customers",
        "Customers active at the window's start: joined before it and not churned before it.",
    ),  # fmt: skip
    _company("purchases", "Purchases", "cxpulse_window_customer_purchases", "Customer purchases in the window."),
    Kpi(
        "revenue", "customers", "Revenue", "amount", "score", "higher", "cxpulse_window_revenue_amount",
        "Sum of purchase amounts in the configured currency.", "customers",
        formula=lambda c: round(c.stats.revenue, 6) if c.company else None, volume=None, indicator="lagging",
    ),
    Kpi(
        "churn_rate", "customers", "Churn rate", "ratio", "percent", "lower", "cxpulse_window_churn_ratio",
        "Customers lost in the period over customers at its start, 0..1.", "churn-and-retention",
        formula=_churn, volume=None, indicator="lagging",
    ),
    Kpi(
        "retention_rate", "customers", "Retention rate", "ratio", "percent", "higher", "cxpulse_window_retention_ratio",
        "One minus the churn rate.", "churn-and-retention",
        formula=lambda c: formulas.retention_rate(_churn(c)), volume=None, indicator="lagging",
    ),
    Kpi(
        "revenue_per_customer", "customers", "Revenue per customer", "amount", "score", "higher",
        "cxpulse_window_revenue_per_customer_amount", "Revenue over customers at the period's start.", "customers",
        formula=lambda c: formulas.ratio(c.stats.revenue, c.stats.customers_at_start) if c.company else None,
        volume=None, indicator="lagging",
    ),
    Kpi(
        "clv", "customers", "Customer lifetime value", "amount", "score", "higher", "cxpulse_window_clv_amount",
        "Average purchase value x purchases per customer per year x lifespan in years.", "customer-lifetime-value",
        formula=_clv, volume=None, indicator="lagging",
    ),
    Kpi(
        "waiting_now", "volumes", "Contacts waiting", "count", "count", "lower", "cxpulse_waiting_contacts",
        "Contacts waiting in the queue now.", "live-values", volume=None, kind="live", indicator="leading",
    ),
    Kpi(
        "longest_waiting_s", "waits", "Longest waiting contact", "seconds", "duration", "lower", "cxpulse_longest_waiting_seconds",
        "Age of the oldest contact waiting now.", "live-values", volume=None, kind="live", indicator="leading",
    ),
    _agents_live("agents_staffed", "Agents staffed", "Agents logged in now, in any state."),
    _agents_live("agents_available", "Agents available", "Agents available for a contact now."),
    _agents_live("agents_on_contact", "Agents on contact", "Agents on a contact now."),
    _agents_live("agents_acw", "Agents in ACW", "Agents in after-contact work now."),
    _agents_live("agents_aux", "Agents in aux", "Agents in an auxiliary state (break, meeting, ...) now."),
    Kpi(
        "waiting_per_available", "agents", "Waiting per available agent", "score", "score", "lower",
        "cxpulse_waiting_per_available_agent_score", "Contacts waiting now per agent available now.", "agents-now",
        volume=None, kind="live", indicator="leading",
    ),
    Kpi(
        "tickets_backlog", "tickets", "Ticket backlog", "count", "count", "lower", "cxpulse_open_tickets",
        "Tickets open now: created or reopened and not resolved since.", "tickets", volume=None, kind="live",
        indicator="leading",
    ),
)
KPIS_BY_NAME: Final = {kpi.name: kpi for kpi in KPIS}
WINDOWED: Final = tuple(kpi for kpi in KPIS if kpi.kind == "window")
LIVE: Final = tuple(kpi for kpi in KPIS if kpi.kind == "live")
JUDGED: Final = tuple(kpi for kpi in KPIS if kpi.judged)
# Company-wide KPIs (account events belong to no queue): values only in the all-queues, all-channels row.
COMPANY_WIDE: Final = frozenset(kpi.name for kpi in KPIS if kpi.section == "customers")


def compute(counters: Counters) -> dict[str, float | int | None]:
    """Every windowed KPI of one window and grouping, in catalog order; ratios over nothing are None."""
    return {kpi.name: kpi.formula(counters) for kpi in WINDOWED if kpi.formula is not None}
