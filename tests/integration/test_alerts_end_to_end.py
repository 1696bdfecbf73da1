"""From an abandon spike on Kafka to a page, and from the recovery to the resolved notification; the
same for contacts waiting while every agent of their queue is busy or away.

The whole alerting path runs for real: cxpulse (events → KPI gauges on /metrics), Prometheus
(scrapes every second, evaluates the rules that service.alert_rules renders from a thresholds file),
Alertmanager (the deployed deploy/alertmanager/alertmanager.yml with only its webhook URLs and its
timings swapped) and a webhook receiver standing in for the on-call and chat bridges.

The thresholds are the test's own (a `for` of 10 s instead of minutes); the expected numbers are
worked out by hand from the events published, and cross-checked against the API's own JSON.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from aiokafka import AIOKafkaProducer

from service.settings import load_thresholds
from service import alert_rules
from tests.events import at, contact_event
from tests.integration.alertmanager import Alertmanager, Notification, WebhookReceiver, config_for_test
from tests.integration.prometheus import Prometheus
from tests.integration.stack import Stack, eventually

pytestmark = pytest.mark.integration

FOR_S = 10
RUNBOOK = "https://runbooks.example.com/cxpulse/abandon-rate"


def thresholds_document(queue_a: str) -> dict[str, Any]:
    """Queue A by an override (warning above 40%, critical above 50%); every other queue, B included,
    by a stricter default (20% / 30%). Both need 4 answered + abandoned contacts in 15m.

    The default would still judge A critical after the recovery (6/18 = 33% > 30%): a clean
    resolution for A shows that the default rule leaves the override's queue out on real metrics."""
    return {
        "defaults": {"window": "15m", "for": f"{FOR_S}s", "team": "contact-center"},
        "kpis": {
            "abandon_rate": {
                "direction": "above",
                "warning": 0.2,
                "critical": 0.3,
                "min_volume": 4,
                "runbook": RUNBOOK,
                "overrides": [{"queue": queue_a, "warning": 0.4, "critical": 0.5}],
            }
        },
    }


async def publish(stack: Stack, events: list[dict[str, Any]]) -> None:
    """Contact events on cx.calls keyed by customer, agent events on cx.agents keyed by agent."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
    await producer.start()
    try:
        for event in events:
            topic, key = ("cx.agents", event["agent_id"]) if event["type"].startswith("agent.") else ("cx.calls", event["customer_id"])
            await producer.send_and_wait(topic, json.dumps(event).encode(), key=key.encode())
    finally:
        await producer.stop()


class Alerting(NamedTuple):
    stack: Stack
    alertmanager: Alertmanager
    hooks: WebhookReceiver


@asynccontextmanager
async def alerting(tmp_path: Path, name: str, thresholds: dict[str, Any], settings: dict[str, Any]) -> AsyncIterator[Alerting]:
    """cxpulse judged by ``thresholds``, a Prometheus evaluating the rules rendered from them every
    second, the deployed Alertmanager config with fast timings, and a webhook receiver behind it."""
    thresholds_path = tmp_path / "thresholds.yaml"
    thresholds_path.write_text(yaml.safe_dump(thresholds))
    rule_files = alert_rules.write(load_thresholds(thresholds_path), tmp_path / "rules")
    config_path = tmp_path / "cxpulse.yaml"
    config_path.write_text(yaml.safe_dump({"alerts": {"thresholds_file": str(thresholds_path)}, **settings}))

    hooks = WebhookReceiver()
    await hooks.start()
    stack = Stack(name, config=config_path)
    alertmanager = Alertmanager(
        f"{name}-alertmanager",
        config=config_for_test(hooks.url, {"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1m"}),
    )
    prometheus: Prometheus | None = None
    try:
        await stack.start(timeout_s=120)
        await alertmanager.start(timeout_s=90)
        prometheus = Prometheus(
            f"{name}-prometheus",
            config={
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(path) for path in rule_files],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager.port}"]}]}]},
                "scrape_configs": [
                    {"job_name": "cxpulse-api", "static_configs": [{"targets": [f"127.0.0.1:{stack.api_port}"]}]},
                    {"job_name": "cxpulse-worker", "static_configs": [{"targets": [f"127.0.0.1:{stack.metrics_port}"]}]},
                ],
            },
        )
        await prometheus.start(timeout_s=90)
        await eventually(prometheus.all_targets_up, 90, "Prometheus scraping the API and the worker")
        prom = prometheus

        async def alertmanager_known() -> list[dict[str, Any]]:
            return (await prom.api("alertmanagers"))["activeAlertmanagers"]

        await eventually(alertmanager_known, 60, "Prometheus sending to the Alertmanager")
        yield Alerting(stack, alertmanager, hooks)
    finally:
        if prometheus is not None:
            await prometheus.stop()
        await alertmanager.stop()
        if stack.process is not None and stack.process.returncode is None:
            await stack.stop()
        await hooks.stop()


def answered(contact: str, queue: str, now: float) -> list[dict[str, Any]]:
    return [contact_event("offered", contact, now - 40, queue), contact_event("answered", contact, now - 32, queue, wait_s=8)]


def abandoned(contact: str, queue: str, now: float) -> list[dict[str, Any]]:
    # 30 s of waiting: an abandon under any short-abandon time (and the config sets it to 0 anyway)
    return [contact_event("offered", contact, now - 40, queue), contact_event("abandoned", contact, now - 10, queue, wait_s=30)]


def about(notification: Notification, queue: str) -> list[dict[str, Any]]:
    return [alert for alert in notification.alerts if alert["labels"].get("queue") == queue]


async def test_an_abandon_spike_pages_on_call_once_and_the_recovery_resolves_it(tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:6]
    queue_a, queue_b = f"spike-{run}", f"calm-{run}"

    async with alerting(
        tmp_path, "alerts-e2e", thresholds_document(queue_a), {"defaults": {"short_abandon_seconds": 0}}
    ) as (stack, alertmanager, hooks):
        # The spike, worked out by hand: A: 2 answered + 6 abandoned = 6/8 = 75% > 50% (critical and
        # warning of A's override), volume 8 >= 4. B: 8 answered, 0 abandoned = 0%.
        now = time.time()
        spike = [e for i in range(2) for e in answered(f"{run}-a-ans-{i}", queue_a, now)]
        spike += [e for i in range(6) for e in abandoned(f"{run}-a-ab-{i}", queue_a, now)]
        spike += [e for i in range(8) for e in answered(f"{run}-b-ans-{i}", queue_b, now)]
        published = time.monotonic()
        await publish(stack, spike)

        async def served(queue: str, answered_n: int, abandoned_n: int) -> dict[str, Any] | None:
            items = (await stack.get_json("/v1/kpis", {"queue": queue, "channel": "voice"}))["items"]
            row = items[0] if items else None
            return row if row and (row["answered"], row["abandoned"]) == (answered_n, abandoned_n) else None

        row_a = await eventually(lambda: served(queue_a, 2, 6), 90, f"the spike on {queue_a} served")
        row_b = await eventually(lambda: served(queue_b, 8, 0), 90, f"the calls of {queue_b} served")
        assert row_a["abandon_rate"] == pytest.approx(0.75) and row_b["abandon_rate"] == 0
        # The wallboard's status judges by the same thresholds as the pager.
        assert row_a["status"]["abandon_rate"] == "critical", row_a["status"]
        assert row_b["status"]["abandon_rate"] == "ok", row_b["status"]

        def firing_for_a() -> list[Notification]:
            return hooks.matching(lambda n: n.body.get("status") == "firing" and bool(about(n, queue_a)))

        async def paged() -> Notification | None:
            found = firing_for_a()
            return found[0] if found else None

        page = await eventually(paged, 90, f"a firing notification for {queue_a}")
        # Not before the `for` delay: the condition cannot have held before the events were published.
        assert page.received - published >= FOR_S, f"paged {page.received - published:.1f} s after the spike"
        assert page.receiver == "cx-oncall", f"the first notification of {queue_a} went to {page.receiver}: {page.body}"
        assert page.body["receiver"] == "cx-oncall"
        assert page.body["groupLabels"] == {"alertname": "CxpulseAbandonRateHigh", "queue": queue_a}
        [alert] = page.alerts  # grouped by alertname and queue: A's critical alone
        assert alert["status"] == "firing"
        assert alert["labels"] == {
            "alertname": "CxpulseAbandonRateHigh",
            "severity": "critical",
            "kpi": "abandon_rate",
            "team": "contact-center",
            "scope": f"queue={queue_a}",
            "queue": queue_a,
            "channel": "voice",
            "window": "15m",
            "job": "cxpulse-api",
            "instance": f"127.0.0.1:{stack.api_port}",
        }
        annotations = alert["annotations"]
        assert float(annotations["value"]) == pytest.approx(0.75)
        assert annotations["threshold"] == "0.5"
        assert annotations["window"] == "15m"
        assert annotations["min_volume"] == "4"
        assert annotations["runbook_url"] == RUNBOOK
        assert annotations["summary"] == f"Abandon rate of {queue_a}/voice is 75%, above the critical threshold 0.5 (15m)"

        # The warning of A fires too (75% > 40%) but is inhibited by the critical: Alertmanager holds it
        # suppressed, and the chat receiver hears nothing of A.
        async def warning_inhibited() -> dict[str, Any] | None:
            for held in await alertmanager.alerts(queue=queue_a, severity="warning"):
                if held["status"]["state"] == "suppressed" and held["status"]["inhibitedBy"]:
                    return held
            return None

        await eventually(warning_inhibited, 60, f"the warning of {queue_a} held inhibited by its critical")

        # Recovery, worked out by hand: 10 more answered on A: 6 / (12 + 6) = 33.3% < 40% (A's warning):
        # both of A's alerts resolve. (Under the default's 30% A would stay critical.)
        before_recovery = len(hooks.notifications)
        resolved_early = hooks.matching(lambda n: any(a["status"] == "resolved" for a in about(n, queue_a)))
        assert not resolved_early, f"{queue_a} resolved before it recovered: {resolved_early}"
        now = time.time()
        await publish(stack, [e for i in range(10) for e in answered(f"{run}-a-rec-{i}", queue_a, now)])
        row_a = await eventually(lambda: served(queue_a, 12, 6), 90, f"the recovery of {queue_a} served")
        assert row_a["abandon_rate"] == pytest.approx(6 / 18)
        assert row_a["status"]["abandon_rate"] == "ok", row_a["status"]

        async def resolved() -> Notification | None:
            for notification in hooks.notifications[before_recovery:]:
                if notification.body.get("status") == "resolved" and about(notification, queue_a):
                    return notification
            return None

        done = await eventually(resolved, 90, f"a resolved notification for {queue_a}")
        assert done.receiver == "cx-oncall"
        [alert] = done.alerts
        assert alert["status"] == "resolved"
        assert alert["labels"]["severity"] == "critical" and alert["labels"]["scope"] == f"queue={queue_a}"
        assert alert["endsAt"] > alert["startsAt"]

        # Everything the receivers heard, start to end.
        assert not hooks.errors, hooks.errors
        for notification in hooks.notifications:
            assert queue_b not in json.dumps(notification.body), f"{queue_b} (0% abandoned) was notified: {notification.body}"
            for mentioned in about(notification, queue_a):
                assert mentioned["labels"]["severity"] == "critical", f"the inhibited warning was sent: {notification.body}"
                assert mentioned["labels"]["scope"] == f"queue={queue_a}", f"the default rule judged {queue_a}: {notification.body}"
        assert not hooks.matching(lambda n: n.receiver == "cx-chat" and "CxpulseAbandonRateHigh" in json.dumps(n.body))


def agent_event(agent: str, epoch_s: float, state: str, **extra: Any) -> dict[str, Any]:
    """agent.state_changed as a platform publishes it (streams/schemas/agent-event.v1.schema.json)."""
    return {"event_id": f"ag-{uuid.uuid4().hex}", "type": "agent.state_changed", "time": at(epoch_s), "agent_id": agent,
            "state": state, **extra}  # fmt: skip


async def test_contacts_waiting_with_no_agent_available_page_until_an_agent_is_free(tmp_path: Path) -> None:
    """Three queues, one caller waiting in each: S's two agents are on a contact and on a break, T has
    an agent available, U has never had an agent staffed (its platform sends no agent events). Only
    S is paged, after the rule's `for`, and resolved once S's agent is back from the break."""
    run = uuid.uuid4().hex[:6]
    short, free, unknown = f"short-{run}", f"free-{run}", f"unknown-{run}"
    document = {"staffing": {"unattended_for": f"{FOR_S}s", "runbook": "https://runbooks.example.com/cxpulse/staffing"}}
    async with alerting(tmp_path, "staffing-e2e", document, {}) as (stack, _, hooks):
        now = time.time()
        published = time.monotonic()
        await publish(
            stack,
            [
                agent_event(f"{run}-s1", now - 300, "on_contact", queues=[short], contact_id=f"{run}-busy", queue=short),
                agent_event(f"{run}-s2", now - 200, "aux", reason="break", queues=[short]),
                agent_event(f"{run}-t1", now - 100, "available", queues=[free]),
                *(contact_event("offered", f"{run}-{queue}", now - 5, queue) for queue in (short, free, unknown)),
            ],
        )

        async def row(queue: str, done: Any) -> dict[str, Any] | None:
            items = (await stack.get_json("/v1/kpis", {"queue": queue, "channel": "voice"}))["items"]
            return items[0] if items and done(items[0]) else None

        for queue, staffed, available in ((short, 2, 0), (free, 1, 1), (unknown, 0, 0)):
            served = await eventually(
                lambda: row(queue, lambda r: r["waiting_now"] == 1 and r["agents_staffed"] == staffed), 90, f"{queue} served"
            )
            assert served["agents_available"] == available

        def about_staffing(n: Notification) -> list[dict[str, Any]]:
            return [a for a in n.alerts if a["labels"]["alertname"] == "CxpulseContactsWaitingNoAgent"]

        async def paged() -> Notification | None:
            found = hooks.matching(lambda n: n.body.get("status") == "firing" and bool(about_staffing(n)))
            return found[0] if found else None

        page = await eventually(paged, 90, f"a page for {short}")
        assert page.received - published >= FOR_S, f"paged {page.received - published:.1f} s after the events"
        assert page.receiver == "cx-oncall"
        [alert] = page.alerts
        assert alert["labels"] == {
            "alertname": "CxpulseContactsWaitingNoAgent", "severity": "critical", "team": "contact-center",
            "queue": short, "channel": "voice", "job": "cxpulse-api", "instance": f"127.0.0.1:{stack.api_port}",
        }  # fmt: skip
        assert alert["annotations"] == {
            "summary": f"1 contacts waiting in {short}/voice and no agent available for {FOR_S}s",
            "value": "1",
            "runbook_url": "https://runbooks.example.com/cxpulse/staffing",
        }

        # s2 is back from the break: an agent is available, the page resolves.
        before = len(hooks.notifications)
        await publish(stack, [agent_event(f"{run}-s2", time.time(), "available")])
        await eventually(lambda: row(short, lambda r: r["agents_available"] == 1), 90, f"{short}'s agent available")

        async def resolved() -> Notification | None:
            for notification in hooks.notifications[before:]:
                if notification.body.get("status") == "resolved" and about_staffing(notification):
                    return notification
            return None

        done = await eventually(resolved, 90, f"the page for {short} resolved")
        assert [a["labels"]["queue"] for a in done.alerts] == [short]
        assert not hooks.errors, hooks.errors
        for notification in hooks.notifications:
            for alert in about_staffing(notification):
                assert alert["labels"]["queue"] == short, f"{alert['labels']['queue']} was paged: {notification.body}"
