"""KPI gauges computed at scrape time from the snapshot book, plus the API's own health series.

Computing on scrape means a scrape costs one pass over the window's buckets and an event costs
nothing here. Values with an empty denominator are left out rather than exported as NaN, so alert
rules never compare NaN. Only real (queue, channel) pairs are exported: sum() in PromQL rolls up.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.snapshots import SnapshotReader
from kpis.book import ALL
from kpis.windows import ROLLING

# (KPI name in the API, metric name, help) for the gauges of rolling-window KPIs.
WINDOW_GAUGES = (
    ("offered", "cxpulse_window_offered_contacts", "Contacts offered to the queue in the window."),
    ("answered", "cxpulse_window_answered_contacts", "Contacts answered in the window."),
    ("abandoned", "cxpulse_window_abandoned_contacts", "Contacts abandoned in the window, short abandons excluded."),
    ("short_abandoned", "cxpulse_window_short_abandoned_contacts", "Contacts abandoned within the queue's short-abandon time."),
    ("handled", "cxpulse_window_handled_contacts", "Conversations ended in the window."),
    ("abandon_rate", "cxpulse_window_abandon_ratio", "Abandoned over answered plus abandoned, 0..1."),
    ("asa_s", "cxpulse_window_asa_seconds", "Average speed of answer: mean wait of answered contacts."),
    ("avg_abandon_wait_s", "cxpulse_window_abandon_wait_avg_seconds", "Mean wait of abandoned contacts."),
    ("max_wait_s", "cxpulse_window_wait_max_seconds", "Longest wait of a contact answered or abandoned."),
    ("wait_p90_s", "cxpulse_window_wait_p90_seconds", "90th percentile wait of contacts answered or abandoned."),
    ("service_level", "cxpulse_window_service_level_ratio", "Service level under the queue's formula, 0..1."),
    ("aht_s", "cxpulse_window_aht_seconds", "Average handle time: talk, hold and after-contact work per handled contact."),
    ("fcr_survey", "cxpulse_window_fcr_survey_ratio", "Surveys answering resolved over surveys with a resolved answer."),
    ("repeat_contact_rate", "cxpulse_window_repeat_contact_ratio", "Known-customer contacts that repeat an earlier one."),
    ("csat", "cxpulse_window_csat_ratio", "Share of CSAT answers of 4 or 5."),
    ("csat_mean", "cxpulse_window_csat_mean_score", "Mean CSAT answer, 1..5."),
    ("nps", "cxpulse_window_nps_score", "Net promoter score, -100..100."),
    ("ces_mean", "cxpulse_window_ces_mean_score", "Mean customer effort score, 1..7."),
)


class KpiCollector(Collector):
    def __init__(self, reader: SnapshotReader, clock: Callable[[], float] = time.time) -> None:
        self._reader = reader
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        families = {
            name: GaugeMetricFamily(metric, help_text, labels=["queue", "channel", "window"])
            for name, metric, help_text in WINDOW_GAUGES
        }
        waiting = GaugeMetricFamily("cxpulse_waiting_contacts", "Contacts waiting in the queue now.", labels=["queue", "channel"])
        longest = GaugeMetricFamily(
            "cxpulse_longest_waiting_seconds", "Age of the oldest contact waiting now.", labels=["queue", "channel"]
        )
        for window in ROLLING:
            for row in self._reader.book.rows(window, now):
                if ALL in (row["queue"], row["channel"]):
                    continue
                labels = [row["queue"], row["channel"], window.value]
                for name, family in families.items():
                    if row[name] is not None:
                        family.add_metric(labels, float(row[name]))
                if window is ROLLING[0]:
                    waiting.add_metric(labels[:2], row["waiting_now"])
                    if row["longest_waiting_s"] is not None:
                        longest.add_metric(labels[:2], row["longest_waiting_s"])
        yield from families.values()
        yield waiting
        yield longest
        records = GaugeMetricFamily(
            "cxpulse_api_snapshot_records", "Snapshot records applied by this API process since it started."
        )
        records.add_metric([], self._reader.records)
        yield records
        age = self._reader.age_seconds(now)
        if age is not None:
            family = GaugeMetricFamily(
                "cxpulse_api_snapshot_age_seconds", "Seconds since this API process last received an update from the workers."
            )
            family.add_metric([], age)
            yield family


def build_registry(reader: SnapshotReader) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(KpiCollector(reader))
    return registry
