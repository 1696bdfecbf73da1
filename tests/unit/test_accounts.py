"""Customers: churn, retention, revenue per customer and CLV worked by hand through the fold and the
read side; the fold against the brute-force reference on shuffled, duplicated events; customers
leave state by the horizon."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, timezone
from typing import Any

import pytest

from kpis.accounts import AccountBoard, decode_events
from kpis.book import ALL, KpiBook
from kpis.event import AccountEvent
from kpis.rules import AccountRules, QueueRules
from kpis.state import INTERVAL, MINUTE, BucketKey
from kpis.targets import over_days
from kpis.windows import HistoryInterval, Span
from streams import topics
from streams.contract import validate
from tests import scorecard_reference

DAY = 86400
MARCH_1 = datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()


def document(event_id: str, kind: str, at: float, customer: str, **given: Any) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(at, tz=timezone.utc).isoformat()
    return {"event_id": event_id, "type": kind, "time": stamp, "customer_id": customer, **given}


def decoded(doc: dict[str, Any]) -> AccountEvent:
    event = validate(doc, topics.ACCOUNTS)
    assert isinstance(event, AccountEvent)
    return event


def publish(board: AccountBoard, book: KpiBook, docs: list[dict[str, Any]], every: int = 50) -> None:
    """Fold the events and hand what changed to the book every ``every`` events, as the worker's
    writes and the API's reader do."""
    for index, doc in enumerate(docs):
        board.apply(decoded(doc))
        if index % every == every - 1 or index == len(docs) - 1:
            write(board, book)


def write(board: AccountBoard, book: KpiBook) -> None:
    slots, anchor, _ = board.take_changes()
    for (size, start), pairs in slots.items():
        for (queue, channel), stats in pairs.items():
            book.put_customers(0, BucketKey(size, queue, channel, start), stats)
    if anchor is not None:
        book.put_customer_anchor(0, anchor)


def company_row(book: KpiBook, first: date, interval: HistoryInterval) -> dict[str, Any]:
    rows = [row for row in book.history(first, first, interval) if (row["queue"], row["channel"]) == (ALL, ALL)]
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize("every", [50, 100_000])
def test_a_month_with_1000_customers_at_its_start_and_50_churned(every: int) -> None:
    """1,000 customers join in February (one every 40 minutes), 50 of them churn during March, and 20
    join in March (active at no month start, so not in its denominator): churn 50 / 1,000 = 5 %,
    retention 95 %. Events arrive in time order, written as they come or all in one write (a replay
    read in one go: the joins are weeks behind the newest event by the time it is written)."""
    book = KpiBook(lambda queue: QueueRules())
    docs = [document(f"j{n}", "customer.joined", MARCH_1 - 28 * DAY + n * 2400, f"c{n}") for n in range(1000)]
    docs += [document(f"x{n}", "customer.churned", MARCH_1 + 3600 + n * 50_000, f"c{n * 20}") for n in range(50)]
    docs += [document(f"k{n}", "customer.joined", MARCH_1 + 7200 + n * 100_000, f"new{n}") for n in range(20)]
    docs.sort(key=lambda d: d["time"])
    publish(AccountBoard(), book, docs, every)
    month = company_row(book, date(2026, 3, 1), HistoryInterval.MONTH)
    assert (month["customers_at_start"], month["customers_churned"], month["customers_joined"]) == (1000, 50, 20)
    assert month["churn_rate"] == pytest.approx(0.05) and month["retention_rate"] == pytest.approx(0.95)
    april = company_row(book, date(2026, 4, 1), HistoryInterval.MONTH)
    assert april["customers_at_start"] == 1000 - 50 + 20
    week = company_row(book, date(2026, 3, 2), HistoryInterval.WEEK)  # Monday 2 March: one churn before it
    assert week["customers_at_start"] == 999
    # What targets judge (a period to date from daily counters): the same 5 % over March's days.
    days = [counters for _, counters in book.daily(date(2026, 3, 1), date(2026, 3, 31), ALL, ALL)]
    assert over_days("churn_rate", days) == pytest.approx(0.05)
    assert over_days("customers_at_start", days) == 1000


def test_clv_with_a_configured_lifespan_and_with_the_lifespan_taken_from_churn() -> None:
    """One day, 365 customers at its start, 4 purchases of 100: average purchase 100, purchases per
    customer per year 4 / 365 x 365 = 4. Lifespan configured 5 years: CLV 100 x 4 x 5 = 2,000. Not
    configured, and 1 of the 365 churning that day: yearly churn 1/365 x 365 = 100 %, lifespan 1 year,
    CLV 100 x 4 x 1 = 400. Revenue per customer 400 / 365."""
    day = MARCH_1 + 10 * DAY
    docs = [document(f"j{n}", "customer.joined", day - DAY + n * 60, f"c{n}") for n in range(365)]
    docs += [document(f"p{n}", "customer.purchase", day + 3600 * (n + 1), f"c{n}", amount=100, currency="EUR") for n in range(4)]
    docs.append(document("x", "customer.churned", day + 7 * 3600, "c9"))
    for lifespan, clv in ((5, 2000), (None, 400)):
        book = KpiBook(lambda queue: QueueRules(), accounts=AccountRules(lifespan_years=lifespan))
        publish(AccountBoard(), book, docs)
        row = company_row(book, date(2026, 3, 11), HistoryInterval.DAY)
        assert (row["customers_at_start"], row["purchases"], row["revenue"]) == (365, 4, 400)
        assert row["clv"] == pytest.approx(clv)
        assert row["revenue_per_customer"] == pytest.approx(400 / 365)


def test_company_wide_kpis_are_null_in_a_queue_row() -> None:
    book = KpiBook(lambda queue: QueueRules())
    book.put(0, BucketKey(INTERVAL, "sales", "voice", int(MARCH_1)), None)
    publish(AccountBoard(), book, [document("j", "customer.joined", MARCH_1 + 60, "c1")])
    rows = book.history(date(2026, 3, 1), date(2026, 3, 1), HistoryInterval.DAY)
    company = [row for row in rows if row["queue"] == ALL and row["channel"] == ALL]
    assert company and company[0]["customers_joined"] == 1
    assert all(row["customers_joined"] is None for row in rows if (row["queue"], row["channel"]) != (ALL, ALL))


def random_accounts(seed: int) -> list[dict[str, Any]]:
    """Eighty customers over 24 hours: joins, churns (some before their join), purchases."""
    rng = random.Random(seed)
    start = MARCH_1 + 5 * DAY
    docs = []
    for n in range(80):
        customer = f"c{n}"
        joined = start + rng.randrange(20 * 3600)
        if rng.random() < 0.9:
            docs.append(document(f"{customer}-j", "customer.joined", joined, customer))
        if rng.random() < 0.3:
            docs.append(document(f"{customer}-x", "customer.churned", joined + rng.randrange(-3600, 4 * 3600), customer))
        for p in range(rng.randrange(3)):
            amount = rng.randrange(100, 20_000) / 100
            docs.append(document(f"{customer}-p{p}", "customer.purchase", joined + rng.randrange(4 * 3600), customer, amount=amount))
    return docs


def test_the_fold_matches_the_reference_on_shuffled_duplicated_events_across_a_restart() -> None:
    docs = random_accounts(7)
    arrival = docs + random.Random(3).sample(docs, len(docs) // 3)
    random.Random(4).shuffle(arrival)
    board, book, persisted = AccountBoard(), KpiBook(lambda queue: QueueRules()), {}
    half = len(arrival) // 2
    for index, doc in enumerate(arrival):
        board.apply(decoded(doc))
        if index % 40 == 0 or index == half:
            slots, anchor, events = board.take_changes()
            persisted.update(events)
            for (size, start), pairs in slots.items():
                for stats in pairs.values():
                    book.put_customers(0, BucketKey(size, ALL, ALL, start), stats)
            if anchor is not None:
                book.put_customer_anchor(0, anchor)
        if index == half:
            board = AccountBoard()
            for customer, rows in persisted.items():
                if rows is not None:
                    board.restore(decode_events(customer, rows))
            board.buckets()
    write(board, book)
    plain = [{**d, "time": datetime.fromisoformat(d["time"]).timestamp()} for d in docs]
    for size in (MINUTE, INTERVAL):
        expected = scorecard_reference.accounts(plain, size)
        got = {}
        for start in {*expected, *range(int(MARCH_1 + 5 * DAY), int(MARCH_1 + 7 * DAY), size)}:
            row = book.totals(Span(start, start + size, size))[ALL, ALL]
            counts = Counter({"joined": row["customers_joined"], "churned": row["customers_churned"],
                              "purchases": row["purchases"], "revenue_cents": round(row["revenue"] * 100)})  # fmt: skip
            if +counts:
                got[start] = +counts
            assert row["customers_at_start"] == scorecard_reference.active_at(plain, start), start
        assert got == {start: +counts for start, counts in expected.items()}


def test_customers_leave_state_by_the_horizon() -> None:
    """Once the settled line (36 h behind the newest event) has passed them, a churned customer leaves
    state, an active one keeps its join only, and purchases go; the anchor counts the active ones."""
    board = AccountBoard()
    t = MARCH_1
    for doc in [
        document("a-j", "customer.joined", t, "a"), document("a-p", "customer.purchase", t + 60, "a", amount=5),
        document("b-j", "customer.joined", t, "b"), document("b-x", "customer.churned", t + 120, "b"),
    ]:  # fmt: skip
        board.apply(decoded(doc))
    assert board.tracked == 2
    board.apply(decoded(document("c-j", "customer.joined", t + 3 * DAY, "c")))
    _, anchor, events = board.take_changes()
    assert board.tracked == 2 and events["b"] is None
    assert [row[0] for row in events["a"] or []] == ["a-j"]
    assert anchor is not None and anchor.active == 1  # a: joined before the line, never churned
