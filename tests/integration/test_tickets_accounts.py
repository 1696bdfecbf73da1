"""Tickets and accounts on a real stack: contract events published with a plain producer, read back
from /v1/kpis and /v1/history (day, week, month) and compared with hand-worked numbers."""

from __future__ import annotations

import json
import signal
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest

from tests.events import contact_event
from tests.integration.stack import Stack, eventually, produce

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[Stack]:
    """A stack of its own: account KPIs are company-wide, so no other test's events may mix in."""
    running = Stack("tickets-accounts")
    await running.start()
    yield running
    await running.stop()


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, tz=timezone.utc).isoformat()


def account(event_id: str, kind: str, at: float, customer: str, **given: Any) -> tuple[str, bytes, bytes]:
    event = {"event_id": event_id, "type": kind, "time": stamp(at), "customer_id": customer, **given}
    return ("cx.accounts", customer.encode(), json.dumps(event).encode())


def ticket(event_id: str, kind: str, at: float, ticket_id: str, **given: Any) -> tuple[str, bytes, bytes]:
    event = {"event_id": event_id, "type": kind, "time": stamp(at), "ticket_id": ticket_id, **given}
    key = given.get("customer_id") or ticket_id
    return ("cx.tickets", key.encode(), json.dumps(event).encode())


def midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()


async def test_tickets_and_customers_by_window_day_week_and_month(stack: Stack) -> None:
    """Yesterday (UTC, the default rules' day): 20 customers active at its start (they joined before
    the week and the month holding it began), 2 churn and 4 purchases of 50 EUR are made (one more in
    USD is dead-lettered). By hand, for the day, its week and its month alike: churn 2 / 20 = 10 %,
    retention 90 %, revenue 200, revenue per customer 10, CLV with the lifespan from churn = revenue
    / churned = 100 (average 50 x purchases per customer per year x 1 / yearly churn).

    In the last hour, queue Q on email: ticket A created 40 min ago, first response 5 min later,
    resolved 20 min after creation; B created 30 min ago (a complaint) resolved 25 min after; C open.
    By hand: 3 created, 2 resolved, resolution mean (1200 + 1500) / 2 = 1350 s, p90 1500 s, first
    response 300 s, backlog 1, 1 complaint. Yesterday, 2 more tickets of Q were created, one resolved."""
    queue = f"tk-{uuid.uuid4().hex[:8]}"
    now = time.time()
    yesterday = datetime.fromtimestamp(now, tz=timezone.utc).date() - timedelta(days=1)
    day_start = midnight(yesterday)
    week_start = midnight(yesterday - timedelta(days=yesterday.weekday()))
    month_start = midnight(yesterday.replace(day=1))
    joined = min(week_start, month_start) - 3600
    records = [account(f"j{n}", "customer.joined", joined + n, f"cust-{n}") for n in range(20)]
    records += [
        ticket("y1-c", "ticket.created", day_start + 3600, "Y1", queue=queue, channel="email", category="billing"),
        ticket("y2-c", "ticket.created", day_start + 7200, "Y2", queue=queue, channel="email", category="billing"),
        ticket("y1-r", "ticket.resolved", day_start + 3 * 3600, "Y1"),
        account("x1", "customer.churned", day_start + 3600, "cust-1"),
        account("x2", "customer.churned", day_start + 2 * 3600, "cust-2"),
        *(account(f"p{n}", "customer.purchase", day_start + (3 + n) * 3600, f"cust-{n + 5}", amount=50, currency="EUR") for n in range(4)),
        account("p-usd", "customer.purchase", day_start + 8 * 3600, "cust-9", amount=70, currency="USD"),
        account("x2", "customer.churned", day_start + 2 * 3600, "cust-2"),  # delivered twice
        ticket("a-c", "ticket.created", now - 2400, "A", customer_id="cust-3", queue=queue, channel="email", category="billing"),
        ticket("b-c", "ticket.created", now - 1800, "B", queue=queue, channel="email", category="delivery", complaint=True),
        ticket("a-f", "ticket.first_response", now - 2100, "A", customer_id="cust-3"),
        ticket("c-c", "ticket.created", now - 900, "C", queue=queue, channel="email"),
        ticket("b-r", "ticket.resolved", now - 300, "B"),
        ticket("a-r", "ticket.resolved", now - 1200, "A", customer_id="cust-3"),
        ticket("a-r", "ticket.resolved", now - 1200, "A", customer_id="cust-3"),  # delivered twice
    ]
    await produce(stack.bootstrap, records)

    async def tickets_counted() -> dict[str, Any] | None:
        body = await stack.get_json("/v1/kpis", {"queue": queue, "channel": "email", "window": "60m"})
        rows = body["items"]
        return rows[0] if rows and rows[0]["tickets_resolved"] == 2 and rows[0]["tickets_backlog"] == 2 else None

    # Backlog 2: C, and yesterday's Y2 (still open).
    row = await eventually(tickets_counted, 90, f"the tickets of {queue} counted")
    assert (row["tickets_created"], row["tickets_resolved"], row["complaints"]) == (3, 2, 1)
    assert row["resolution_avg_s"] == pytest.approx(1350)
    assert row["resolution_p90_s"] == pytest.approx(1500)
    assert row["first_response_avg_s"] == pytest.approx(300)
    assert row["tickets_by_category"] == {"billing": 1, "delivery": 1, "unknown": 1}
    assert row["customers_churned"] is None  # company-wide: only in the all-queues row

    async def period(interval: str) -> dict[str, Any] | None:
        body = await stack.get_json(
            "/v1/history", {"from": yesterday.isoformat(), "to": yesterday.isoformat(), "interval": interval, "queue": "*", "channel": "*"}
        )
        rows = [r for r in body["items"] if (r["queue"], r["channel"]) == ("*", "*")]
        return rows[0] if rows and rows[0]["customers_churned"] == 2 and rows[0]["purchases"] == 4 else None

    for interval in ("1d", "1w", "1mo"):
        row = await eventually(lambda: period(interval), 60, f"yesterday's {interval} customers")
        assert (row["customers_at_start"], row["customers_churned"], row["revenue"]) == (20, 2, 200), interval
        assert row["churn_rate"] == pytest.approx(0.1) and row["retention_rate"] == pytest.approx(0.9), interval
        assert row["revenue_per_customer"] == pytest.approx(10) and row["clv"] == pytest.approx(100), interval

    history = await stack.get_json(
        "/v1/history", {"from": yesterday.isoformat(), "to": yesterday.isoformat(), "interval": "1d", "queue": queue, "channel": "email"}
    )
    (day,) = history["items"]
    assert (day["tickets_created"], day["tickets_resolved"], day["resolution_avg_s"]) == (2, 1, 7200)
    assert day["tickets_by_category"] == {"billing": 2}
    assert day["customers_churned"] is None

    metrics = (await stack.get("/metrics")).text
    assert 'cxpulse_open_tickets{channel="email",queue="' + queue + '"} 2.0' in metrics

    async def currency_dead_letter() -> bool:
        async with httpx.AsyncClient(timeout=30) as client:
            text = (await client.get(stack.worker_metrics)).text
        return 'cxpulse_events_deadlettered_total{reason="currency",topic="cx.accounts"} 1.0' in text

    await eventually(currency_dead_letter, 30, "the USD purchase dead-lettered with reason currency")


async def test_a_restart_keeps_open_tickets_and_customers(tmp_path: Path) -> None:
    """Ctrl-C and start again on the same data directory: a ticket created before the stop and resolved
    after it is timed from its creation (40 min = 2,400 s), which only the worker's restored state
    holds; customers who joined before the stop are still there to churn after it."""
    queue = f"rs-{uuid.uuid4().hex[:8]}"
    now = time.time()
    data_dir = tmp_path / "data"
    first = Stack("tickets-accounts-restart", data_dir=data_dir)
    await first.start()
    try:
        await produce(first.bootstrap, [
            ticket("r-c", "ticket.created", now - 3000, "R", queue=queue, channel="email"),
            *(account(f"rj{n}", "customer.joined", now - 2900 + n, f"rc-{n}") for n in range(10)),
        ])  # fmt: skip

        async def before() -> dict[str, Any] | None:
            rows = (await first.get_json("/v1/kpis", {"queue": queue, "channel": "email", "window": "60m"}))["items"]
            return rows[0] if rows and rows[0]["tickets_backlog"] == 1 else None

        await eventually(before, 90, "the ticket open before the stop")
    finally:
        assert await first.stop(signal.SIGINT) == 0

    again = Stack("tickets-accounts-restart", data_dir=data_dir)
    await again.start()
    try:
        await produce(again.bootstrap, [
            ticket("r-r", "ticket.resolved", now - 600, "R"),
            account("rx", "customer.churned", now - 300, "rc-4"),
        ])  # fmt: skip

        async def after() -> dict[str, Any] | None:
            rows = (await again.get_json("/v1/kpis", {"queue": queue, "channel": "email", "window": "60m"}))["items"]
            return rows[0] if rows and rows[0]["tickets_resolved"] == 1 else None

        row = await eventually(after, 90, "the ticket resolved after the restart")
        assert (row["tickets_created"], row["tickets_backlog"], row["resolution_avg_s"]) == (1, 0, pytest.approx(2400))

        async def company() -> dict[str, Any] | None:
            rows = (await again.get_json("/v1/kpis", {"queue": "*", "channel": "*", "window": "60m"}))["items"]
            return rows[0] if rows and rows[0]["customers_churned"] == 1 else None

        row = await eventually(company, 60, "the churn after the restart")
        assert row["customers_joined"] == 10
    finally:
        await again.stop(signal.SIGINT)


async def test_cost_per_contact_of_a_configured_queue(tmp_path: Path) -> None:
    """Queue Q with hourly_cost 30 and fixed_cost_per_day 96. Yesterday one agent was available from
    09:00 to 17:00 (28,800 s staffed) and 4 contacts were handled: (28,800 x 30 / 3,600 + 96) / 4 =
    (240 + 96) / 4 = 84 per contact. A queue without hourly_cost has none (null)."""
    queue, other = f"cost-{uuid.uuid4().hex[:8]}", f"free-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "cxpulse.yaml"
    config.write_text(f"queues:\n  {queue}:\n    hourly_cost: 30\n    fixed_cost_per_day: 96\n")
    day = datetime.now(timezone.utc).date() - timedelta(days=1)
    start = midnight(day)
    agent = f"{queue}-a1"

    def agent_event(event_id: str, at: float, state: str, **given: Any) -> tuple[str, bytes, bytes]:
        event = {"event_id": event_id, "type": "agent.state_changed", "time": stamp(at), "agent_id": agent, "state": state, **given}
        return ("cx.agents", agent.encode(), json.dumps(event).encode())

    records = [agent_event("a-in", start + 9 * 3600, "available", queues=[queue], channel="voice")]
    for q in (queue, other):
        for n in range(4):
            contact, at = f"{q}-c{n}", start + 10 * 3600 + n * 600
            for event in (
                contact_event("offered", contact, at, q), contact_event("answered", contact, at + 20, q, agent_id=agent),
                contact_event("ended", contact, at + 200, q, agent_id=agent, talk_s=180),
            ):  # fmt: skip
                records.append(("cx.calls", event["customer_id"].encode(), json.dumps(event).encode()))
    records.append(agent_event("a-out", start + 17 * 3600, "logged_out"))
    stack = Stack("tickets-accounts-cost", config=config)
    await stack.start()
    try:
        await produce(stack.bootstrap, records)

        async def costed() -> dict[str, Any] | None:
            params = {"from": day.isoformat(), "to": day.isoformat(), "interval": "1d", "queue": queue, "channel": "voice"}
            rows = (await stack.get_json("/v1/history", params))["items"]
            return rows[0] if rows and rows[0]["handled"] == 4 and rows[0]["staffed_s"] == 28_800 else None

        row = await eventually(costed, 90, f"the day of {queue} with its staffed time")
        assert row["cost_per_contact"] == pytest.approx(84)
        params = {"from": day.isoformat(), "to": day.isoformat(), "interval": "1d", "queue": other, "channel": "voice"}
        (free,) = (await stack.get_json("/v1/history", params))["items"]
        assert free["handled"] == 4 and free["cost_per_contact"] is None
    finally:
        await stack.stop(signal.SIGINT)
