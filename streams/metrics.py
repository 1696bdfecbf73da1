"""Pipeline-health metrics of the worker process, served on its own /metrics port."""

from prometheus_client import Counter, Gauge

from streams import topics
from streams.contract import INVALID_KINDS

EVENTS_PROCESSED = Counter(
    "cxpulse_events_processed_total",
    "Valid events folded into KPI state, by source topic (duplicates included).",
    ["topic"],
)
EVENTS_DUPLICATE = Counter(
    "cxpulse_events_duplicate_total",
    "Events whose event_id had already been counted and were ignored, by source topic.",
    ["topic"],
)
EVENTS_DEADLETTERED = Counter(
    "cxpulse_events_deadlettered_total",
    "Events sent to the dead-letter topic, by source topic and reason.",
    ["topic", "reason"],
)
LAST_EVENT_TIME = Gauge(
    "cxpulse_last_event_timestamp_seconds",
    "Event time of the newest event folded, by source topic.",
    ["topic"],
)
CONTACTS_TRACKED = Gauge(
    "cxpulse_worker_contacts_tracked",
    "Contacts whose state the worker keeps for later events (bounded by the contact horizon).",
)
BUCKETS_HELD = Gauge(
    "cxpulse_worker_buckets",
    "Minute buckets of KPI counters held by the worker (bounded by retention).",
)
EVENTS_LATE = Counter(
    "cxpulse_events_late_total",
    "Events whose bucket had already closed (later than the grace period), by source topic.",
    ["topic"],
)
EVENTS_REREAD = Counter(
    "cxpulse_events_reread_total",
    "Source events re-read to rebuild contact state after taking over a partition.",
)
CUSTOMERS_TRACKED = Gauge(
    "cxpulse_worker_customers_tracked",
    "Customers whose recent contacts the worker keeps for repeat-contact detection.",
)
AGENTS_TRACKED = Gauge(
    "cxpulse_worker_agents_tracked",
    "Agents whose recent state events the worker keeps (bounded by the agent horizon, 36 h).",
)
TICKETS_TRACKED = Gauge(
    "cxpulse_worker_tickets_tracked",
    "Tickets whose events the worker keeps (bounded by tickets.horizon_days after their last event).",
)
ACCOUNTS_TRACKED = Gauge(
    "cxpulse_worker_account_customers_tracked",
    "Customers whose account events the worker keeps (active ones, and those with recent events).",
)
PARTITIONS_OWNED = Gauge(
    "cxpulse_worker_partitions",
    "Source partitions whose state this worker holds.",
)
SOURCE_OFFSET_GAPS = Counter(
    "cxpulse_source_offset_gaps_total",
    "Times a source partition's records did not arrive one offset after the other (a skip or a repeat).",
    ["topic"],
)


def initialise() -> None:
    """Create every per-topic series at zero when the worker starts, so the first dead letter after
    a start is an increase that alert rules see, not a series that appears already at 1."""
    for topic in topics.FOLDED_TOPICS:
        for counter in (EVENTS_PROCESSED, EVENTS_DUPLICATE, EVENTS_LATE, SOURCE_OFFSET_GAPS):
            counter.labels(topic)
        for kind in (*INVALID_KINDS, "late", "future", "past"):
            EVENTS_DEADLETTERED.labels(topic, kind)
    EVENTS_DEADLETTERED.labels(topics.ACCOUNTS, "currency")
