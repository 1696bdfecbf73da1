"""The scorer's pure part: labels, the events it publishes, what it skips. Expected scores are worked
out from VADER's published lexicon values and its normalisation x / sqrt(x^2 + 15), not taken from
the package under test."""

from __future__ import annotations

import json
import math
import socket
from importlib import resources
from typing import Any

import pytest

from streams import topics
from streams.contract import decode_record
from streams.sentiment_scoring import Scorer, label_of, sentiment_event_id

MESSAGE = {"event_id": "m1", "type": "chat.message", "time": "2026-03-02T09:00:00+01:00", "contact_id": "c1",
           "customer_id": "u1", "queue": "billing", "channel": "chat", "sender": "customer", "text": "great"}  # fmt: skip
SURVEY = {"event_id": "s1", "type": "survey.submitted", "time": "2026-03-02T09:30:00Z", "contact_id": "c1", "csat": 2,
          "comment": "The service was bad"}  # fmt: skip


def raw(*documents: dict[str, Any]) -> bytes:
    return json.dumps(documents[0] if len(documents) == 1 else list(documents)).encode()


def vader_normalised(valence: float) -> float:
    return round(valence / math.sqrt(valence * valence + 15), 4)


@pytest.mark.parametrize(
    ("score", "label"),
    [(1.0, "positive"), (0.05, "positive"), (0.0499, "neutral"), (0.0, "neutral"), (-0.0499, "neutral"),
     (-0.05, "negative"), (-1.0, "negative")],
)  # fmt: skip
def test_labels_follow_vaders_thresholds_at_plus_minus_0_05(score: float, label: str) -> None:
    assert label_of(score) == label


def test_one_lexicon_word_scores_its_normalised_valence() -> None:
    scorer = Scorer()
    assert scorer.score("great") == vader_normalised(3.1) == 0.6249  # lexicon: great 3.1
    assert scorer.score("thanks") == vader_normalised(1.9) == 0.4404  # lexicon: thanks 1.9
    assert scorer.score("The service was bad") == vader_normalised(-2.5) == -0.5423  # lexicon: bad -2.5


def test_a_customers_message_becomes_a_valid_chat_sentiment_with_its_fields() -> None:
    [event] = Scorer().record(raw(MESSAGE), topics.CHATS).events
    assert event == {
        "event_id": sentiment_event_id("chat.message", "m1"), "type": "chat.sentiment", "time": MESSAGE["time"],
        "contact_id": "c1", "customer_id": "u1", "queue": "billing", "channel": "chat", "message_event_id": "m1",
        "scored_type": "chat.message", "score": 0.6249, "label": "positive",
    }  # fmt: skip
    [folded] = decode_record(raw(event), topics.CHATS).items
    assert (folded.type, folded.score, folded.label) == ("chat.sentiment", 0.6249, "positive")  # type: ignore[union-attr]


def test_the_event_id_is_the_same_for_the_same_message_and_differs_otherwise() -> None:
    assert sentiment_event_id("chat.message", "m1") == sentiment_event_id("chat.message", "m1")
    ids = {sentiment_event_id(kind, event_id) for kind in ("chat.message", "survey.submitted") for event_id in ("m1", "m2")}
    assert len(ids) == 4 and all(len(i) <= 200 for i in ids)
    assert Scorer().record(raw(MESSAGE), topics.CHATS).events == Scorer().record(raw(MESSAGE), topics.CHATS).events


def test_a_survey_comment_is_scored_with_the_surveys_time_and_no_invented_queue() -> None:
    [event] = Scorer().record(raw(SURVEY), topics.SURVEYS).events
    assert (event["scored_type"], event["time"], event["score"], event["label"]) == ("survey.submitted", SURVEY["time"], -0.5423, "negative")
    assert "queue" not in event and "channel" not in event and "customer_id" not in event
    assert Scorer(survey_comments=False).record(raw(SURVEY), topics.SURVEYS).events == []
    without = {k: v for k, v in SURVEY.items() if k != "comment"}
    assert Scorer().record(raw(without), topics.SURVEYS).events == [] and not Scorer().record(raw(without), topics.SURVEYS).skipped


def test_agents_empty_texts_and_invalid_messages_are_skipped_with_their_reason() -> None:
    offered = {"event_id": "o1", "type": "contact.offered", "time": "2026-03-02T09:00:00Z", "contact_id": "c1",
               "queue": "billing", "channel": "chat"}  # fmt: skip
    scored = Scorer().record(
        raw(MESSAGE, {**MESSAGE, "sender": "agent"}, {**MESSAGE, "text": " \n"}, {**MESSAGE, "time": "2026-02-30T09:00:00Z"},
            {k: v for k, v in MESSAGE.items() if k != "text"}, offered),
        topics.CHATS,
    )  # fmt: skip
    assert len(scored.events) == 1 and scored.skipped == ["agent", "empty", "invalid", "invalid"]
    assert Scorer().record(b"not json", topics.CHATS).skipped == ["invalid"]
    assert Scorer().record(raw(offered), topics.CHATS).skipped == []  # not a message: passed over silently


def test_its_own_scores_on_cx_chats_are_passed_over() -> None:
    [event] = Scorer().record(raw(MESSAGE), topics.CHATS).events
    again = Scorer().record(raw(event), topics.CHATS)
    assert again.events == [] and again.skipped == []


def test_scoring_needs_no_network_the_lexicon_ships_in_the_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    files = resources.files("vaderSentiment")
    assert files.joinpath("vader_lexicon.txt").is_file() and files.joinpath("emoji_utf8_lexicon.txt").is_file()

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the scorer tried to open a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert Scorer().score("thanks") == 0.4404
