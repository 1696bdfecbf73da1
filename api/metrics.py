"""KPI gauges computed at scrape time from the snapshot book, plus the API's own health series.

Computing on scrape means a scrape costs one pass over the buckets and an event costs nothing here.
Ratios with an empty denominator are left out rather than exported as NaN, so alerts never compare NaN.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.snapshots import SnapshotReader
from kpis.book import ALL
from kpis.definitions import compute
from kpis.windows import RollingWindow, rolling_span

# (KPI name, metric name, help) for the gauges of rolling-window KPIs.
WINDOW_GAUGES = (
    ("offered", "cxpulse_window_offered_contacts", "Contacts offered to the queue in the window."),
    ("answered", "cxpulse_window_answered_contacts", "Contacts answered in the window."),
    ("abandoned", "cxpulse_window_abandoned_contacts", "Contacts abandoned in the window."),
    ("abandon_rate", "cxpulse_window_abandon_ratio", "Abandoned over answered plus abandoned, 0..1."),
    ("asa_s", "cxpulse_window_asa_seconds", "Average speed of answer: mean wait of answered contacts."),
    ("max_wait_s", "cxpulse_window_max_wait_seconds", "Longest wait of a contact answered or abandoned."),
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
        for window in RollingWindow:
            for (queue, channel), stats in self._reader.book.window_stats(rolling_span(window, now)).items():
                if ALL in (queue, channel):
                    continue
                values = compute(stats)
                for name, family in families.items():
                    if values[name] is not None:
                        family.add_metric([queue, channel, window.value], float(values[name]))
        yield from families.values()
        records = GaugeMetricFamily(
            "cxpulse_api_snapshot_records", "Snapshot records applied by this API process since it started."
        )
        records.add_metric([], self._reader.records)
        yield records
        if self._reader.last_update is not None:
            age = GaugeMetricFamily(
                "cxpulse_api_snapshot_age_seconds", "Seconds since this API process last received a KPI update."
            )
            age.add_metric([], now - self._reader.last_update)
            yield age


def build_registry(reader: SnapshotReader) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(KpiCollector(reader))
    return registry
