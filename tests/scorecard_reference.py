"""A brute-force reading of the ticket and account definitions (docs/kpi-definitions.md), sharing no
code with kpis/: the tests hold the folds to it on shuffled, duplicated events.

Everything is recomputed from the whole event list at once: events deduplicated by id, sorted by
time, each ticket or customer walked from its first event, results per (queue, channel, slot start).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any


def _unique_sorted(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id = {event["event_id"]: event for event in events}
    return sorted(by_id.values(), key=lambda e: (e["time"], e["event_id"]))


def tickets(events: list[dict[str, Any]], size: int) -> tuple[dict[tuple[str, str, int], Counter[str]], Counter[tuple[str, str]]]:
    """Counters per (queue, channel, slot start) and the open tickets per (queue, channel) at the end.
    Counter keys: created, resolved, reopened, complaints, resolution_sum, resolutions, first_response_sum,
    first_responses, category:<name>."""
    slots: dict[tuple[str, str, int], Counter[str]] = defaultdict(Counter)
    backlog: Counter[tuple[str, str]] = Counter()
    per_ticket: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in _unique_sorted(events):
        per_ticket[event["ticket_id"]].append(event)
    for steps in per_ticket.values():
        def first_given(name: str) -> Any:
            return next((s[name] for s in steps if s.get(name) is not None), None)

        queue, channel, category, complaint = first_given("queue"), first_given("channel"), first_given("category"), first_given("complaint")
        created = None
        state = "new"  # new -> open -> resolved -> open ...
        responded = False
        for step in steps:
            queue = step.get("queue") or queue
            channel = step.get("channel") or channel
            category = step.get("category") or category
            complaint = complaint if step.get("complaint") is None else step["complaint"]
            at = step["time"]
            slot = slots[(queue or "unknown", channel or "unknown", int(at // size) * size)]
            kind = step["type"]
            if kind == "ticket.created" and created is None:
                created, state = at, "open"
                slot["created"] += 1
                slot["complaints"] += 1 if complaint else 0
                slot[f"category:{category or 'unknown'}"] += 1
            elif kind == "ticket.first_response" and not responded:
                responded = True
                if created is not None:
                    slot["first_response_sum"] += at - created
                    slot["first_responses"] += 1
            elif kind == "ticket.resolved" and (state == "open" or (state == "new" and created is None)):
                state = "resolved"
                slot["resolved"] += 1
                if created is not None:
                    slot["resolution_sum"] += at - created
                    slot["resolutions"] += 1
            elif kind == "ticket.reopened" and state == "resolved":
                state = "open"
                slot["reopened"] += 1
        if state == "open":
            backlog[(queue or "unknown", channel or "unknown")] += 1
    return {key: +counts for key, counts in slots.items() if +counts}, +backlog


def accounts(events: list[dict[str, Any]], size: int) -> dict[int, Counter[str]]:
    """Counters per slot start: joined, churned, purchases, revenue (in cents, to compare exactly)."""
    slots: dict[int, Counter[str]] = defaultdict(Counter)
    joined: dict[str, float] = {}
    churned: dict[str, float] = {}
    for event in _unique_sorted(events):
        start = int(event["time"] // size) * size
        customer = event["customer_id"]
        if event["type"] == "customer.joined" and customer not in joined:
            joined[customer] = event["time"]
            slots[start]["joined"] += 1
        elif event["type"] == "customer.churned" and customer not in churned:
            churned[customer] = event["time"]
            slots[start]["churned"] += 1
        elif event["type"] == "customer.purchase":
            slots[start]["purchases"] += 1
            slots[start]["revenue_cents"] += round(event["amount"] * 100)
    return dict(slots)


def active_at(events: list[dict[str, Any]], at: float) -> int:
    """Customers who joined before ``at`` and did not churn before it (earliest join and churn each)."""
    joined: dict[str, float] = {}
    churned: dict[str, float] = {}
    for event in _unique_sorted(events):
        table = joined if event["type"] == "customer.joined" else churned if event["type"] == "customer.churned" else None
        if table is not None:
            table.setdefault(event["customer_id"], event["time"])
    return sum(1 for customer, time in joined.items() if time < at and not churned.get(customer, at) < at)
