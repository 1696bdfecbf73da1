"""chat.message and chat.sentiment on cx.chats, survey comments: judged as the schema files judge them
(jsonschema-rs as the oracle, plus the per-type fields the chat schema's descriptions require)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.publisher import topic_of
from streams import topics
from streams.contract import CHAT_SCHEMA_FILE, CONTACT_SCHEMA_FILE, InvalidEvent, Rejected, decode_record, record_key
from streams.schema_types import load_schema
from tests.events import decode
from tests.unit.test_schema_types import ODD_VALUES, apply_changes, real_date

MESSAGE = {"event_id": "m1", "type": "chat.message", "time": "2026-03-01T10:00:05Z", "contact_id": "c1",
           "customer_id": "u1", "queue": "billing", "channel": "chat", "sender": "customer", "text": "Still waiting :("}  # fmt: skip
SENTIMENT = {"event_id": "s1", "type": "chat.sentiment", "time": "2026-03-01T10:00:05Z", "contact_id": "c1",
             "message_event_id": "m1", "score": -0.4404, "label": "negative"}  # fmt: skip
NEEDED = {"chat.message": ("sender", "text"), "chat.sentiment": ("message_event_id", "score", "label")}
CHAT_VALUES = st.one_of(
    ODD_VALUES, st.sampled_from(["customer", "agent", "bot", "chat.message", "chat.sentiment", "positive", "x" * 4001,
                                 -1, 1, -1.0001, 1.0001, "contact.offered"]),
)  # fmt: skip
CHAT_NAMES = ["event_id", "type", "time", "contact_id", "customer_id", "queue", "channel", "sender", "text",
              "message_event_id", "score", "label", "scored_type"]  # fmt: skip


def accepted(document: dict[str, Any], topic: str = topics.CHATS) -> bool:
    try:
        decode_record(json.dumps(document).encode(), topic)
    except InvalidEvent:
        return False
    return True


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([MESSAGE, SENTIMENT]), st.lists(st.tuples(st.sampled_from(CHAT_NAMES),
       st.one_of(st.just("drop"), CHAT_VALUES.map(lambda v: ("set", v)))), max_size=3))  # fmt: skip
def test_chat_topic_events_are_judged_as_the_two_schemas_judge_them(template: dict[str, Any], changes: list[Any]) -> None:
    document = apply_changes(template, changes)
    chat = jsonschema_rs.validator_for(load_schema(CHAT_SCHEMA_FILE)).is_valid(document)
    kind = document.get("type")
    chat = chat and all(name in document for name in NEEDED.get(kind, ()) if isinstance(kind, str))
    contact = jsonschema_rs.validator_for(load_schema(CONTACT_SCHEMA_FILE)).is_valid(document)
    expected = (chat or contact) and isinstance(document.get("time"), str) and real_date(document["time"])
    assert accepted(document) == expected, document


def test_a_message_is_an_event_the_fold_can_ignore_and_a_score_carries_score_and_label() -> None:
    message = decode(json.dumps(MESSAGE).encode(), topics.CHATS)
    assert (message.type, message.contact_id, message.queue, message.score) == ("chat.message", "c1", "billing", None)
    score = decode(json.dumps(SENTIMENT).encode(), topics.CHATS)
    assert (score.type, score.queue, score.score, score.label) == ("chat.sentiment", None, -0.4404, "negative")


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({k: v for k, v in MESSAGE.items() if k != "text"}, "`text` (chat.message)"),
        ({k: v for k, v in SENTIMENT.items() if k != "label"}, "`label` (chat.sentiment)"),
        ({**MESSAGE, "sender": "bot"}, "$.sender"),
        ({**MESSAGE, "text": "x" * 4001}, "$.text"),
        ({**SENTIMENT, "score": 1.5}, "$.score"),
        ({k: v for k, v in {**MESSAGE, "type": "contact.offered"}.items() if k != "queue"}, "`queue`"),
    ],
)
def test_a_bad_chat_event_is_refused_against_the_schema_its_type_names(document: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidEvent, match="schema") as refused:
        decode_record(json.dumps(document).encode(), topics.CHATS)
    assert reason in str(refused.value)


def test_chat_events_belong_on_cx_chats_only() -> None:
    assert not accepted(MESSAGE, topics.CALLS)
    assert not accepted(SENTIMENT, topics.SURVEYS)
    assert topic_of(MESSAGE) == topic_of(SENTIMENT) == topics.CHATS
    assert record_key(MESSAGE) == b"u1" and record_key(SENTIMENT) == b"c1"


def test_a_survey_may_carry_a_comment_of_up_to_4000_characters_but_not_instead_of_an_answer() -> None:
    survey = {"event_id": "s1", "type": "survey.submitted", "time": "2026-03-01T10:00:00Z", "contact_id": "c1", "csat": 2}
    assert accepted({**survey, "comment": "x" * 4000}, topics.SURVEYS)
    assert not accepted({**survey, "comment": "x" * 4001}, topics.SURVEYS)
    assert not accepted({k: v for k, v in survey.items() if k != "csat"} | {"comment": "meh"}, topics.SURVEYS)


def test_a_batched_record_mixes_contact_and_chat_events() -> None:
    offered = {"event_id": "o1", "type": "contact.offered", "time": "2026-03-01T10:00:00Z", "contact_id": "c1",
               "customer_id": "u1", "queue": "billing", "channel": "chat"}  # fmt: skip
    items = decode_record(json.dumps([offered, MESSAGE, {**MESSAGE, "sender": None}]).encode(), topics.CHATS).items
    assert [getattr(item, "type", None) for item in items[:2]] == ["contact.offered", "chat.message"]
    assert isinstance(items[2], Rejected) and items[2].index == 2


def test_the_ingest_door_accepts_chat_events_and_refuses_bad_ones() -> None:
    from api.ingest_http import check

    check(dict(MESSAGE))
    check(dict(SENTIMENT))
    with pytest.raises(InvalidEvent, match="`text`"):
        check({k: v for k, v in MESSAGE.items() if k != "text"})
