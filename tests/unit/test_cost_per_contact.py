"""Cost per contact worked by hand: staffed time at the queue's hourly cost plus its fixed cost of
the period, over handled contacts; null where a queue's hourly cost is not configured."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from kpis.book import ALL, KpiBook
from kpis.buckets import BucketStats
from kpis.rules import QueueRules
from kpis.state import INTERVAL, BucketKey
from kpis.targets import over_days
from kpis.windows import HistoryInterval

DAY_START = int(datetime(2026, 3, 10, tzinfo=timezone.utc).timestamp())
RULES = {"sales": QueueRules(hourly_cost=30, fixed_cost_per_day=96), "care": QueueRules()}


def book_with_a_day() -> KpiBook:
    """Sales: two agents staffed 8 hours each on voice (57,600 s), 100 voice and 44 chat contacts
    handled. Care: 10 contacts, 3,600 s staffed, no hourly cost configured."""
    book = KpiBook(lambda queue: RULES.get(queue, QueueRules()))
    book.put(-1, BucketKey(INTERVAL, "sales", "voice", DAY_START + 9 * 3600), BucketStats(staffed_s=57_600))
    book.put(0, BucketKey(INTERVAL, "sales", "voice", DAY_START + 10 * 3600), BucketStats(handled=100))
    book.put(0, BucketKey(INTERVAL, "sales", "chat", DAY_START + 10 * 3600), BucketStats(handled=44))
    book.put(0, BucketKey(INTERVAL, "care", "voice", DAY_START + 10 * 3600), BucketStats(handled=10, staffed_s=3600))
    return book


def by_group(book: KpiBook) -> dict[tuple[str, str], float | None]:
    rows = book.history(date(2026, 3, 10), date(2026, 3, 10), HistoryInterval.DAY)
    return {(row["queue"], row["channel"]): row["cost_per_contact"] for row in rows}


def test_a_day_of_one_queue() -> None:
    """57,600 s x 30 / 3,600 = 480 of labour, plus 96 fixed for the day = 576, over 144 handled = 4.00.
    Per channel, the fixed cost is shared by handled contacts: voice 480 + 96 x 100/144 = 546.67 over
    100 = 5.4667; chat 0 + 96 x 44/144 = 29.33 over 44 = 0.6667."""
    costs = by_group(book_with_a_day())
    assert costs["sales", ALL] == pytest.approx(4.0)
    assert costs["sales", "voice"] == pytest.approx((480 + 96 * 100 / 144) / 100)
    assert costs["sales", "chat"] == pytest.approx((96 * 44 / 144) / 44)


def test_targets_judge_the_same_cost_from_daily_counters() -> None:
    book = book_with_a_day()
    (day,) = book.daily(date(2026, 3, 10), date(2026, 3, 10), "sales", ALL)
    assert over_days("cost_per_contact", [day[1]]) == pytest.approx(4.0)
    (voice,) = book.daily(date(2026, 3, 10), date(2026, 3, 10), "sales", "voice")
    assert over_days("cost_per_contact", [voice[1]]) == pytest.approx((480 + 96 * 100 / 144) / 100)


def test_a_queue_without_hourly_cost_has_none_and_nor_has_a_roll_up_over_it() -> None:
    costs = by_group(book_with_a_day())
    assert costs["care", "voice"] is None and costs["care", ALL] is None
    assert costs[ALL, ALL] is None and costs[ALL, "voice"] is None
    assert costs[ALL, "chat"] == pytest.approx((96 * 44 / 144) / 44)  # only sales has chat
