"""Contract v1: the JSON Schema files in ``schemas/`` are the definition; this module enforces them.

Each schema is compiled into a msgspec struct type (streams/schema_types.py), so a record is decoded
and validated in one pass, the cost that matters on the worker's hot path at one event per record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, NamedTuple, get_args

import msgspec
import orjson

from kpis.event import AccountEvent, AgentEvent, Decoded, Event, TicketEvent
from kpis.scales import SURVEY_SCALES
from streams import topics
from streams.schema_types import Compiled, compile_schema, load_schema

CONTACT_TYPES: Final = frozenset(
    {
        "contact.offered",
        "contact.answered",
        "contact.abandoned",
        "contact.ended",
        "contact.wrapup_ended",
        "contact.ringing",
        "contact.missed",
        "contact.transferred",
    }
)
SURVEY_TYPE: Final = "survey.submitted"
CHAT_MESSAGE: Final = "chat.message"
CHAT_SENTIMENT: Final = "chat.sentiment"
CHAT_TYPES: Final = frozenset({CHAT_MESSAGE, CHAT_SENTIMENT})
AGENT_TYPES: Final = frozenset({"agent.state_changed", "agent.queues_changed"})
TICKET_TYPES: Final = frozenset({"ticket.created", "ticket.first_response", "ticket.resolved", "ticket.reopened"})
ACCOUNT_TYPES: Final = frozenset({"customer.joined", "customer.churned", "customer.purchase"})


InvalidKind = Literal["empty", "not_json", "not_object", "schema", "time"]
INVALID_KINDS: tuple[InvalidKind, ...] = get_args(InvalidKind)


class InvalidEvent(ValueError):
    """An event that does not parse or does not satisfy the contract.

    ``kind`` is a short, fixed word (a metric label); the message is the full reason for a person.
    """

    def __init__(self, kind: InvalidKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


CONTACT_SCHEMA_FILE: Final = "contact-event.v1.schema.json"
SURVEY_SCHEMA_FILE: Final = "survey-event.v1.schema.json"
AGENT_SCHEMA_FILE: Final = "agent-event.v1.schema.json"
CHAT_SCHEMA_FILE: Final = "chat-event.v1.schema.json"
TICKET_SCHEMA_FILE: Final = "ticket-event.v1.schema.json"
ACCOUNT_SCHEMA_FILE: Final = "account-event.v1.schema.json"

CONTACT: Final = compile_schema(load_schema(CONTACT_SCHEMA_FILE), "ContactEvent")
SURVEY: Final = compile_schema(load_schema(SURVEY_SCHEMA_FILE), "SurveyEvent")
AGENT: Final = compile_schema(load_schema(AGENT_SCHEMA_FILE), "AgentEvent")
CHAT: Final = compile_schema(load_schema(CHAT_SCHEMA_FILE), "ChatEvent")
# What each chat event type must carry beyond the schema's common fields (see check_chat).
_CHAT_REQUIRED: Final = {CHAT_MESSAGE: ("sender", "text"), CHAT_SENTIMENT: ("message_event_id", "score", "label")}
TICKET: Final = compile_schema(load_schema(TICKET_SCHEMA_FILE), "TicketEvent")
ACCOUNT: Final = compile_schema(load_schema(ACCOUNT_SCHEMA_FILE), "AccountEvent")
_ANSWERS: Final = (*(scale.name for scale in SURVEY_SCALES), "resolved")
_UNSET: Final = msgspec.UNSET


def parse_time(text: str) -> float:
    """RFC 3339 with an offset to epoch seconds; a naive time is refused because its zone is a guess."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.upper())  # RFC 3339 allows "t" and "z"; Python does not
        except ValueError as exc:
            raise InvalidEvent("time", f"time: not an RFC 3339 date-time: {text!r}") from exc
    if moment.tzinfo is None:
        raise InvalidEvent("time", f"time: missing UTC offset: {text!r}")
    return moment.timestamp()


_BY_TOPIC: Final = {topics.AGENTS: AGENT, topics.SURVEYS: SURVEY, topics.TICKETS: TICKET, topics.ACCOUNTS: ACCOUNT}


def _compiled(topic: str) -> Compiled:
    return _BY_TOPIC.get(topic, CONTACT)


def _event(document: Any, compiled: Compiled) -> Decoded:
    problem = compiled.check(document)
    if problem is not None:
        raise InvalidEvent("schema", f"schema: {problem}")
    if compiled is AGENT:
        return _agent_event(document)
    if compiled is CHAT:
        check_chat(document)
    if compiled is TICKET:
        return _ticket_event(document)
    if compiled is ACCOUNT:
        return _account_event(document)
    customer_id, queue, channel, agent_id = document.customer_id, document.queue, document.channel, document.agent_id
    event = Event(
        document.event_id,
        document.type,
        parse_time(document.time),
        document.contact_id,
        None if customer_id is _UNSET else customer_id,
        None if queue is _UNSET else queue,
        None if channel is _UNSET else channel,
        None if agent_id is _UNSET else agent_id,
    )
    if compiled is CHAT:
        if document.type == CHAT_SENTIMENT:
            event.score, event.label = document.score, document.label
    elif compiled is SURVEY:
        event.answers = {
            name: int(value) if name in compiled.integers else value
            for name in _ANSWERS
            if (value := getattr(document, name)) is not _UNSET
        }
    else:
        wait_s, talk_s, hold_s, acw_s = document.wait_s, document.talk_s, document.hold_s, document.acw_s
        event.wait_s = None if wait_s is _UNSET else wait_s
        event.talk_s = None if talk_s is _UNSET else talk_s
        event.hold_s = None if hold_s is _UNSET else hold_s
        event.acw_s = None if acw_s is _UNSET else acw_s
    return event


def check_chat(document: Any) -> None:
    """What draft 7 cannot say without conditionals: a message has its sender and text, a score its
    message, score and label. The agent schema's precedent: one schema file per topic family."""
    for name in _CHAT_REQUIRED[document.type]:
        if getattr(document, name) is _UNSET:
            raise InvalidEvent("schema", f"schema: Object missing required field `{name}` ({document.type})")


def _agent_event(document: Any) -> AgentEvent:
    """The rule JSON Schema draft 7 cannot say without conditionals (which schema_types does not
    compile): what each type of agent event must carry."""
    state, queues = document.state, document.queues
    if document.type == "agent.state_changed" and state is _UNSET:
        raise InvalidEvent("schema", "schema: Object missing required field `state` (agent.state_changed)")
    if document.type == "agent.queues_changed" and queues is _UNSET:
        raise InvalidEvent("schema", "schema: Object missing required field `queues` (agent.queues_changed)")
    event = AgentEvent(document.event_id, document.type, parse_time(document.time), document.agent_id)
    if state is not _UNSET:
        event.state = state
        reason = document.reason
        event.reason = None if reason is _UNSET else reason
        contact_id, contact_queue = document.contact_id, document.queue
        event.contact_id = None if contact_id is _UNSET else contact_id
        event.contact_queue = None if contact_queue is _UNSET else contact_queue
    if queues is not _UNSET:
        event.queues = tuple(dict.fromkeys(queues))
    channel, capacity, name = document.channel, document.capacity, document.agent_name
    event.channel = None if channel is _UNSET else channel
    event.capacity = None if capacity is _UNSET else int(capacity)
    event.name = None if name is _UNSET else name
    return event


def _optional(value: Any) -> Any:
    """A property's value, None when absent (msgspec's UNSET) or null."""
    return None if value is _UNSET else value


def _ticket_event(document: Any) -> TicketEvent:
    return TicketEvent(
        document.event_id, document.type, parse_time(document.time), document.ticket_id,
        _optional(document.customer_id), _optional(document.queue), _optional(document.channel),
        _optional(document.category), _optional(document.complaint),
    )  # fmt: skip


def _account_event(document: Any) -> AccountEvent:
    """A purchase must say how much (draft 7 cannot require it for one type without conditionals)."""
    amount = _optional(document.amount)
    if document.type == "customer.purchase" and amount is None:
        raise InvalidEvent("schema", "schema: Object missing required field `amount` (customer.purchase)")
    return AccountEvent(
        document.event_id, document.type, parse_time(document.time), document.customer_id, amount,
        _optional(document.currency),
    )  # fmt: skip


def _decode_object(raw: bytes, compiled: Compiled, chats: bool) -> Decoded:
    try:
        document = compiled.decoder.decode(raw)
    except msgspec.ValidationError as exc:
        _refuse_if_not_json(raw)  # validation stops at the first bad field, before the end of the text
        if chats:
            return _decode_chat(raw, exc)
        raise InvalidEvent("schema", f"schema: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise InvalidEvent("not_json", f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidEvent("not_json", "not JSON that can be read: nested too deeply") from exc
    return _event(document, compiled)


def _decode_chat(raw: bytes, contact_problem: msgspec.ValidationError) -> Decoded:
    """cx.chats carries contact events and chat events (two schemas, since their required fields
    differ). Contact events are the hot path and are tried first; msgspec stops at the first bad
    field, and ``type`` comes early, so a chat event costs little more than its own decoding. An
    event valid under neither is reported against the schema its ``type`` names."""
    try:
        document = CHAT.decoder.decode(raw)
    except msgspec.ValidationError as exc:
        named = orjson.loads(raw)
        chat_typed = isinstance(named, dict) and _is_chat_type(named.get("type"))
        raise InvalidEvent("schema", f"schema: {exc if chat_typed else contact_problem}") from exc
    return _event(document, CHAT)


def _is_chat_type(kind: Any) -> bool:
    return isinstance(kind, str) and kind in CHAT_TYPES


def _refuse_if_not_json(raw: bytes) -> None:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("not_json", f"not JSON: {exc}") from exc


def validate(document: Any, topic: str) -> Decoded:
    """Check a decoded JSON document (a dict) against the schema of its topic and build the Event."""
    compiled = _compiled(topic)
    if topic == topics.CHATS and isinstance(document, dict) and _is_chat_type(document.get("type")):
        compiled = CHAT
    try:
        return _event(msgspec.convert(document, compiled.struct), compiled)
    except msgspec.ValidationError as exc:
        raise InvalidEvent("schema", f"schema: {exc}") from exc


@dataclass(slots=True, frozen=True)
class Rejected:
    """One event of a batched record that is not valid: dead-lettered alone, its neighbours counted."""

    index: int
    element: bytes  # its JSON text, as it was in the record
    error: InvalidEvent


class RecordEvents(NamedTuple):
    items: list[Decoded | Rejected]
    batched: bool


_ELEMENTS: Final = msgspec.json.Decoder(list[msgspec.Raw])


def decode_record(raw: bytes | None, topic: str) -> RecordEvents:
    """A record's events: one JSON object, or an array of them (producer-side batching, which spares
    the stream framework's per-record cost). A record that is not JSON, or neither an object nor an
    array, raises InvalidEvent as a whole; in an array each element is judged on its own."""
    if raw is None:
        raise InvalidEvent("empty", "empty record value")
    compiled = _compiled(topic)
    chats = topic == topics.CHATS
    opening = raw[:1] if raw[:1] in (b"{", b"[") else raw.lstrip()[:1]
    if opening == b"{":
        return RecordEvents([_decode_object(raw, compiled, chats)], batched=False)
    if opening != b"[":
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidEvent("not_json", f"not JSON: {exc}") from exc
        raise InvalidEvent("not_object", f"not a JSON object or array but {type(document).__name__}")
    events: list[Decoded | Rejected] = []
    for index, element in enumerate(array_elements(raw)):
        try:
            if element[:1] != b"{" and element.lstrip()[:1] != b"{":
                raise InvalidEvent("not_object", f"not a JSON object but {_json_type(element)}")
            events.append(_decode_object(element, compiled, chats))
        except InvalidEvent as exc:
            events.append(Rejected(index, element, InvalidEvent(exc.kind, f"array element {index}: {exc}")))
    return RecordEvents(events, batched=True)


def array_elements(raw: bytes) -> list[bytes]:
    """The elements of a record that is a JSON array, each as its own JSON text."""
    try:
        return [bytes(element) for element in _ELEMENTS.decode(raw)]
    except msgspec.DecodeError as exc:
        raise InvalidEvent("not_json", f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidEvent("not_json", "not JSON that can be read: nested too deeply") from exc


def _json_type(element: bytes) -> str:
    try:
        return type(orjson.loads(element)).__name__
    except orjson.JSONDecodeError:
        return "a value nested too deeply"


def record_key(event: dict[str, Any]) -> bytes:
    """The record key of contract v1: the agent id for agent events; otherwise (contacts, surveys,
    chat messages and their scores, tickets, accounts) the customer id, or when the customer is
    unknown the ticket id (tickets) or the contact id."""
    kind = event.get("type")
    if kind in AGENT_TYPES:
        return str(event["agent_id"]).encode("utf-8")
    if kind in TICKET_TYPES:
        key = event.get("customer_id") or event["ticket_id"]
        return str(key).encode("utf-8")
    key = event.get("customer_id") or event["contact_id"]
    return str(key).encode("utf-8")
