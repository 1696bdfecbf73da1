"""The benchmark's statistics, checked against numbers worked out by hand."""

import pytest

from bench.stats import Summary, longest_gap, percentile, summarize

# The nearest-rank example list: rank = ceil(q/100 * 5), the value at that rank (1-based) in sorted order.
FIVE = [35.0, 20.0, 50.0, 15.0, 40.0]  # sorted: 15 20 35 40 50


@pytest.mark.parametrize(
    ("q", "expected"),
    [(5, 15.0), (20, 15.0), (30, 20.0), (40, 20.0), (50, 35.0), (60, 35.0), (61, 40.0), (99, 50.0), (100, 50.0)],
)
def test_percentile_is_the_nearest_rank(q: float, expected: float) -> None:
    assert percentile(FIVE, q) == expected


def test_p99_of_a_thousand_is_the_990th_value_and_of_ten_the_largest() -> None:
    thousand = [float(v) for v in range(1000, 0, -1)]
    assert percentile(thousand, 99) == 990.0
    assert percentile(thousand, 50) == 500.0
    assert percentile([float(v) for v in range(1, 11)], 99) == 10.0


@pytest.mark.parametrize(("values", "q"), [([], 50), ([1.0], 0), ([1.0], 101)])
def test_percentile_refuses_what_has_no_answer(values: list[float], q: float) -> None:
    with pytest.raises(ValueError):
        percentile(values, q)


def test_summary_of_four_latencies() -> None:
    # mean (0.3+0.1+0.2+0.4)/4 = 0.25; p50 rank ceil(2) = 2nd of 0.1 0.2 0.3 0.4; p99 rank ceil(3.96) = 4th
    assert summarize([0.3, 0.1, 0.2, 0.4]) == Summary(count=4, mean=pytest.approx(0.25), p50=0.2, p99=0.4, max=0.4)
    assert summarize([]) is None


def test_longest_gap_counts_the_window_edges() -> None:
    # edges 0.5 | 1.0 2.5 3.0 | 4.0: gaps 0.5 1.5 0.5 1.0
    assert longest_gap([3.0, 1.0, 2.5], 0.5, 4.0) == pytest.approx(1.5)
    # the last message came early: from 1.0 to the end at 4.0; arrivals outside the window do not count
    assert longest_gap([0.2, 1.0, 4.5], 0.5, 4.0) == pytest.approx(3.0)
    # nothing arrived: the whole window
    assert longest_gap([], 10.0, 20.0) == 10.0
    with pytest.raises(ValueError):
        longest_gap([], 2.0, 1.0)
