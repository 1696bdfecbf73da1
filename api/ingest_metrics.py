"""What the ingest doors count, in the API's /metrics registry: per source (``events``, ``twilio``,
``amazon_connect``) the events accepted, rejected by reason and skipped by type, and how long the
broker took to acknowledge. Counted here rather than derived from the topics, because a rejected or
skipped event never reaches a topic."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from streams.contract import INVALID_KINDS

SOURCES = ("events", "twilio", "amazon_connect")
# Why a webhook payload could not be turned into a contract event (see adapters.mapping.Unmappable).
MAPPING_REASON = "mapping"
REASONS = (*INVALID_KINDS, MAPPING_REASON)
BROKER_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IngestMetrics:
    """Every (source, reason) series exists from start-up at zero, so rate() sees the first rejection."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.accepted = Counter(
            "cxpulse_ingest_events_accepted", "Events the broker acknowledged, by ingest source.", ["source"],
            registry=registry,
        )  # fmt: skip
        self.rejected = Counter(
            "cxpulse_ingest_events_rejected", "Events refused, by ingest source and reason.", ["source", "reason"],
            registry=registry,
        )  # fmt: skip
        self.skipped = Counter(
            "cxpulse_ingest_events_skipped",
            "Webhook events taken but without a contract-v1 counterpart (agent states, missed offers), by type.",
            ["source", "type"], registry=registry,
        )  # fmt: skip
        self.broker_seconds = Histogram(
            "cxpulse_ingest_broker_seconds", "Time from sending an ingest request's records to the broker's acknowledgement.",
            ["source"], buckets=BROKER_BUCKETS_S, registry=registry,
        )  # fmt: skip
        for source in SOURCES:
            self.accepted.labels(source)
            self.broker_seconds.labels(source)
            for reason in REASONS:
                self.rejected.labels(source, reason)
