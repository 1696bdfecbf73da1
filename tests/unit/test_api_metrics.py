"""The API's /metrics: counters since ready that never go down, an exact wait histogram, clean lint."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import datetime, timezone
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import KpiCollector
from api.view import KpiView
from kpis.agents import AgentBoard
from kpis.book import KpiBook
from kpis.buckets import BucketStats
from kpis.catalog import KPIS_BY_NAME
from kpis.event import AgentEvent
from kpis.state import INTERVAL, BucketKey
from service.settings import Settings
from streams.contract import decode_record
from streams.topics import AGENTS

T0 = 1_800_000_000


class FakeReader:
    def __init__(self) -> None:
        self.book = KpiBook(Settings().rules)
        self.ready = asyncio.Event()
        self.totals_at_ready: dict[tuple[str, str], BucketStats] = {}
        self.lag_by_topic = {"cx.calls": 7}
        self.records = 12
        self.registry: CollectorRegistry | None = None
        self.changed = asyncio.Event()
        self.view = KpiView(self, refresh_seconds=1.0, heartbeat_seconds=15.0, clock=lambda: T0 + 30)  # type: ignore[arg-type]

    def age_seconds(self, now: float) -> float:
        return 1.5

    def stale(self, now: float) -> bool:
        return False

    def processed(self) -> dict[tuple[str, int], int]:
        return {}

    def become_ready(self) -> None:
        self.totals_at_ready = {pair: BucketStats.merged((s,)) for pair, s in self.book.running_totals().items()}
        self.ready.set()


def scrape(reader: FakeReader) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One scrape of the reader's collector (one per reader: counters hold values between scrapes)."""
    if reader.registry is None:
        reader.registry = CollectorRegistry()
        reader.registry.register(KpiCollector(reader, reader.view, clock=lambda: T0 + 30))  # type: ignore[arg-type]
    text = generate_latest(reader.registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def interval(queue: str, start: int) -> BucketKey:
    return BucketKey(INTERVAL, queue, "voice", start)


VOICE = (("channel", "voice"), ("queue", "sales"))


def test_counters_count_from_readiness_and_follow_replaced_buckets() -> None:
    reader = FakeReader()
    reader.book.put(0, interval("sales", T0 - 900), BucketStats(offered=10, answered=9, abandoned=1))
    assert not any(name.startswith("cxpulse_contacts") for name, _ in scrape(reader)), "no counters before ready"
    reader.become_ready()
    reader.book.put(0, interval("sales", T0 - 900), BucketStats(offered=12, answered=10, abandoned=1, short_abandoned=1))
    reader.book.put(1, interval("sales", T0), BucketStats(offered=3, answered=2, talk_sum_s=100, acw_sum_s=20, handled=2))
    samples = scrape(reader)
    assert samples[("cxpulse_contacts_offered_total", VOICE)] == 2 + 3
    assert samples[("cxpulse_contacts_answered_total", VOICE)] == 1 + 2
    assert samples[("cxpulse_contacts_abandoned_total", VOICE)] == 0
    assert samples[("cxpulse_contacts_short_abandoned_total", VOICE)] == 1
    assert samples[("cxpulse_contacts_handled_total", VOICE)] == 2
    assert samples[("cxpulse_handle_seconds_total", VOICE)] == 120


def test_a_counter_is_held_when_a_worker_republishes_an_older_bucket() -> None:
    reader = FakeReader()
    reader.become_ready()
    reader.book.put(0, interval("sales", T0), BucketStats(offered=5))
    assert scrape(reader)[("cxpulse_contacts_offered_total", VOICE)] == 5
    reader.book.put(0, interval("sales", T0), BucketStats(offered=3))
    assert scrape(reader)[("cxpulse_contacts_offered_total", VOICE)] == 5
    reader.book.put(0, interval("sales", T0), BucketStats(offered=7))
    assert scrape(reader)[("cxpulse_contacts_offered_total", VOICE)] == 7


def test_pruned_history_does_not_lower_counters() -> None:
    reader = FakeReader()
    reader.become_ready()
    reader.book.put(0, interval("sales", T0 - 900), BucketStats(offered=4))
    reader.book.prune(INTERVAL, T0)
    assert scrape(reader)[("cxpulse_contacts_offered_total", VOICE)] == 4


def test_the_wait_histogram_puts_each_wait_on_the_right_side_of_every_bound() -> None:
    reader = FakeReader()
    reader.become_ready()
    stats = BucketStats(answered=6, answered_with_wait=6, answered_wait_sum_s=4456.5)
    for wait in (3, 12, 20, 20.5, 400, 4021):  # sum 4476.5 - the test sets the sum field itself
        stats.add_wait(wait)
    reader.book.put(0, interval("sales", T0), stats)
    samples = scrape(reader)
    expected = {"5": 1, "10": 1, "15": 2, "20": 3, "30": 4, "300": 4, "600": 5, "3600": 5, "+Inf": 6}
    for bound, count in expected.items():
        assert samples[("cxpulse_wait_seconds_bucket", (*VOICE[:1], ("le", bound), *VOICE[1:]))] == count, bound
    assert samples[("cxpulse_wait_seconds_count", VOICE)] == 6
    assert samples[("cxpulse_wait_seconds_sum", VOICE)] == 4456.5


def test_survey_answers_are_counted_by_survey_and_score() -> None:
    reader = FakeReader()
    reader.become_ready()
    stats = BucketStats(
        surveys=6, scores={"csat": [0, 0, 1, 0, 2], "nps": [0] * 10 + [3]}, resolved_true=2, resolved_answers=3
    )
    reader.book.put(0, interval("sales", T0), stats)
    samples = scrape(reader)

    def answers(survey: str, score: str) -> float:
        labels = (("channel", "voice"), ("queue", "sales"), ("score", score), ("survey", survey))
        return samples[("cxpulse_survey_answers_total", labels)]

    assert answers("csat", "5") == 2 and answers("csat", "3") == 1 and answers("csat", "1") == 0
    assert answers("nps", "10") == 3 and answers("nps", "0") == 0
    ces = [v for (name, labels), v in samples.items() if name == "cxpulse_survey_answers_total" and ("survey", "ces") in labels]
    assert ces == [0.0] * 7, "every score is there from the start, at zero"
    resolved = {dict(labels)["resolved"]: v for (name, labels), v in samples.items() if name == "cxpulse_resolution_answers_total"}
    assert resolved == {"true": 2, "false": 1}


def agent_event(agent: str, epoch_s: float, state: str, **extra: Any) -> AgentEvent:
    """An agent.state_changed event as published, decoded the way the worker decodes it."""
    document = {
        "event_id": f"{agent}-{epoch_s}", "type": "agent.state_changed", "agent_id": agent, "state": state,
        "time": datetime.fromtimestamp(epoch_s, tz=timezone.utc).isoformat(), **extra,
    }  # fmt: skip
    [event] = decode_record(json.dumps(document).encode(), AGENTS).items
    assert isinstance(event, AgentEvent), event
    return event


def put_agents(reader: FakeReader) -> None:
    """Five agents as a worker's live records; what each pair should count is in the test."""
    board = AgentBoard(Settings().rules)
    for event in (
        agent_event("x1", T0 - 600, "aux", reason="break", queues=["sales", "support"]),
        agent_event("x2", T0 - 1000, "available", queues=["sales"]),
        agent_event("x2", T0 - 100, "on_contact", contact_id="c-1", queue="sales"),
        agent_event("x3", T0 - 50, "aux", queues=["sales"], channel="chat"),
        agent_event("x4", T0 - 200, "available", queues=["support"]),
        agent_event("x5", T0 - 400, "available", queues=["sales"]),
        agent_event("x5", T0 - 300, "logged_out"),
        agent_event("x6", T0 - 20, "after_contact_work", queues=["support"]),
    ):
        board.apply(event)
    reader.book.put_agents(0, board.live())
    reader.view.refresh()


def test_agents_are_exported_by_state_and_by_aux_reason_per_queue_served() -> None:
    reader = FakeReader()
    reader.become_ready()
    put_agents(reader)
    samples = scrape(reader)

    def in_state(queue: str, channel: str) -> dict[str, float]:
        return {
            dict(labels)["state"]: value
            for (name, labels), value in samples.items()
            if name == "cxpulse_agents_in_state" and dict(labels)["queue"] == queue and dict(labels)["channel"] == channel
        }

    # x1 serves sales and support: counted in both; x5 logged out: in no state.
    assert in_state("sales", "voice") == {"available": 0, "on_contact": 1, "after_contact_work": 0, "aux": 1}
    assert in_state("support", "voice") == {"available": 1, "on_contact": 0, "after_contact_work": 1, "aux": 1}
    assert in_state("sales", "chat") == {"available": 0, "on_contact": 0, "after_contact_work": 0, "aux": 1}
    reasons = {
        (dict(labels)["queue"], dict(labels)["channel"], dict(labels)["reason"]): value
        for (name, labels), value in samples.items()
        if name == "cxpulse_agents_aux_by_reason"
    }
    assert reasons == {("sales", "voice", "break"): 1, ("support", "voice", "break"): 1, ("sales", "chat", "unspecified"): 1}
    assert not any("*" in dict(labels).values() for name, labels in samples if name.startswith("cxpulse_agents")), "no roll-ups"
    staffed, available = (KPIS_BY_NAME[name].metric for name in ("agents_staffed", "agents_available"))
    assert samples[(staffed, VOICE)] == 2, "the catalog's live gauges beside them: x1 and x2"
    assert samples[(available, (("channel", "voice"), ("queue", "support")))] == 1


def test_promtool_finds_nothing_to_complain_about() -> None:
    reader = FakeReader()
    reader.become_ready()
    stats = BucketStats(offered=2, answered=1, answered_with_wait=1, answered_wait_sum_s=12, surveys=1, scores={"csat": [0, 0, 0, 1, 0]})
    stats.add_wait(12)
    reader.book.put(0, interval("sales", T0), stats)
    reader.book.put(0, BucketKey(60, "sales", "voice", T0 - 60), stats)
    put_agents(reader)
    registry = CollectorRegistry()
    registry.register(KpiCollector(reader, reader.view, clock=lambda: T0 + 30))  # type: ignore[arg-type]
    exposition = generate_latest(registry)
    assert b'cxpulse_window_offered_contacts{channel="voice",queue="sales",window="15m"} 2.0' in exposition
    assert b'cxpulse_agents_in_state{channel="voice",queue="sales",state="on_contact"} 1.0' in exposition
    assert b'cxpulse_agents_aux_by_reason{channel="voice",queue="sales",reason="break"} 1.0' in exposition
    result = subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True)
    assert result.returncode == 0 and not result.stdout and not result.stderr, result.stdout + result.stderr
