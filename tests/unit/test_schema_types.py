"""The compiled decoders accept exactly what the published JSON Schema files accept.

The oracle is an independent JSON Schema validator (jsonschema-rs) run on the schema files
themselves, plus the one rule a schema cannot state (the date is a real calendar date). Documents are
valid events with random damage: fields dropped, replaced by values of every JSON type (including the
edges: 4.0 for an integer, negative numbers, empty and over-long strings, nulls), times in tricky
spellings, and unknown fields added.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams import topics
from streams.contract import AGENT_SCHEMA_FILE, CONTACT_SCHEMA_FILE, SURVEY_SCHEMA_FILE, InvalidEvent, decode_record
from streams.schema_types import SchemaNotUnderstood, compile_schema, load_schema

CONTACT = {"event_id": "e1", "type": "contact.answered", "time": "2026-03-01T10:00:05+02:00", "contact_id": "c1",
           "customer_id": "u1", "queue": "billing", "channel": "voice", "agent_id": "a7", "wait_s": 12.5}  # fmt: skip
SURVEY = {"event_id": "s1", "type": "survey.submitted", "time": "2026-03-01T10:00:00Z", "contact_id": "c1",
          "csat": 4, "nps": 9, "ces": 2, "resolved": True}  # fmt: skip
AGENT = {"event_id": "g1", "type": "agent.state_changed", "time": "2026-03-01T10:00:00Z", "agent_id": "a7",
         "state": "aux", "reason": "break", "queues": ["billing", "sales"], "channel": "chat", "capacity": 3}  # fmt: skip
TIMES = [
    "2026-03-01T10:00:05Z", "2026-03-01t10:00:05z", "2026-03-01 10:00:05.123456+05:30", "2026-03-01T10:00:05",
    "2026-02-30T10:00:05Z", "2026-03-01T25:00:05Z", "2026-3-1T10:00:05Z", "2026-03-01T10:00:05+0200",
    "2026-03-01T10:00:05Z\n", " 2026-03-01T10:00:05Z", "2026-03-01T10:00:05.Z", "yesterday", "",
]  # fmt: skip
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 12), st.sampled_from([4.0, 4.5, -0.0, -1.5, 1e300, 0.001]),
    st.text(max_size=5), st.sampled_from(["x" * 200, "x" * 201, "x" * 50, "x" * 51, "contact.offered"]),
    st.sampled_from(TIMES), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip


def real_date(text: str) -> bool:
    """The calendar part of an RFC 3339 time, checked without the code under test's parser."""
    match = re.match(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})", text)
    if match is None:
        return False
    try:
        datetime(*(int(part) for part in match.groups()))
    except ValueError:
        return False
    return True


def damaged(template: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    names = sorted(template) + ["wait_s", "talk_s", "hold_s", "acw_s", "csat", "nps", "ces", "resolved", "extra",
                                "state", "queues", "type"]  # fmt: skip
    change = st.tuples(st.sampled_from(names), st.one_of(st.just("drop"), ODD_VALUES.map(lambda v: ("set", v))))
    return st.lists(change, max_size=3).map(lambda changes: apply_changes(template, changes))


def apply_changes(template: dict[str, Any], changes: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(template)
    for name, change in changes:
        if change == "drop":
            document.pop(name, None)
        else:
            document[name] = change[1]
    return document


def verdicts(document: dict[str, Any], schema_file: str, topic: str) -> tuple[bool, bool]:
    oracle = jsonschema_rs.validator_for(load_schema(schema_file))
    expected = oracle.is_valid(document) and real_date(document["time"])
    try:
        decode_record(json.dumps(document).encode(), topic)
    except InvalidEvent:
        return expected, False
    return expected, True


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged(CONTACT))
def test_contact_events_are_judged_as_the_schema_judges_them(document: dict[str, Any]) -> None:
    expected, accepted = verdicts(document, CONTACT_SCHEMA_FILE, topics.CALLS)
    assert accepted == expected, document


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged(SURVEY))
def test_survey_events_are_judged_as_the_schema_judges_them(document: dict[str, Any]) -> None:
    expected, accepted = verdicts(document, SURVEY_SCHEMA_FILE, topics.SURVEYS)
    assert accepted == expected, document


AGENT_VALUES = st.sampled_from(
    [["sales"], [], ["x" * 201], [""], ["a"] * 101, "agent.queues_changed", "agent.state_changed", "available", "idle"]
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["queues", "state", "type", "capacity"]), AGENT_VALUES), max_size=2), damaged(AGENT))
def test_agent_events_are_judged_as_the_schema_and_its_description_judge_them(
    extra: list[tuple[str, Any]], document: dict[str, Any]
) -> None:
    document.update(extra)
    expected, accepted = verdicts(document, AGENT_SCHEMA_FILE, topics.AGENTS)
    # The schema's description: each type needs its own property (no conditionals in the file).
    kind = document.get("type")
    needed = {"agent.state_changed": "state", "agent.queues_changed": "queues"}.get(kind) if isinstance(kind, str) else None
    assert accepted == (expected and (needed is None or needed in document)), document


@pytest.mark.parametrize(
    ("document", "accepted"),
    [
        ({**SURVEY, "csat": 4.0}, True),  # JSON Schema's integer includes 4.0
        ({**SURVEY, "csat": 4.5}, False),
        ({k: v for k, v in SURVEY.items() if k not in ("csat", "nps", "ces", "resolved")}, False),  # anyOf: one answer
        ({**CONTACT, "wait_s": None}, False),  # optional is not nullable
        ({**CONTACT, "customer_id": None}, True),  # but this one is
        ({**CONTACT, "wait_s": True}, False),  # a boolean is not a number
        ({**CONTACT, "anything": [1, 2]}, True),  # unknown fields are allowed
    ],
)
def test_the_edges_worked_out_by_hand(document: dict[str, Any], accepted: bool) -> None:
    topic = topics.SURVEYS if document["type"] == "survey.submitted" else topics.CALLS
    schema_file = SURVEY_SCHEMA_FILE if topic == topics.SURVEYS else CONTACT_SCHEMA_FILE
    assert verdicts(document, schema_file, topic) == (accepted, accepted)


def test_a_schema_feature_it_cannot_check_fails_at_import_rather_than_being_ignored() -> None:
    schema = load_schema(CONTACT_SCHEMA_FILE)
    with pytest.raises(SchemaNotUnderstood, match="additionalProperties"):
        compile_schema({**schema, "additionalProperties": False}, "Strict")
    properties = {**schema["properties"], "wait_s": {"type": "number", "multipleOf": 0.5}}
    with pytest.raises(SchemaNotUnderstood, match="multipleOf"):
        compile_schema({**schema, "properties": properties}, "Stepped")
