"""The read side: merging partitions, windows in local time, history periods, idle queues."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from kpis.book import ALL, KpiBook
from kpis.buckets import BucketStats
from kpis.rules import QueueOverrides, QueueRules, ServiceLevelFormula, Weekday
from kpis.state import INTERVAL, MINUTE, BucketKey
from kpis.windows import HistoryInterval, Period, Span, Window, history_periods, span
from service.settings import Settings

T0 = 1_800_000_000


def local(text: str, zone: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp())


def test_rolling_window_is_the_minutes_ending_with_the_current_one() -> None:
    assert span(Window.M15, T0 + 30.5, QueueRules()) == Span(T0 + 60 - 900, T0 + 60, MINUTE)
    assert span(Window.M60, T0 + 30.5, QueueRules()) == Span(T0 + 60 - 3600, T0 + 60, MINUTE)


def test_today_starts_at_the_queues_local_day_start() -> None:
    rules = QueueRules(timezone="America/New_York", day_start="06:00")
    now = local("2026-07-01T05:00:00", "America/New_York")  # before 06:00: still yesterday's business day
    today = span(Window.TODAY, now, rules)
    assert today.start == local("2026-06-30T06:00:00", "America/New_York")
    assert today.end == now + INTERVAL


def test_a_spring_forward_day_has_23_hours_of_intervals() -> None:
    rules = QueueRules(timezone="Europe/Paris")
    periods = history_periods(date(2026, 3, 29), date(2026, 3, 29), HistoryInterval.M60, rules)
    assert len(periods) == 23
    assert periods[0].span.start == local("2026-03-29T00:00:00", "Europe/Paris")
    [day] = history_periods(date(2026, 10, 25), date(2026, 10, 25), HistoryInterval.DAY, rules)
    assert day.span.end - day.span.start == 25 * 3600


def test_half_hour_zones_align_local_hours() -> None:
    rules = QueueRules(timezone="Asia/Kolkata")
    periods = history_periods(date(2026, 1, 5), date(2026, 1, 5), HistoryInterval.M60, rules)
    assert len(periods) == 24 and all(p.span.start % 3600 == 1800 for p in periods)


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text + "+00:00").timestamp())


def bounds(periods: list[Period]) -> list[tuple[str, int, int]]:
    return [(p.day.isoformat(), p.span.start, p.span.end) for p in periods]


# Calendar facts used below, worked out by hand: 2026-01-01 is a Thursday, so 2026-02-01 (31 days
# later) is a Sunday and so is 2026-03-01 (February 2026 has 28 days); 2026-03-02 is a Monday.


def test_weeks_starting_monday_cover_every_week_that_overlaps_the_range_whole() -> None:
    rules = QueueRules()
    # Wednesday 4 March to Tuesday 10 March: the weeks of Monday 2 and Monday 9 March, whole
    periods = history_periods(date(2026, 3, 4), date(2026, 3, 10), HistoryInterval.WEEK, rules)
    assert bounds(periods) == [
        ("2026-03-02", utc("2026-03-02T00:00:00"), utc("2026-03-09T00:00:00")),
        ("2026-03-09", utc("2026-03-09T00:00:00"), utc("2026-03-16T00:00:00")),
    ]
    assert all(p.span.size == INTERVAL for p in periods)
    # a range starting on the week's first day does not reach back into the week before
    assert [p.day for p in history_periods(date(2026, 3, 9), date(2026, 3, 9), HistoryInterval.WEEK, rules)] == [
        date(2026, 3, 9)
    ]


def test_weeks_starting_sunday() -> None:
    rules = QueueRules(week_start=Weekday.SUNDAY)
    periods = history_periods(date(2026, 3, 4), date(2026, 3, 10), HistoryInterval.WEEK, rules)
    assert bounds(periods) == [
        ("2026-03-01", utc("2026-03-01T00:00:00"), utc("2026-03-08T00:00:00")),
        ("2026-03-08", utc("2026-03-08T00:00:00"), utc("2026-03-15T00:00:00")),
    ]
    # Saturday 7 March is the last day of the week of Sunday 1 March
    assert [p.day for p in history_periods(date(2026, 3, 7), date(2026, 3, 7), HistoryInterval.WEEK, rules)] == [
        date(2026, 3, 1)
    ]


def test_a_week_crossing_a_month_boundary_is_dated_by_its_first_day() -> None:
    # Wednesday 1 April 2026 is in the week of Monday 30 March, all of it in Paris summer time (UTC+2)
    rules = QueueRules(timezone="Europe/Paris")
    periods = history_periods(date(2026, 4, 1), date(2026, 4, 1), HistoryInterval.WEEK, rules)
    assert bounds(periods) == [("2026-03-30", utc("2026-03-29T22:00:00"), utc("2026-04-05T22:00:00"))]


def test_a_month_with_the_spring_change_lasts_31_days_less_an_hour() -> None:
    # Paris went from UTC+1 to UTC+2 on Sunday 31 March 2024
    rules = QueueRules(timezone="Europe/Paris")
    [march] = history_periods(date(2024, 3, 15), date(2024, 3, 15), HistoryInterval.MONTH, rules)
    assert march.day == date(2024, 3, 1)
    assert (march.span.start, march.span.end) == (utc("2024-02-29T23:00:00"), utc("2024-03-31T22:00:00"))
    assert march.span.end - march.span.start == 31 * 86400 - 3600


def test_months_run_from_the_first_of_the_month_across_a_year_end() -> None:
    periods = history_periods(date(2025, 12, 20), date(2026, 1, 10), HistoryInterval.MONTH, QueueRules())
    assert bounds(periods) == [
        ("2025-12-01", utc("2025-12-01T00:00:00"), utc("2026-01-01T00:00:00")),
        ("2026-01-01", utc("2026-01-01T00:00:00"), utc("2026-02-01T00:00:00")),
    ]
    # February 2024 has 29 days
    [february] = history_periods(date(2024, 2, 29), date(2024, 2, 29), HistoryInterval.MONTH, QueueRules())
    assert february.span.end - february.span.start == 29 * 86400


def test_weeks_and_months_of_a_day_starting_at_six() -> None:
    # New York: EST (UTC-5) until 2:00 on Sunday 8 March 2026, EDT (UTC-4) after; business days
    # start at 06:00, so the week of Monday 2 March runs from 06:00 EST on the 2nd to 06:00 EDT on the 9th
    rules = QueueRules(timezone="America/New_York", day_start="06:00")
    [week] = history_periods(date(2026, 3, 8), date(2026, 3, 8), HistoryInterval.WEEK, rules)
    assert (week.day, week.span.start, week.span.end) == (
        date(2026, 3, 2), utc("2026-03-02T11:00:00"), utc("2026-03-09T10:00:00")
    )
    assert week.span.end - week.span.start == 7 * 86400 - 3600
    [february] = history_periods(date(2026, 2, 1), date(2026, 2, 28), HistoryInterval.MONTH, rules)
    assert (february.day, february.span.start, february.span.end) == (
        date(2026, 2, 1), utc("2026-02-01T11:00:00"), utc("2026-03-01T11:00:00")
    )


def test_partitions_and_groupings_are_merged_and_ratios_recomputed() -> None:
    config = Settings(queues={"sales": QueueOverrides(service_level_formula=ServiceLevelFormula.ANSWERED)})
    book = KpiBook(config.rules)
    book.put(0, BucketKey(INTERVAL, "billing", "voice", T0), BucketStats(offered=3, answered=3, answered_wait_sum_s=30, answered_with_wait=3, answered_within_sl=2))
    book.put(1, BucketKey(INTERVAL, "billing", "voice", T0), BucketStats(offered=1, abandoned=1))
    book.put(0, BucketKey(INTERVAL, "sales", "chat", T0), BucketStats(offered=2, answered=1, abandoned=1, answered_within_sl=1))
    totals = book.totals(Span(T0, T0 + INTERVAL, INTERVAL))
    billing = totals[("billing", "voice")]
    assert billing["offered"] == 4 and billing["abandon_rate"] == 0.25 and billing["asa_s"] == 10.0
    assert (billing["service_level_numerator"], billing["service_level_denominator"]) == (2, 4)
    # sales counts answered only in its denominator: 1 / 1
    assert totals[("sales", "chat")]["service_level"] == 1.0
    # roll-up: (2 + 1) / (4 + 1), each queue's own terms added
    assert totals[(ALL, ALL)]["service_level"] == 3 / 5
    assert totals[(ALL, ALL)]["abandon_rate"] == 2 / 6


def test_idle_and_configured_queues_have_rows_with_zero_counts_and_null_ratios() -> None:
    config = Settings(queues={"vip": QueueOverrides()})
    book = KpiBook(config.rules, config.queues)
    book.put(0, BucketKey(MINUTE, "billing", "voice", T0 - 7200), BucketStats(offered=1, answered=1))
    rows = {(r["queue"], r["channel"]): r for r in book.rows(Window.M15, T0)}
    assert rows[("billing", "voice")]["offered"] == 0 and rows[("billing", "voice")]["abandon_rate"] is None
    assert rows[("vip", "voice")]["offered"] == 0 and rows[("vip", "voice")]["asa_s"] is None


def test_tombstone_removes_a_partitions_share_only() -> None:
    book = KpiBook(Settings().rules)
    key = BucketKey(INTERVAL, "billing", "voice", T0)
    book.put(0, key, BucketStats(offered=2))
    book.put(1, key, BucketStats(offered=5))
    book.put(1, key, None)
    assert book.totals(Span(T0, T0 + INTERVAL, INTERVAL))[("billing", "voice")]["offered"] == 2


def test_history_days_follow_each_queues_zone_and_roll_ups_the_default() -> None:
    config = Settings(queues={"tokyo": QueueOverrides(timezone="Asia/Tokyo")})
    book = KpiBook(config.rules)
    # 23:30 UTC on Jan 4 is Jan 5 in Tokyo
    at = int(datetime.fromisoformat("2026-01-04T23:30:00+00:00").timestamp())
    book.put(0, BucketKey(INTERVAL, "tokyo", "voice", at), BucketStats(offered=1))
    rows = book.history(date(2026, 1, 4), date(2026, 1, 5), HistoryInterval.DAY)
    by = {(r["queue"], r["channel"], r["date"]): r["offered"] for r in rows}
    assert by[("tokyo", "voice", "2026-01-05")] == 1 and by[("tokyo", "voice", "2026-01-04")] == 0
    assert by[(ALL, ALL, "2026-01-04")] == 1 and by[(ALL, ALL, "2026-01-05")] == 0


def test_history_of_queue_star_is_only_the_roll_up_rows() -> None:
    """``queue=*`` selects the roll-ups, as on /v1/kpis, not every queue besides them."""
    book = KpiBook(Settings().rules)
    at = int(datetime.fromisoformat("2026-01-04T10:00:00+00:00").timestamp())
    book.put(0, BucketKey(INTERVAL, "sales", "voice", at), BucketStats(offered=2))
    book.put(0, BucketKey(INTERVAL, "billing", "chat", at), BucketStats(offered=3))
    rows = book.history(date(2026, 1, 4), date(2026, 1, 4), HistoryInterval.DAY, queue=ALL)
    assert {(r["queue"], r["channel"], r["offered"]) for r in rows} == {
        (ALL, ALL, 5), (ALL, "voice", 2), (ALL, "chat", 3),
    }  # fmt: skip


def test_history_by_week_uses_each_queues_week_start_and_roll_ups_the_default() -> None:
    config = Settings(queues={"us": QueueOverrides(week_start=Weekday.SUNDAY)})
    book = KpiBook(config.rules)
    book.put(0, BucketKey(INTERVAL, "us", "voice", utc("2026-03-07T12:00:00")), BucketStats(offered=2))  # Saturday
    book.put(0, BucketKey(INTERVAL, "us", "voice", utc("2026-03-08T12:00:00")), BucketStats(offered=3))  # Sunday
    book.put(0, BucketKey(INTERVAL, "eu", "voice", utc("2026-03-08T12:00:00")), BucketStats(offered=5))  # Sunday
    book.put(0, BucketKey(INTERVAL, "eu", "voice", utc("2026-03-09T00:00:00")), BucketStats(offered=7))  # Monday
    rows = book.history(date(2026, 3, 4), date(2026, 3, 10), HistoryInterval.WEEK)
    by = {(r["queue"], r["channel"], r["date"]): r for r in rows}
    assert {key: row["offered"] for key, row in by.items()} == {
        # us weeks: Sunday 1 to Saturday 7 March, Sunday 8 to Saturday 14 March
        ("us", "voice", "2026-03-01"): 2, ("us", "voice", "2026-03-08"): 3,
        ("us", ALL, "2026-03-01"): 2, ("us", ALL, "2026-03-08"): 3,
        # eu and the roll-ups (defaults: Monday): Monday 2 to Sunday 8 March, Monday 9 to Sunday 15
        ("eu", "voice", "2026-03-02"): 5, ("eu", "voice", "2026-03-09"): 7,
        ("eu", ALL, "2026-03-02"): 5, ("eu", ALL, "2026-03-09"): 7,
        (ALL, "voice", "2026-03-02"): 2 + 3 + 5, (ALL, "voice", "2026-03-09"): 7,
        (ALL, ALL, "2026-03-02"): 2 + 3 + 5, (ALL, ALL, "2026-03-09"): 7,
    }
    first_us_week = by[("us", "voice", "2026-03-01")]
    assert (first_us_week["window"], first_us_week["start"], first_us_week["end"]) == (
        "1w", "2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z"
    )


def test_history_by_month_counts_whole_local_months() -> None:
    config = Settings(
        queues={
            "paris": QueueOverrides(timezone="Europe/Paris"),
            "ny": QueueOverrides(timezone="America/New_York", day_start="06:00"),
        }
    )
    book = KpiBook(config.rules)
    buckets = [
        ("paris", "2024-02-29T22:45:00", 4),  # 23:45 on 29 February in Paris
        ("paris", "2024-02-29T23:30:00", 1),  # 00:30 on 1 March in Paris
        ("paris", "2024-03-31T21:45:00", 2),  # 23:45 on 31 March, summer time
        ("paris", "2024-03-31T22:00:00", 8),  # midnight on 1 April
        ("ny", "2024-03-01T10:45:00", 16),  # 05:45 EST on 1 March: still the business day of 29 February
        ("ny", "2024-03-01T11:00:00", 32),  # 06:00 EST: the first business day of March
    ]
    for queue, at, offered in buckets:
        book.put(0, BucketKey(INTERVAL, queue, "voice", utc(at)), BucketStats(offered=offered))
    rows = book.history(date(2024, 3, 10), date(2024, 3, 20), HistoryInterval.MONTH)
    by = {(r["queue"], r["channel"]): r for r in rows}
    assert {r["date"] for r in rows} == {"2024-03-01"} and {r["window"] for r in rows} == {"1mo"}
    assert {pair: row["offered"] for pair, row in by.items()} == {
        ("paris", "voice"): 1 + 2, ("paris", ALL): 1 + 2,
        ("ny", "voice"): 32, ("ny", ALL): 32,
        # roll-ups: March in UTC, 1 March 00:00 to 1 April 00:00
        (ALL, "voice"): 2 + 8 + 16 + 32, (ALL, ALL): 2 + 8 + 16 + 32,
    }
    assert (by[("paris", "voice")]["start"], by[("paris", "voice")]["end"]) == ("2024-02-29T23:00:00Z", "2024-03-31T22:00:00Z")
    # New York changed to EDT (UTC-4) on 10 March 2024
    assert (by[("ny", "voice")]["start"], by[("ny", "voice")]["end"]) == ("2024-03-01T11:00:00Z", "2024-04-01T10:00:00Z")
    assert (by[(ALL, ALL)]["start"], by[(ALL, ALL)]["end"]) == ("2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")


def test_window_sums_kept_up_to_date_equal_sums_made_afresh() -> None:
    """Buckets replaced, removed (a share gone), with lower maxima and pruned, between reads of the
    rows: the remembered sums must give what a book given only the final buckets gives."""
    import random

    rng = random.Random(5)
    now = T0 + 30.0
    config = Settings()
    book = KpiBook(config.rules)
    final: dict[tuple[int, BucketKey], BucketStats | None] = {}
    for step in range(600):
        size = rng.choice((MINUTE, INTERVAL))
        start = int(now // size) * size - size * rng.randrange(0, 6)
        key = BucketKey(size, rng.choice(("a", "b")), "voice", start)
        partition = rng.randrange(3)
        stats = None if rng.random() < 0.15 else BucketStats(
            offered=rng.randrange(10), answered=rng.randrange(5), max_wait_s=float(rng.randrange(100)),
            answered_wait_sum_s=rng.randrange(1000) / 10, answered_with_wait=1, wait_bins={rng.choice((5, 20)): 1},
        )
        book.put(partition, key, stats)
        final[partition, key] = stats
        if step % 7 == 0:
            book.rows(Window.M15, now)
            book.rows(Window.TODAY, now)
        if step == 400:
            book.prune(MINUTE, now - 180)
            final = {k: v for k, v in final.items() if not (k[1].size == MINUTE and k[1].start < now - 180)}
    fresh = KpiBook(config.rules)
    for (partition, key), stats in final.items():
        fresh.put(partition, key, stats)
    for window in (Window.M15, Window.M30, Window.TODAY, Window.INTERVAL):
        assert book.rows(window, now) == fresh.rows(window, now), window


def test_daily_counters_follow_changed_buckets_and_pruning_and_each_queues_formula() -> None:
    """Day sums are remembered between reads (a target's period to date reads a month of them):
    a bucket that changes, and pruning, must show at the next read."""
    config = Settings.model_validate({"queues": {"vip": {"service_level_formula": "answered"}}})
    book = KpiBook(config.rules)
    monday, tuesday = date(2026, 3, 2), date(2026, 3, 3)
    sales_key = BucketKey(INTERVAL, "sales", "voice", utc("2026-03-02T10:00:00"))
    book.put(0, sales_key, BucketStats(answered=3, answered_within_sl=3))
    # vip counts answered only: 1 within of 2 answered; its 2 abandons are in no term
    book.put(0, BucketKey(INTERVAL, "vip", "voice", utc("2026-03-02T11:00:00")), BucketStats(answered=2, abandoned=2, answered_within_sl=1))

    def terms(queue: str, channel: str = ALL) -> list[tuple[date, int, int, int]]:
        return [(day, c.stats.answered, c.sl_numerator, c.sl_denominator) for day, c in book.daily(monday, tuesday, queue, channel)]

    assert terms("sales") == [(monday, 3, 3, 3), (tuesday, 0, 0, 0)]
    assert terms(ALL) == [(monday, 5, 3 + 1, 3 + 2), (tuesday, 0, 0, 0)]
    assert terms("sales", "chat") == [(monday, 0, 0, 0), (tuesday, 0, 0, 0)]
    book.put(1, sales_key, BucketStats(answered=1, abandoned=1))  # a second partition's share of the bucket
    assert terms("sales") == [(monday, 4, 3, 5), (tuesday, 0, 0, 0)]
    book.prune(INTERVAL, utc("2026-03-03T00:00:00"))
    assert terms(ALL) == [(monday, 0, 0, 0), (tuesday, 0, 0, 0)]
