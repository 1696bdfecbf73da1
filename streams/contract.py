"""Contract v1: the JSON Schema files in ``schemas/`` are the definition; this module enforces them.

Validation is compiled once with fastjsonschema so that checking every event stays cheap
(a few microseconds) on the worker's hot path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Callable, Final, Literal, NamedTuple, get_args

import fastjsonschema
import orjson

from kpis.event import Event
from streams import topics

CONTACT_TYPES: Final = frozenset(
    {
        "contact.offered",
        "contact.answered",
        "contact.abandoned",
        "contact.ended",
        "contact.wrapup_ended",
    }
)
SURVEY_TYPE: Final = "survey.submitted"


InvalidKind = Literal["empty", "not_json", "not_object", "schema", "time"]
INVALID_KINDS: tuple[InvalidKind, ...] = get_args(InvalidKind)


class InvalidEvent(ValueError):
    """An event that does not parse or does not satisfy the contract.

    ``kind`` is a short, fixed word (a metric label); the message is the full reason for a person.
    """

    def __init__(self, kind: InvalidKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def load_schema(name: str) -> dict[str, Any]:
    text = resources.files("streams").joinpath("schemas", name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


CONTACT_SCHEMA_FILE: Final = "contact-event.v1.schema.json"
SURVEY_SCHEMA_FILE: Final = "survey-event.v1.schema.json"

_validate_contact: Callable[[Any], Any] = fastjsonschema.compile(load_schema(CONTACT_SCHEMA_FILE))
_validate_survey: Callable[[Any], Any] = fastjsonschema.compile(load_schema(SURVEY_SCHEMA_FILE))


def parse_time(text: str) -> float:
    """RFC 3339 with an offset to epoch seconds; a naive time is refused because its zone is a guess."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidEvent("time", f"time: not an RFC 3339 date-time: {text!r}") from exc
    if moment.tzinfo is None:
        raise InvalidEvent("time", f"time: missing UTC offset: {text!r}")
    return moment.timestamp()


def validate(document: Any, topic: str) -> Event:
    """Check a decoded JSON document against the schema of its topic and build the Event."""
    validator = _validate_survey if topic == topics.SURVEYS else _validate_contact
    try:
        validator(document)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise InvalidEvent("schema", f"schema: {exc.message}") from exc
    return Event(
        event_id=document["event_id"],
        type=document["type"],
        time=parse_time(document["time"]),
        contact_id=document["contact_id"],
        customer_id=document.get("customer_id"),
        queue=document.get("queue"),
        channel=document.get("channel"),
        agent_id=document.get("agent_id"),
        fields=document,
    )


@dataclass(slots=True, frozen=True)
class Rejected:
    """One event of a batched record that is not valid: dead-lettered alone, its neighbours counted."""

    index: int
    element: Any
    error: InvalidEvent


def _parse(raw: bytes | None) -> Any:
    if raw is None:
        raise InvalidEvent("empty", "empty record value")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("not_json", f"not JSON: {exc}") from exc


class RecordEvents(NamedTuple):
    items: list[Event | Rejected]
    batched: bool


def decode_record(raw: bytes | None, topic: str) -> RecordEvents:
    """A record's events: one JSON object, or an array of them (producer-side batching, which spares
    the stream framework's per-record cost). A record that is not JSON, or neither an object nor an
    array, raises InvalidEvent as a whole; in an array each element is judged on its own."""
    document = _parse(raw)
    if isinstance(document, dict):
        return RecordEvents([validate(document, topic)], batched=False)
    if not isinstance(document, list):
        raise InvalidEvent("not_object", f"not a JSON object or array but {type(document).__name__}")
    events: list[Event | Rejected] = []
    for index, element in enumerate(document):
        try:
            if not isinstance(element, dict):
                raise InvalidEvent("not_object", f"not a JSON object but {type(element).__name__}")
            events.append(validate(element, topic))
        except InvalidEvent as exc:
            events.append(Rejected(index, element, InvalidEvent(exc.kind, f"array element {index}: {exc}")))
    return RecordEvents(events, batched=True)


def record_key(event: dict[str, Any]) -> bytes:
    """The record key of contract v1: the customer id, or the contact id when the customer is unknown."""
    key = event.get("customer_id") or event["contact_id"]
    return str(key).encode("utf-8")
