"""The API's /metrics: KPI counters, a wait histogram, rolling-window and live gauges, agents by
state and by aux reason, KPI targets, pipeline health.

Counters come from the snapshot book at scrape time, gauges from the rows the API serves, so an event
costs nothing here.
Counters count what this process has seen counted since it became ready (a restart is a counter
reset, which rate() and increase() handle); a value held back by a worker re-publishing an older
bucket is held at its maximum, never lowered. Gauges with an empty denominator are left out rather
than exported as NaN, so alert rules never compare NaN. Only real (queue, channel) pairs are
exported: sum() in PromQL rolls up; the company-wide customer KPIs, which belong to no queue, are
exported from the all-queues row alone, labelled ``queue="*", channel="*"``. Targets are the exception: they are exported per configured
selector, ``*`` standing for the queues or channels a target covers, since that is what was set.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from api.snapshots import SnapshotReader
from api.view import KpiView
from kpis.book import ALL
from kpis.buckets import BucketStats
from kpis.catalog import COMPANY_WIDE, LIVE, WINDOWED
from kpis.scales import SURVEY_SCALES
from kpis.targets import Targets, expected
from kpis.windows import ROLLING

# (metric name, help, value from running totals) for the contact counters.
COUNTERS: tuple[tuple[str, str, Callable[[BucketStats], float]], ...] = (
    ("cxpulse_contacts_offered_total", "Contacts offered to the queue.", lambda s: s.offered),
    ("cxpulse_contacts_answered_total", "Contacts answered by an agent.", lambda s: s.answered),
    ("cxpulse_contacts_abandoned_total", "Contacts abandoned, short abandons excluded.", lambda s: s.abandoned),
    (
        "cxpulse_contacts_short_abandoned_total",
        "Contacts abandoned within the queue's short-abandon time.",
        lambda s: s.short_abandoned,
    ),
    (
        "cxpulse_contacts_answered_within_service_level_total",
        "Contacts answered within the queue's service-level threshold.",
        lambda s: s.answered_within_sl,
    ),
    ("cxpulse_contacts_handled_total", "Conversations ended.", lambda s: s.handled),
    (
        "cxpulse_handle_seconds_total",
        "Talk, hold and after-contact work of handled contacts.",
        lambda s: s.talk_sum_s + s.hold_sum_s + s.acw_sum_s,
    ),
    # The day's negative share for the sentiment jump alert: increase(negative) / increase(scored).
    ("cxpulse_sentiment_messages_scored_total", "Customers' messages and survey comments scored.", lambda s: s.messages_scored),
    ("cxpulse_sentiment_messages_negative_total", "Customers' messages and comments scored negative.", lambda s: s.sentiment_negative),
)
# Upper bounds of the wait histogram: every one is a bin edge of kpis.buckets.wait_bin, so each
# wait falls on the right side of every bound and the buckets are exact.
WAIT_BUCKETS_S = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 600, 900, 1200, 1800, 3600)
# The staffed states and the live row count of each: one series per state, so a stacked graph of
# them adds up to the agents staffed.
AGENT_STATES: tuple[tuple[str, str], ...] = (
    ("available", "agents_available"),
    ("on_contact", "agents_on_contact"),
    ("after_contact_work", "agents_acw"),
    ("aux", "agents_aux"),
)


def _difference(now: BucketStats, then: BucketStats | None) -> BucketStats:
    result = BucketStats.merged((now,))
    if then is not None:
        result.subtract(then)
    return result


class _Held:
    """Counter values never go down between scrapes (see the module docstring)."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, ...], float] = {}

    def __call__(self, key: tuple[str, ...], value: float) -> float:
        held = max(self._values.get(key, 0.0), value)
        self._values[key] = held
        return held


class KpiCollector(Collector):
    def __init__(
        self, reader: SnapshotReader, view: KpiView, targets: Targets | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._reader = reader
        self._view = view
        self._targets = targets
        self._clock = clock
        self._held = _Held()

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        if self._reader.ready.is_set():
            yield from self._counters()
        yield from self._gauges()
        yield from self._target_gauges(now)
        yield from self._health(now)

    def _counters(self) -> Iterator[Metric]:
        labels = ["queue", "channel"]
        counters = [CounterMetricFamily(name, help_text, labels=labels) for name, help_text, _ in COUNTERS]
        surveys = CounterMetricFamily(
            "cxpulse_survey_answers_total", "Survey answers by survey and score.", labels=[*labels, "survey", "score"]
        )
        resolution = CounterMetricFamily(
            "cxpulse_resolution_answers_total", "Answers to 'was your issue resolved?'.", labels=[*labels, "resolved"]
        )
        waits = HistogramMetricFamily(
            "cxpulse_wait_seconds", "Waits of answered and abandoned (not short) contacts.", labels=labels
        )
        baseline = self._reader.totals_at_ready
        hold = self._held
        for (queue, channel), running in sorted(self._reader.book.running_totals().items()):
            pair = [queue, channel]
            since = _difference(running, baseline.get((queue, channel)))
            for family, (name, _, value) in zip(counters, COUNTERS):
                family.add_metric(pair, hold((name, queue, channel), value(since)))
            # Every score is exported from the start, at zero: a series that first appears at 1 hides
            # that first answer from rate() and increase().
            for scale in SURVEY_SCALES:
                for index, count in enumerate(since.score_counts(scale)):
                    score = str(scale.lowest + index)
                    surveys.add_metric([*pair, scale.name, score], hold((f"{scale.name}:{score}", queue, channel), count))
            yes = hold(("resolved:true", queue, channel), since.resolved_true)
            no = hold(("resolved:false", queue, channel), since.resolved_answers - since.resolved_true)
            resolution.add_metric([*pair, "true"], yes)
            resolution.add_metric([*pair, "false"], no)
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            bins = sorted(since.wait_bins.items())
            position = 0
            for bound in WAIT_BUCKETS_S:
                while position < len(bins) and bins[position][0] <= bound:
                    cumulative += bins[position][1]
                    position += 1
                buckets.append((str(bound), hold((f"le:{bound}", queue, channel), cumulative)))
            total = sum(count for _, count in bins)
            buckets.append(("+Inf", hold(("le:+Inf", queue, channel), total)))
            wait_sum = hold(("wait_sum", queue, channel), since.answered_wait_sum_s + since.abandoned_wait_sum_s)
            waits.add_metric(pair, buckets, wait_sum)
        yield from counters
        yield surveys
        yield resolution
        yield waits

    def _gauges(self) -> Iterator[Metric]:
        """From the rows the API serves (the view's current frame), not computed again per scrape."""
        windowed = {kpi.name: GaugeMetricFamily(kpi.metric, kpi.help, labels=["queue", "channel", "window"]) for kpi in WINDOWED}
        live = {kpi.name: GaugeMetricFamily(kpi.metric, kpi.help, labels=["queue", "channel"]) for kpi in LIVE}
        for window in ROLLING:
            for row in self._view.frame.rows.get(window, {}).values():
                company = row["queue"] == ALL and row["channel"] == ALL
                if ALL in (row["queue"], row["channel"]) and not company:
                    continue
                labels = [row["queue"], row["channel"], window.value]
                for name, family in windowed.items():
                    if row[name] is not None and (name in COMPANY_WIDE) == company:
                        family.add_metric(labels, float(row[name]))
                if window is ROLLING[0] and not company:
                    for name, family in live.items():
                        if row[name] is not None:
                            family.add_metric(labels[:2], float(row[name]))
        yield from windowed.values()
        yield from live.values()
        yield from self._agent_gauges()

    def _agent_gauges(self) -> Iterator[Metric]:
        """Agents per state and per aux reason, from the same live rows (each agent in every queue it
        serves): every state is exported, at zero too, so a stacked graph has no gaps; a reason only
        while some agent is in it, as a reason is open-ended text."""
        labels = ["queue", "channel"]
        in_state = GaugeMetricFamily(
            "cxpulse_agents_in_state", "Agents serving the queue now, by state (logged out not counted).", labels=[*labels, "state"]
        )
        by_reason = GaugeMetricFamily(
            "cxpulse_agents_aux_by_reason", "Agents serving the queue in an auxiliary state now, by reason.", labels=[*labels, "reason"]
        )
        for row in self._view.frame.rows.get(ROLLING[0], {}).values():
            if ALL in (row["queue"], row["channel"]):
                continue
            pair = [row["queue"], row["channel"]]
            for state, name in AGENT_STATES:
                in_state.add_metric([*pair, state], float(row[name]))
            for reason, count in sorted(row["agents_aux_by_reason"].items()):
                if count:
                    by_reason.add_metric([*pair, reason], float(count))
        yield in_state
        yield by_reason

    def _target_gauges(self, now: float) -> Iterator[Metric]:
        """In the KPI's own unit, so Grafana can draw them as lines over the KPI's gauge. The expected
        value moves once a day, on the calendar of the target's queue (the default rules' for a
        target of every queue)."""
        labels = ["kpi", "queue", "channel"]
        target = GaugeMetricFamily("cxpulse_kpi_target", "KPI target from the targets file, in the KPI's unit.", labels=labels)
        expected_now = GaugeMetricFamily(
            "cxpulse_kpi_target_expected",
            "Value expected today on the straight line from the target's baseline at its start to the target at its due date.",
            labels=labels,
        )
        for entry in self._targets.entries if self._targets is not None else ():
            queue, channel = entry.queue or ALL, entry.channel or ALL
            target.add_metric([entry.kpi, queue, channel], entry.target)
            expected_now.add_metric([entry.kpi, queue, channel], expected(entry, self._reader.book.business_date(queue, now)))
        yield target
        yield expected_now

    def _health(self, now: float) -> Iterator[Metric]:
        records = CounterMetricFamily(
            "cxpulse_api_snapshot_records_total", "Snapshot records applied by this API process since it started."
        )
        records.add_metric([], self._reader.records)
        yield records
        ready = GaugeMetricFamily("cxpulse_api_ready", "1 once this API process has read the snapshot topics to their end.")
        ready.add_metric([], 1.0 if self._reader.ready.is_set() else 0.0)
        yield ready
        lag = GaugeMetricFamily(
            "cxpulse_processing_lag_events",
            "Source events published but not yet reflected in the served numbers, by source topic.",
            labels=["topic"],
        )
        for topic, events in sorted(self._reader.lag_by_topic.items()):
            lag.add_metric([topic], events)
        yield lag
        age = self._reader.age_seconds(now)
        if age is not None:
            family = GaugeMetricFamily(
                "cxpulse_api_snapshot_age_seconds", "Seconds since this API process last received an update from the workers."
            )
            family.add_metric([], age)
            yield family


def build_registry(reader: SnapshotReader, view: KpiView, targets: Targets | None = None) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(KpiCollector(reader, view, targets))
    return registry
