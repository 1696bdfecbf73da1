from kpis.book import ALL, KpiBook
from kpis.buckets import BucketStats
from kpis.state import BucketKey
from kpis.windows import RollingWindow, Span, rolling_span

T0 = 1_800_000_000


def test_rolling_window_is_fifteen_buckets_ending_with_the_current_minute() -> None:
    span = rolling_span(RollingWindow.M15, T0 + 30.5)
    assert span == Span(T0 + 60 - 900, T0 + 60)


def test_partitions_and_groupings_are_merged_and_ratios_recomputed() -> None:
    book = KpiBook()
    book.put(0, BucketKey("billing", "voice", T0), BucketStats(offered=3, answered=3, answered_wait_sum_s=30, answered_with_wait=3))
    book.put(1, BucketKey("billing", "voice", T0), BucketStats(offered=1, abandoned=1))
    book.put(0, BucketKey("sales", "chat", T0), BucketStats(offered=2, answered=1, abandoned=1))
    rows = {(r["queue"], r["channel"]): r for r in book.rows(Span(T0, T0 + 60), "15m")}
    assert rows[("billing", "voice")]["offered"] == 4
    assert rows[("billing", "voice")]["abandon_rate"] == 0.25  # 1 / (3 + 1)
    assert rows[("billing", "voice")]["asa_s"] == 10.0
    assert rows[(ALL, ALL)]["abandon_rate"] == 2 / 6  # (1 + 1) / (4 answered + 2 abandoned)
    assert rows[(ALL, "chat")]["offered"] == 2
    assert rows[("sales", ALL)]["abandoned"] == 1


def test_idle_queue_has_a_row_with_zero_counts_and_null_ratios() -> None:
    book = KpiBook()
    book.put(0, BucketKey("billing", "voice", T0 - 3600), BucketStats(offered=1, answered=1))
    [row] = book.rows(Span(T0, T0 + 60), "15m", queue="billing", channel="voice")
    assert row["offered"] == 0 and row["abandon_rate"] is None and row["asa_s"] is None


def test_tombstone_removes_a_partitions_share_only() -> None:
    book = KpiBook()
    key = BucketKey("billing", "voice", T0)
    book.put(0, key, BucketStats(offered=2))
    book.put(1, key, BucketStats(offered=5))
    book.put(1, key, None)
    [row] = book.rows(Span(T0, T0 + 60), "15m", queue="billing", channel="voice")
    assert row["offered"] == 2
