"""BucketStats arithmetic: the hand-written add must cover every field, and subtract must undo it."""

from __future__ import annotations

from dataclasses import fields

import pytest

from kpis.buckets import BucketStats



def one_field_set(name: str) -> BucketStats:
    """A bucket whose only non-default value is ``name`` (scores come with their survey count, as
    the fold books them)."""
    if name == "wait_bins":
        return BucketStats(wait_bins={20: 2})
    if name == "scores":
        return BucketStats(surveys=9, scores={"csat": [0, 0, 0, 0, 3], "nps": [3] + [0] * 10, "ces": [0, 0, 3, 0, 0, 0, 0]})
    if name == "missed_by_agent":
        return BucketStats(missed=3, missed_by_agent={"ann": 2, "bob": 1})
    if name == "aux_reason_s":
        return BucketStats(aux_s=7.5, aux_reason_s={"break": 5.0, "lunch": 2.5})
    if name == "resolution_bins":
        return BucketStats(resolution_bins={3600: 2})
    if name == "ticket_categories":
        return BucketStats(ticket_categories={"billing": 2})
    return BucketStats(**{name: 7})


@pytest.mark.parametrize("name", [f.name for f in fields(BucketStats)])
def test_add_covers_every_field(name: str) -> None:
    total = BucketStats()
    total.add(one_field_set(name))
    total.add(one_field_set(name))
    doubled = one_field_set(name)
    value = getattr(doubled, name)
    if name == "max_wait_s":
        assert total.max_wait_s == 7
        return
    if name == "wait_bins":
        assert total.wait_bins == {20: 4}
        return
    if name == "scores":
        assert total.scores == {"csat": [0, 0, 0, 0, 6], "nps": [6] + [0] * 10, "ces": [0, 0, 6, 0, 0, 0, 0]}
        return
    if name == "missed_by_agent":
        assert (total.missed, total.missed_by_agent) == (6, {"ann": 4, "bob": 2})
        return
    if name == "aux_reason_s":
        assert (total.aux_s, total.aux_reason_s) == (15.0, {"break": 10.0, "lunch": 5.0})
        return
    if name in ("resolution_bins", "ticket_categories"):
        assert getattr(total, name) == {key: 4 for key in value}
        return
    expected = [2 * v for v in value] if isinstance(value, list) else 2 * value
    assert getattr(total, name) == expected


def test_subtract_undoes_add_except_the_maximum() -> None:
    base = BucketStats(offered=5, answered=3, max_wait_s=40, wait_bins={10: 1}, surveys=1, scores={"csat": [0, 0, 0, 0, 1]})
    extra = BucketStats(offered=2, answered=1, max_wait_s=90, wait_bins={10: 2, 90: 1}, surveys=1, scores={"nps": [0] * 10 + [1]})
    total = BucketStats.merged((base, extra))
    total.subtract(extra)
    assert (total.offered, total.answered, total.surveys) == (5, 3, 1)
    assert {k: v for k, v in total.wait_bins.items() if v} == {10: 1}
    assert total.scores == {"csat": [0, 0, 0, 0, 1], "nps": [0] * 11}
    assert total.max_wait_s == 90


@pytest.mark.parametrize("name", [f.name for f in fields(BucketStats)])
def test_subtract_covers_every_field(name: str) -> None:
    total = BucketStats.merged((one_field_set(name), one_field_set(name)))
    total.subtract(one_field_set(name))
    if name == "max_wait_s":
        assert total.max_wait_s == 7  # a maximum cannot be taken out: it stays
        return
    assert total == one_field_set(name)


@pytest.mark.parametrize("name", [f.name for f in fields(BucketStats)])
def test_json_round_trip_covers_every_field(name: str) -> None:
    stats = one_field_set(name)
    assert BucketStats.from_json(stats.to_json()) == stats
    assert BucketStats().to_json() == {}


def test_scores_keep_the_snapshot_keys_of_before_the_scale_catalog() -> None:
    """Snapshots written before scales were declared hold ``csat_counts`` etc.: they must still load."""
    old = {"surveys": 2, "csat_counts": [0, 0, 0, 1, 1], "ces_counts": [1, 0, 0, 0, 0, 0, 0]}
    stats = BucketStats.from_json(old)
    assert stats.scores == {"csat": [0, 0, 0, 1, 1], "ces": [1, 0, 0, 0, 0, 0, 0]}
    assert stats.to_json() == old
