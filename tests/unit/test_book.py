"""The read side: merging partitions, windows in local time, history periods, idle queues."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from kpis.book import ALL, KpiBook
from kpis.buckets import BucketStats
from kpis.rules import QueueOverrides, QueueRules, ServiceLevelFormula
from kpis.state import INTERVAL, MINUTE, BucketKey
from kpis.windows import HistoryInterval, Span, Window, history_periods, span
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
