"""PartitionState against hand-worked numbers."""

import json

from kpis.buckets import BucketStats
from kpis.state import BucketKey, PartitionState
from streams import topics
from streams.contract import decode
from tests.events import contact_event

T0 = 1_800_000_000.0  # a minute boundary: 1_800_000_000 / 60 is whole


def fold(state: PartitionState, *events: dict) -> None:
    for event in events:
        state.apply(decode(json.dumps(event).encode(), topics.CALLS))


def new_state() -> PartitionState:
    return PartitionState(retention_s=3600, contact_horizon_s=3600)


def test_counts_are_booked_at_each_events_own_minute() -> None:
    state = new_state()
    fold(
        state,
        contact_event("offered", "c1", T0 + 10),
        contact_event("answered", "c1", T0 + 70),  # next minute, wait derived: 60 s
        contact_event("offered", "c2", T0 + 20),
        contact_event("abandoned", "c2", T0 + 50, wait_s=30),
    )
    first = state.buckets[BucketKey("billing", "voice", int(T0))]
    second = state.buckets[BucketKey("billing", "voice", int(T0) + 60)]
    assert (first.offered, first.answered, first.abandoned) == (2, 0, 1)
    assert (second.offered, second.answered, second.abandoned) == (0, 1, 0)
    assert second.answered_wait_sum_s == 60.0 and second.answered_with_wait == 1
    assert first.abandoned_wait_sum_s == 30.0 and first.max_wait_s == 30.0


def test_wait_on_the_event_wins_over_the_derived_one() -> None:
    state = new_state()
    fold(state, contact_event("offered", "c1", T0), contact_event("answered", "c1", T0 + 40, wait_s=25))
    assert state.buckets[BucketKey("billing", "voice", int(T0))].answered_wait_sum_s == 25.0


def test_answered_before_offered_gets_its_wait_when_offered_arrives() -> None:
    state = new_state()
    fold(state, contact_event("answered", "c1", T0 + 45))
    key = BucketKey("billing", "voice", int(T0))
    assert state.buckets[key].answered_with_wait == 0
    fold(state, contact_event("offered", "c1", T0 + 5))
    assert state.buckets[key].answered_with_wait == 1
    assert state.buckets[key].answered_wait_sum_s == 40.0


def test_a_duplicate_event_id_counts_once() -> None:
    state = new_state()
    offered = contact_event("offered", "c1", T0)
    assert state.apply(decode(json.dumps(offered).encode(), topics.CALLS))
    assert not state.apply(decode(json.dumps(offered).encode(), topics.CALLS))
    assert state.buckets[BucketKey("billing", "voice", int(T0))].offered == 1


def test_changes_are_reported_once_per_take() -> None:
    state = new_state()
    fold(state, contact_event("offered", "c1", T0), contact_event("offered", "c2", T0 + 1))
    changed, removed = state.take_changes()
    assert list(changed) == [BucketKey("billing", "voice", int(T0))] and not removed
    assert state.take_changes() == ({}, set())


def test_expiry_drops_old_buckets_and_reports_them_removed() -> None:
    state = new_state()
    fold(state, contact_event("offered", "old", T0), contact_event("offered", "new", T0 + 3700))
    state.take_changes()
    state.expire()
    changed, removed = state.take_changes()
    assert removed == {BucketKey("billing", "voice", int(T0))}
    assert BucketKey("billing", "voice", int(T0)) not in state.buckets
    assert state.contacts_tracked == 1


def test_restored_buckets_keep_counting() -> None:
    state = new_state()
    state.load(BucketKey("billing", "voice", int(T0)), BucketStats(offered=5))
    fold(state, contact_event("offered", "c1", T0 + 1))
    assert state.buckets[BucketKey("billing", "voice", int(T0))].offered == 6
