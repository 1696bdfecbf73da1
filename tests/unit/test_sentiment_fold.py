"""chat.sentiment folded like a survey, chat.message ignored: counters and KPIs worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from kpis.buckets import BucketStats
from kpis.catalog import KPIS_BY_NAME, Counters
from kpis.state import INTERVAL, BucketKey, Outcome
from streams import topics
from tests.events import at, contact_event
from tests.unit.test_state import T0, Log, interval, new_state, restarted_from


def sentiment(n: int, score: float, label: str, epoch_s: float = T0 + 30, contact: str = "c1", **extra: Any) -> dict[str, Any]:
    return {"event_id": f"sent-{n}", "type": "chat.sentiment", "time": at(epoch_s), "contact_id": contact,
            "customer_id": f"cust-{contact}", "message_event_id": f"msg-{n}", "score": score, "label": label, **extra}


def message(n: int, epoch_s: float = T0 + 30, contact: str = "c1", sender: str = "customer") -> dict[str, Any]:
    return {"event_id": f"msg-{n}", "type": "chat.message", "time": at(epoch_s), "contact_id": contact,
            "customer_id": f"cust-{contact}", "sender": sender, "text": "I was charged twice."}


def test_scores_with_a_queue_are_counted_by_label_and_summed() -> None:
    state = new_state()
    Log(state).fold(
        sentiment(1, 0.8, "positive", queue="billing", channel="voice"),
        sentiment(2, -0.6, "negative", queue="billing", channel="voice"),
        sentiment(3, 0.0, "neutral", queue="billing", channel="voice"),
        sentiment(4, -0.05, "negative", queue="billing", channel="voice"),
        topic=topics.CHATS,
    )
    stats = interval(state)
    assert (stats.messages_scored, stats.sentiment_positive, stats.sentiment_neutral, stats.sentiment_negative) == (4, 1, 1, 2)
    assert stats.sentiment_score_sum == pytest.approx(0.15)  # 0.8 - 0.6 + 0 - 0.05


def test_the_kpis_are_the_mean_score_and_the_negative_share() -> None:
    stats = BucketStats(messages_scored=4, sentiment_positive=1, sentiment_neutral=1, sentiment_negative=2,
                        sentiment_score_sum=0.15)
    counters = Counters(stats, 0, 0)
    assert KPIS_BY_NAME["sentiment_mean"].formula(counters) == pytest.approx(0.0375)  # type: ignore[misc]
    assert KPIS_BY_NAME["sentiment_negative_share"].formula(counters) == 0.5  # type: ignore[misc]
    assert KPIS_BY_NAME["messages_scored"].formula(counters) == 4  # type: ignore[misc]
    nothing = Counters(BucketStats(), 0, 0)
    assert KPIS_BY_NAME["sentiment_mean"].formula(nothing) is None  # type: ignore[misc]
    assert KPIS_BY_NAME["sentiment_negative_share"].formula(nothing) is None  # type: ignore[misc]


def test_a_score_without_queue_waits_for_its_contact_and_books_at_its_own_time() -> None:
    state = new_state()
    log = Log(state)
    log.fold(sentiment(1, -0.7, "negative", epoch_s=T0 + 1000), topic=topics.CHATS)
    assert not state.buckets
    log.fold(contact_event("offered", "c1", T0 + 10, queue="sales"))
    stats = interval(state, "sales", T0 + 1000)  # the score's interval, not the offer's
    assert (stats.messages_scored, stats.sentiment_negative, stats.sentiment_score_sum) == (1, 1, -0.7)
    assert interval(state, "sales", T0).messages_scored == 0


def test_a_score_after_its_contact_takes_the_contacts_queue() -> None:
    state = new_state()
    log = Log(state)
    log.fold(contact_event("offered", "c1", T0 + 10, queue="sales", channel="chat"), topic=topics.CHATS)
    log.fold(sentiment(1, 0.4, "positive"), topic=topics.CHATS)
    stats = state.buckets[BucketKey(INTERVAL, "sales", "chat", int(T0))].stats
    assert (stats.offered, stats.messages_scored, stats.sentiment_positive) == (1, 1, 1)


def test_chat_messages_count_nothing_and_leave_no_contact_state() -> None:
    state = new_state()
    log = Log(state)
    assert log.fold(message(1), message(2, sender="agent"), topic=topics.CHATS) == [Outcome.IGNORED, Outcome.IGNORED]
    assert state.contacts_tracked == 0 and not state.buckets
    assert state.processed[topics.CHATS] == 1  # read all the same: offsets move on


def test_a_redelivered_score_counts_once() -> None:
    state = new_state()
    event = sentiment(1, -0.3, "negative", queue="billing", channel="voice")
    assert Log(state).fold(event, dict(event), topic=topics.CHATS) == [Outcome.COUNTED, Outcome.DUPLICATE]
    assert interval(state).messages_scored == 1


def test_a_reread_after_a_restart_changes_nothing() -> None:
    state = new_state()
    events = [contact_event("offered", "c1", T0 + 5, channel="voice"), sentiment(1, -0.5, "negative")]
    log = Log(state)
    log.fold(events[0])
    log.fold(events[1], topic=topics.CHATS)
    restarted = restarted_from(state)
    again = Log(restarted)
    again.fold(events[1], sentiment(2, 0.5, "positive"), topic=topics.CHATS)
    again.fold(events[0])
    stats = interval(restarted)
    assert (stats.offered, stats.messages_scored, stats.sentiment_negative, stats.sentiment_positive) == (1, 2, 1, 1)
    assert stats.sentiment_score_sum == 0.0


def test_a_score_whose_contact_never_comes_goes_to_unknown_when_its_minute_closes() -> None:
    state = new_state(grace_s=600)
    Log(state).fold(sentiment(1, -0.9, "negative", contact="lost"), topic=topics.CHATS)
    state.close(T0 + 1000)
    stats = state.buckets[BucketKey(INTERVAL, "unknown", "unknown", int(T0))].stats
    assert (stats.messages_scored, stats.sentiment_negative) == (1, 1)


def test_counters_survive_the_snapshot_format() -> None:
    stats = BucketStats(messages_scored=3, sentiment_positive=1, sentiment_neutral=1, sentiment_negative=1,
                        sentiment_score_sum=-0.25)
    assert BucketStats.from_json(stats.to_json()) == stats
    merged = BucketStats.merged([stats, stats])
    assert (merged.messages_scored, merged.sentiment_negative, merged.sentiment_score_sum) == (6, 2, -0.5)
