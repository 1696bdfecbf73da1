"""PartitionState mechanisms against hand-worked numbers."""

from __future__ import annotations

import json
from typing import Any

from kpis import snapshot
from kpis.buckets import BucketStats
from kpis.persistence import PartitionWriter
from kpis.rules import QueueOverrides
from kpis.state import INTERVAL, MINUTE, BucketKey, Outcome, PartitionState
from service.settings import Settings
from streams import topics
from tests.events import contact_event, decode

T0 = 1_800_000_000.0  # on a 15-minute boundary: 1_800_000_000 / 900 is whole
CONFIG = Settings(queues={"billing": QueueOverrides(short_abandon_seconds=5, service_level_seconds=20)})


def new_state(grace_s: float = 3600) -> PartitionState:
    return PartitionState(CONFIG.rules, grace_s=grace_s, contact_horizon_s=6 * 3600, repeat_horizon_s=7 * 86400)


class Log:
    """Offsets per topic, as Kafka would assign them."""

    def __init__(self, state: PartitionState) -> None:
        self.state = state
        self.offsets: dict[str, int] = {}

    def fold(self, *events: dict[str, Any], topic: str = topics.CALLS) -> list[Outcome]:
        outcomes = []
        for event in events:
            offset = self.offsets.get(topic, -1) + 1
            self.offsets[topic] = offset
            outcomes.append(self.state.apply(decode(json.dumps(event).encode(), topic), topic, offset))
        return outcomes


def restarted_from(state: PartitionState) -> PartitionState:
    """A new state restored from the table records that a flush of ``state`` writes now."""
    writes = PartitionWriter(0).writes(state, state.take_changes(), close=False)
    table = dict(writes.table + writes.after)
    restarted = new_state()
    entries = [(*snapshot.decode_table_key(k)[::2], v) for k, v in table.items() if v is not None]
    PartitionWriter(0).restore(restarted, entries)
    return restarted


def interval(state: PartitionState, queue: str = "billing", at: float = T0) -> BucketStats:
    return state.buckets[BucketKey(INTERVAL, queue, "voice", int(at // INTERVAL) * INTERVAL)].stats


def test_counts_are_booked_at_each_events_own_minute() -> None:
    state = new_state()
    Log(state).fold(
        contact_event("offered", "c1", T0 + 10),
        contact_event("answered", "c1", T0 + 70),  # next minute; wait derived: 60 s
        contact_event("offered", "c2", T0 + 20),
        contact_event("abandoned", "c2", T0 + 50, wait_s=30),
    )
    first = state.buckets[BucketKey(MINUTE, "billing", "voice", int(T0))].stats
    second = state.buckets[BucketKey(MINUTE, "billing", "voice", int(T0) + 60)].stats
    assert (first.offered, first.answered, first.abandoned) == (2, 0, 1)
    assert (second.offered, second.answered) == (0, 1)
    assert second.answered_wait_sum_s == 60.0 and second.answered_within_sl == 0
    assert interval(state).offered == 2 and interval(state).answered == 1


def test_abandon_with_unknown_wait_becomes_short_when_its_offer_arrives() -> None:
    state = new_state()
    log = Log(state)
    log.fold(contact_event("abandoned", "c1", T0 + 4))
    assert (interval(state).abandoned, interval(state).short_abandoned) == (1, 0)
    log.fold(contact_event("offered", "c1", T0 + 1))  # wait 3 s < 5 s: a short abandon after all
    assert (interval(state).abandoned, interval(state).short_abandoned) == (0, 1)
    assert interval(state).max_wait_s == 0.0 and not interval(state).wait_bins


def test_service_level_counts_use_the_queues_threshold() -> None:
    state = new_state()
    Log(state).fold(
        contact_event("answered", "c1", T0 + 30, wait_s=20),  # within 20 s (<=)
        contact_event("answered", "c2", T0 + 31, wait_s=20.5),
        contact_event("abandoned", "c3", T0 + 32, wait_s=8),  # not short, within
    )
    stats = interval(state)
    assert (stats.answered_within_sl, stats.abandoned_within_sl) == (1, 1)
    assert stats.wait_bins == {20: 1, 21: 1, 8: 1}


def test_talk_and_after_contact_work_are_derived_in_any_order() -> None:
    state = new_state()
    Log(state).fold(
        contact_event("wrapup_ended", "c1", T0 + 400),  # acw = 400 - 300 once ended is known
        contact_event("ended", "c1", T0 + 300, hold_s=15),  # talk = 300 - 100 once answered is known
        contact_event("answered", "c1", T0 + 100, wait_s=4),
    )
    stats = interval(state)
    assert (stats.handled, stats.talk_sum_s, stats.hold_sum_s, stats.acw_sum_s) == (1, 200.0, 15.0, 100.0)


def test_survey_without_queue_waits_for_its_contact() -> None:
    state = new_state()
    log = Log(state)
    survey = {"event_id": "s1", "type": "survey.submitted", "time": "2027-01-15T08:10:00+00:00", "contact_id": "c1",
              "customer_id": "cust-c1", "csat": 5, "nps": 6, "resolved": True}
    log.fold(survey, topic=topics.SURVEYS)
    assert not state.buckets
    log.fold(contact_event("offered", "c1", T0 + 1, queue="sales"))
    at = 1_800_000_000 + 600  # 08:10 UTC on 2027-01-15
    stats = interval(state, "sales", at)
    assert stats.surveys == 1 and stats.scores["csat"] == [0, 0, 0, 0, 1] and stats.scores["nps"][6] == 1
    assert (stats.resolved_true, stats.resolved_answers) == (1, 1)


def test_an_earlier_offer_arriving_late_makes_the_next_one_a_repeat() -> None:
    state = new_state()
    log = Log(state)
    log.fold(contact_event("offered", "c2", T0 + 3000, customer_id="u1"))
    assert (interval(state, at=T0 + 3000).known_customer_offered, interval(state, at=T0 + 3000).repeat_offered) == (1, 0)
    log.fold(contact_event("offered", "c1", T0 + 100, customer_id="u1"))
    assert interval(state, at=T0 + 3000).repeat_offered == 1
    assert interval(state, at=T0 + 100).repeat_offered == 0


def test_a_duplicate_event_id_counts_once() -> None:
    state = new_state()
    offered = contact_event("offered", "c1", T0)
    assert Log(state).fold(offered, dict(offered)) == [Outcome.COUNTED, Outcome.DUPLICATE]
    assert interval(state).offered == 1


def test_offset_marks_make_a_reread_change_nothing() -> None:
    state = new_state()
    events = [contact_event("offered", "c1", T0), contact_event("answered", "c1", T0 + 12)]
    Log(state).fold(*events)
    restarted = restarted_from(state)
    Log(restarted).fold(*events, contact_event("abandoned", "c2", T0 + 20, wait_s=9))
    assert (interval(restarted).offered, interval(restarted).answered, interval(restarted).abandoned) == (1, 1, 1)


def test_closing_finalises_buckets_and_later_events_are_late() -> None:
    state = new_state(grace_s=600)
    log = Log(state)
    log.fold(contact_event("offered", "c1", T0 + 5), contact_event("offered", "c2", T0 + 2000))
    state.take_changes()
    state.close(T0 + 2000)  # boundary: minute floor of 2000 - 600 = T0 + 1380
    changes = state.take_changes()
    assert (INTERVAL, int(T0)) in changes.closed
    assert changes.slots[INTERVAL, int(T0)]["billing", "voice"].stats.offered == 1
    assert state.closed_until == int(T0) + 1380
    assert log.fold(contact_event("offered", "c3", T0 + 60)) == [Outcome.LATE]


def test_waiting_now_tracks_contacts_still_in_queue() -> None:
    state = new_state()
    Log(state).fold(
        contact_event("offered", "c1", T0 + 1),
        contact_event("offered", "c2", T0 + 5),
        contact_event("answered", "c1", T0 + 9),
    )
    assert state.waiting_summary() == {("billing", "voice"): (1, T0 + 5)}


def test_marks_never_go_back_when_a_restored_bucket_is_touched_by_a_redelivery() -> None:
    def survey(n: int) -> dict[str, Any]:
        return {"event_id": f"s{n}", "type": "survey.submitted", "time": "2027-01-15T08:00:30+00:00", "contact_id": f"c{n}",
                "queue": "billing", "channel": "voice", "csat": 4}

    state = new_state()
    first = Log(state)
    first.fold(contact_event("offered", "c0", T0 + 1))
    first.fold(survey(0), survey(1), topic=topics.SURVEYS)
    restarted = restarted_from(state)
    again = Log(restarted)
    again.fold(survey(0), topic=topics.SURVEYS)  # surveys start over at offset 0 ...
    again.fold(contact_event("offered", "c0", T0 + 1), contact_event("offered", "c9", T0 + 2))  # ... a new call dirties the bucket
    restarted.take_changes()  # and a flush comes between
    again.fold(survey(1), topic=topics.SURVEYS)
    assert (interval(restarted).offered, interval(restarted).surveys) == (2, 2)


def test_a_pair_split_across_two_runs_is_not_taken_as_counted() -> None:
    """Run 1 processed the calls but no survey. Run 2 reads the surveys first: one without a queue
    waits for its contact, one with a queue changes the bucket, a flush comes, and only then are
    the calls re-read. The waiting survey must still be counted: no single run had processed both
    it and its call when the bucket was written, although the two runs together had."""
    call = contact_event("offered", "c1", T0 + 1, queue="sales")
    waiting = {"event_id": "s1", "type": "survey.submitted", "time": "2027-01-15T08:00:30+00:00", "contact_id": "c1",
               "customer_id": "cust-c1", "csat": 3}
    with_queue = {**waiting, "event_id": "s2", "contact_id": "c2", "customer_id": "cust-c2", "queue": "sales", "channel": "voice"}
    first = new_state()
    Log(first).fold(call, contact_event("offered", "c2", T0 + 2, queue="sales"))
    second = restarted_from(first)
    Log(second).fold(waiting, with_queue, topic=topics.SURVEYS)
    second.take_changes()
    Log(second).fold(call)  # the calls topic re-read from offset 0
    assert interval(second, "sales").surveys == 2


def survey_without_queue(contact_id: str, at: str) -> dict[str, Any]:
    return {"event_id": f"s-{contact_id}", "type": "survey.submitted", "time": at, "contact_id": contact_id, "csat": 5}


def test_a_survey_whose_contact_never_comes_goes_to_unknown_when_its_minute_closes() -> None:
    state = new_state(grace_s=600)
    Log(state).fold(survey_without_queue("lost", "2027-01-15T08:00:30+00:00"), survey_without_queue("late", "2027-01-15T08:20:00+00:00"),
                    topic=topics.SURVEYS)  # fmt: skip
    state.close(T0 + 1000)  # closes up to 08:06: only the first survey's minute
    assert state.buckets[BucketKey(INTERVAL, "unknown", "unknown", int(T0))].stats.surveys == 1
    Log(state).fold(contact_event("offered", "late", T0 + 1190, queue="sales"))
    assert interval(state, "sales", T0 + 1200).surveys == 1  # booked at the survey's time, in its contact's queue
    state.close(T0 + 3000)
    assert BucketKey(INTERVAL, "unknown", "unknown", int(T0) + 900) not in state.buckets


def test_contacts_are_forgotten_after_the_horizon_unless_seen_again() -> None:
    state = PartitionState(CONFIG.rules, grace_s=60, contact_horizon_s=3600, repeat_horizon_s=86400)
    log = Log(state)
    log.fold(contact_event("offered", "quiet", T0), contact_event("offered", "busy", T0))
    log.fold(contact_event("answered", "busy", T0 + 3000))
    state.close(T0 + 3700)
    assert state.contacts_tracked == 1  # "quiet" last seen more than an hour before; "busy" not
    state.close(T0 + 6700)
    assert state.contacts_tracked == 0
