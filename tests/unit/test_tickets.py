"""Tickets: hand-worked resolution times, and the fold against the brute-force reference on shuffled,
duplicated events, across writes and a restart; tickets leave state by their horizon."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from kpis.buckets import BucketStats
from kpis.catalog import Counters, compute
from kpis.event import TicketEvent
from kpis.state import INTERVAL, MINUTE, BucketKey
from kpis.tickets import TicketBoard, decode_events
from streams import topics
from streams.contract import validate
from tests import scorecard_reference

T0 = 1_800_000_000  # a 15-minute boundary


def document(event_id: str, kind: str, at: float, ticket_id: str, **given: Any) -> dict[str, Any]:
    """A ticket event as the contract documents it (RFC 3339 time)."""
    stamp = datetime.fromtimestamp(at, tz=timezone.utc).isoformat()
    return {"event_id": event_id, "type": kind, "time": stamp, "ticket_id": ticket_id, **given}


def decoded(doc: dict[str, Any]) -> TicketEvent:
    event = validate(doc, topics.TICKETS)
    assert isinstance(event, TicketEvent)
    return event


def for_reference(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "time": datetime.fromisoformat(doc["time"]).timestamp()}


def fold(docs: list[dict[str, Any]], board: TicketBoard | None = None) -> TicketBoard:
    board = board or TicketBoard()
    for doc in docs:
        board.apply(decoded(doc))
    return board


def test_resolution_average_and_p90_on_a_handful_of_tickets() -> None:
    """Five billing emails created at T0, resolved after 1, 2, 3, 4 and 10 hours; one of them reopened
    and resolved again at 12 h counts its second resolution from creation too (12 h). Worked by hand:
    six resolutions, mean (1+2+3+4+10+12)/6 = 32/6 h = 19,200 s; p90 by nearest rank: the 6th of 6
    sorted (ceil(0.9 x 6) = 6) = 12 h = 43,200 s. First responses after 10 and 20 minutes: mean 900 s."""
    docs = []
    for number, hours in enumerate((1, 2, 3, 4, 10)):
        ticket = f"T{number}"
        docs.append(document(f"{ticket}-c", "ticket.created", T0, ticket, queue="billing", channel="email", category="refund"))
        docs.append(document(f"{ticket}-r", "ticket.resolved", T0 + hours * 3600, ticket))
    docs += [
        document("T0-o", "ticket.reopened", T0 + 5 * 3600, "T0"),
        document("T0-r2", "ticket.resolved", T0 + 12 * 3600, "T0"),
        document("T1-f", "ticket.first_response", T0 + 600, "T1"),
        document("T2-f", "ticket.first_response", T0 + 1200, "T2"),
    ]
    board = fold(docs)
    total = BucketStats.merged(stats for key, stats in board.buckets().items() if key.size == INTERVAL)
    values = compute(Counters(total, 0, 0))
    assert (values["tickets_created"], values["tickets_resolved"], values["tickets_reopened"]) == (5, 6, 1)
    assert values["resolution_avg_s"] == 19_200
    assert values["resolution_p90_s"] == 43_200
    assert values["first_response_avg_s"] == 900
    assert total.ticket_categories == {"refund": 5}
    assert board.backlog() == {}


def test_backlog_and_complaints_carry_forward_from_creation() -> None:
    docs = [
        document("a-c", "ticket.created", T0, "A", customer_id="c1", queue="sales", channel="social", complaint=True),
        document("b-c", "ticket.created", T0 + 60, "B", queue="sales", channel="web_form", complaint=False),
        document("b-r", "ticket.resolved", T0 + 120, "B"),
        document("b-o", "ticket.reopened", T0 + 180, "B"),
    ]
    board = fold(docs)
    assert board.backlog() == {("sales", "social"): 1, ("sales", "web_form"): 1}
    complaints = sum(stats.complaints for key, stats in board.buckets().items() if key.size == MINUTE)
    assert complaints == 1
    reopened = board.buckets()[BucketKey(MINUTE, "sales", "web_form", T0 + 180)]
    assert reopened.tickets_reopened == 1  # booked where the ticket was created: its queue and channel carried forward


def random_tickets(seed: int) -> list[dict[str, Any]]:
    """Two hundred tickets over 20 hours (inside the lateness horizon), some without customer, some
    reopened, some answered; every ticket's steps in a plausible order."""
    rng = random.Random(seed)
    docs = []
    for number in range(200):
        ticket, at = f"T{number}", T0 + rng.randrange(12 * 3600)  # whole seconds: sums compare exactly
        given = {"queue": rng.choice(["billing", "sales"]), "channel": rng.choice(["email", "web_form", "social"]),
                 "category": rng.choice(["refund", "delivery", None]), "complaint": rng.random() < 0.2}  # fmt: skip
        if rng.random() < 0.7:
            given["customer_id"] = f"cust{number % 50}"
        docs.append(document(f"{ticket}-c", "ticket.created", at, ticket, **given))
        if rng.random() < 0.8:
            docs.append(document(f"{ticket}-f", "ticket.first_response", at + rng.randrange(60, 3600), ticket))
        step = at
        for round_ in range(rng.choice([0, 1, 1, 2])):
            step += rng.randrange(600, 3 * 3600)
            docs.append(document(f"{ticket}-r{round_}", "ticket.resolved", step, ticket))
            if rng.random() < 0.3:
                step += rng.randrange(60, 3600)
                docs.append(document(f"{ticket}-o{round_}", "ticket.reopened", step, ticket))
    return docs


def as_counters(stats: BucketStats) -> Counter[str]:
    counts: Counter[str] = Counter({
        "created": stats.tickets_created, "resolved": stats.tickets_resolved, "reopened": stats.tickets_reopened,
        "complaints": stats.complaints, "resolution_sum": round(stats.resolution_sum_s), "resolutions": stats.resolutions_timed,
        "first_response_sum": round(stats.first_response_sum_s), "first_responses": stats.first_responses,
    })  # fmt: skip
    counts.update({f"category:{name}": count for name, count in stats.ticket_categories.items()})
    return +counts


def expected(docs: list[dict[str, Any]], size: int) -> dict[tuple[str, str, int], Counter[str]]:
    slots, _ = scorecard_reference.tickets([for_reference(d) for d in docs], size)
    return {key: Counter({k: round(v) for k, v in c.items()}) for key, c in slots.items()}


def written(slots_seen: dict[BucketKey, BucketStats], size: int) -> dict[tuple[str, str, int], Counter[str]]:
    return {(k.queue, k.channel, k.start): as_counters(v) for k, v in slots_seen.items() if k.size == size and as_counters(v)}


def test_the_fold_matches_the_reference_on_shuffled_duplicated_events_across_writes_and_a_restart() -> None:
    docs = random_tickets(16)
    arrival = docs + random.Random(1).sample(docs, len(docs) // 4)  # a quarter delivered twice
    random.Random(2).shuffle(arrival)
    board, seen, persisted = TicketBoard(), {}, {}
    for index, doc in enumerate(arrival):
        board.apply(decoded(doc))
        if index % 97 == 0 or index == len(arrival) // 2:
            slots, _, events = board.take_changes()
            seen.update({BucketKey(size, q, c, start): s for (size, start), pairs in slots.items() for (q, c), s in pairs.items()})
            persisted.update(events)
        if index == len(arrival) // 2:  # a restart: a new board from what the table holds, then the rest
            board = TicketBoard()
            for ticket_id, rows in persisted.items():
                if rows is not None:
                    board.restore(decode_events(ticket_id, rows))
            board.buckets()  # as the worker does: recomputed before new events come
    slots, _, _ = board.take_changes()
    seen.update({BucketKey(size, q, c, start): s for (size, start), pairs in slots.items() for (q, c), s in pairs.items()})
    for size in (MINUTE, INTERVAL):
        assert written(seen, size) == expected(docs, size)
    _, backlog = scorecard_reference.tickets([for_reference(d) for d in docs], INTERVAL)
    assert board.backlog() == dict(backlog)


def test_tickets_leave_state_by_their_horizon() -> None:
    """A ticket whose last event is more than tickets.horizon_days behind the newest one is forgotten
    (an open one leaves the backlog) at the next daily look; one touched since stays."""
    board = TicketBoard(keep_days=2)
    day = 86400
    fold([
        document("old-c", "ticket.created", T0, "old", queue="q", channel="email"),
        document("kept-c", "ticket.created", T0, "kept", queue="q", channel="email"),
        document("kept-f", "ticket.first_response", T0 + 2 * day, "kept"),
    ], board)  # fmt: skip
    assert board.tracked == 2 and board.backlog() == {("q", "email"): 2}
    # Newest T0 + 3 d 1 h: the line (36 h behind, T0 + 37 h) is a day past the first look (T0 + 12 h);
    # forgotten: what is 2 days behind the newest and before the line, so "old" (T0), not "kept" (T0 + 2 d).
    fold([document("new-c", "ticket.created", T0 + 3 * day + 3600, "new", queue="q", channel="email")], board)
    assert board.backlog() == {("q", "email"): 2} and board.tracked == 2
    _, _, events = board.take_changes()
    assert events["old"] is None  # its state-table entry is deleted
