import json

import pytest

from streams import topics
from kpis.event import AgentEvent
from streams.contract import Event, InvalidEvent, Rejected, decode_record, parse_time, record_key
from tests.events import contact_event, decode


def test_valid_contact_event_parses_with_epoch_time() -> None:
    raw = json.dumps(
        {"event_id": "e1", "type": "contact.answered", "time": "2026-03-01T10:00:05+02:00", "contact_id": "c1",
         "customer_id": None, "queue": "billing", "channel": "voice", "agent_id": "a7", "wait_s": 12.5}
    ).encode()
    event = decode(raw, topics.CALLS)
    assert event.time == 1772352005.0  # 08:00:05 UTC, worked out by hand
    assert event.wait_s == 12.5
    assert event.agent_id == "a7" and event.customer_id is None


@pytest.mark.parametrize(
    ("raw", "kind", "fragment"),
    [
        (b"{not json", "not_json", "not JSON"),
        (b'"text"', "not_object", "not a JSON object or array"),
        (b"\xff\xfe", "not_json", "not JSON"),
        (json.dumps({"type": "contact.offered"}).encode(), "schema", "missing required field `event_id`"),
    ],
)
def test_undecodable_records_name_the_problem(raw: bytes, kind: str, fragment: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode(raw, topics.CALLS)
    assert caught.value.kind == kind
    assert fragment in str(caught.value)


def test_empty_value_is_invalid() -> None:
    with pytest.raises(InvalidEvent, match="empty"):
        decode(None, topics.CALLS)


def test_schema_violation_names_the_field() -> None:
    event = contact_event("answered", "c1", 0.0, wait_s=-3)
    with pytest.raises(InvalidEvent, match="wait_s"):
        decode(json.dumps(event).encode(), topics.CALLS)


def test_unknown_type_is_refused() -> None:
    event = contact_event("escalated", "c1", 0.0)
    with pytest.raises(InvalidEvent, match="type"):
        decode(json.dumps(event).encode(), topics.CALLS)


def test_time_without_offset_is_refused() -> None:
    event = contact_event("offered", "c1", 0.0)
    event["time"] = "2026-03-01T10:00:05"
    with pytest.raises(InvalidEvent, match="time"):
        decode(json.dumps(event).encode(), topics.CALLS)


def test_impossible_date_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="time"):
        parse_time("2026-02-30T10:00:00Z")


def test_survey_needs_an_answer_but_not_a_queue() -> None:
    survey = {"event_id": "s1", "type": "survey.submitted", "time": "2026-03-01T10:00:00Z", "contact_id": "c1"}
    with pytest.raises(InvalidEvent, match="schema"):
        decode(json.dumps(survey).encode(), topics.SURVEYS)
    event = decode(json.dumps({**survey, "csat": 4}).encode(), topics.SURVEYS)
    assert event.queue is None and event.answers == {"csat": 4}


def test_survey_scores_are_range_checked() -> None:
    survey = {"event_id": "s1", "type": "survey.submitted", "time": "2026-03-01T10:00:00Z", "contact_id": "c1", "nps": 11}
    with pytest.raises(InvalidEvent, match="nps"):
        decode(json.dumps(survey).encode(), topics.SURVEYS)


def test_contact_event_on_the_survey_topic_is_refused() -> None:
    with pytest.raises(InvalidEvent):
        decode(json.dumps(contact_event("offered", "c1", 0.0)).encode(), topics.SURVEYS)


def test_record_key_is_customer_then_contact() -> None:
    assert record_key({"contact_id": "c9", "customer_id": "u1"}) == b"u1"
    assert record_key({"contact_id": "c9", "customer_id": None}) == b"c9"


def test_a_batched_record_yields_its_events_and_judges_each_alone() -> None:
    good = contact_event("offered", "c1", 0.0)
    bad = {"type": "contact.offered"}
    raw = json.dumps([good, bad, 7, {**good, "event_id": "other"}]).encode()
    decoded = decode_record(raw, topics.CALLS)
    assert decoded.batched
    first, second, third, fourth = decoded.items
    assert isinstance(first, Event) and first.event_id == good["event_id"]
    assert isinstance(second, Rejected) and second.index == 1 and json.loads(second.element) == bad
    assert second.error.kind == "schema" and str(second.error).startswith("array element 1: schema:")
    assert isinstance(third, Rejected) and third.error.kind == "not_object"
    assert isinstance(fourth, Event) and fourth.event_id == "other"


def test_a_one_event_record_is_not_batched_and_an_empty_array_holds_nothing() -> None:
    assert not decode_record(json.dumps(contact_event("offered", "c1", 0.0)).encode(), topics.CALLS).batched
    assert decode_record(b"[]", topics.CALLS).items == []


def test_nesting_too_deep_to_decode_is_refused_not_raised() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(InvalidEvent) as caught:
        decode_record(deep, topics.CALLS)
    assert caught.value.kind == "not_json" and "nested too deeply" in str(caught.value)
    with pytest.raises(InvalidEvent, match="nested too deeply"):
        decode_record(b'[{"event_id": ' + deep + b"}]", topics.CALLS)


def test_lowercase_t_and_z_are_rfc_3339() -> None:
    assert parse_time("2026-03-01t10:00:05z") == parse_time("2026-03-01T10:00:05Z") == 1772359205.0


def test_text_that_is_not_json_is_named_so_even_when_a_field_before_the_break_is_invalid() -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode(b'{"event_id": "broken", "type": "contact.offered", "time": "yesterday"', topics.CALLS)
    assert caught.value.kind == "not_json"


def _agent(**fields: object) -> bytes:
    return json.dumps({"event_id": "a1", "type": "agent.state_changed", "time": "2026-12-02T09:00:00Z", "agent_id": "ann", **fields}).encode()


def test_agent_event_carries_state_reason_and_queues() -> None:
    (event,) = decode_record(_agent(state="aux", reason="break", queues=["sales", "sales", "billing"]), topics.AGENTS).items
    assert isinstance(event, AgentEvent)
    assert (event.agent_id, event.state, event.reason, event.queues) == ("ann", "aux", "break", ("sales", "billing"))
    assert event.time == 1796202000.0  # 2026-12-02T09:00:00Z worked out: 20,789 days * 86,400 + 9 h


def test_agent_state_change_needs_a_state_and_queue_change_needs_queues() -> None:
    with pytest.raises(InvalidEvent, match="state"):
        decode_record(_agent(), topics.AGENTS)
    with pytest.raises(InvalidEvent, match="queues"):
        decode_record(_agent(type="agent.queues_changed", state="available"), topics.AGENTS)
    with pytest.raises(InvalidEvent, match="state"):
        decode_record(_agent(state="sleeping"), topics.AGENTS)
    with pytest.raises(InvalidEvent, match="queues"):
        decode_record(_agent(state="available", queues="sales"), topics.AGENTS)


def test_agent_events_are_keyed_by_agent() -> None:
    assert record_key({"type": "agent.state_changed", "agent_id": "ann", "event_id": "x"}) == b"ann"
