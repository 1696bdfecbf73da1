"""Amazon Connect contact events (EventBridge "Amazon Connect Contact Event") to contract-v1 events,
and back for demos (pure: no HTTP).

A contact event's ``detail`` carries the contact's state so far: ``contactId``, ``channel``,
``eventType``, ``queueInfo`` (``queueArn``, ``enqueueTimestamp``), ``agentInfo`` (``agentArn``,
``connectedToAgentTimestamp``, after-contact-work timestamps) and ``disconnectTimestamp``. QUEUED is
offered, CONNECTED_TO_AGENT answered (wait = connected - enqueued), DISCONNECTED abandoned when no
agent was connected (wait = disconnected - enqueued) or ended when one was (talk = disconnected -
connected), COMPLETED wrap-up ended (after-contact work from its timestamps, or none). A contact
that never queued and every other event type is skipped.

Agent event stream records (``EventType`` LOGIN, LOGOUT, STATE_CHANGE; HEART_BEAT repeats what is
known and is skipped) carry the agent's whole snapshot, before and after: ``adapters.connect_agents``
turns the difference into agent events.

The record key is the contact id: contact events do not promise the caller's number on every
type, and a contact whose events were keyed differently would be split across partitions.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

from adapters.connect_agents import DEFAULT_STATUS_STATES, StatusStates, map_agent_record
from adapters.mapping import Skip, Unmappable, epoch, last_part, required, rfc3339, seconds_between
from streams.contract import parse_time

DETAIL_TYPE = "Amazon Connect Contact Event"
AGENT_EVENT_TYPES = frozenset({"LOGIN", "LOGOUT", "STATE_CHANGE", "HEART_BEAT"})


def map_event(document: Any, queue_names: Mapping[str, str], statuses: StatusStates = DEFAULT_STATUS_STATES) -> list[dict[str, Any]] | Skip:
    """One EventBridge event or agent event stream record to its contract events, a Skip, or Unmappable."""
    if not isinstance(document, dict):
        raise Unmappable(f"not a JSON object but {type(document).__name__}")
    if document.get("EventType") in AGENT_EVENT_TYPES:
        return map_agent_record(document, queue_names, statuses)
    mapped = _contact_event(document, queue_names)
    return mapped if isinstance(mapped, Skip) else [mapped]


def _contact_event(document: dict[str, Any], queue_names: Mapping[str, str]) -> dict[str, Any] | Skip:
    if document.get("detail-type") != DETAIL_TYPE or not isinstance(document.get("detail"), dict):
        raise Unmappable(f"neither an {DETAIL_TYPE!r} nor an agent event stream record")
    detail: dict[str, Any] = document["detail"]
    kind = required(detail, "eventType", "detail")
    contact = required(detail, "contactId", f"{kind} detail")
    queue_info = detail.get("queueInfo") or {}
    agent_info = detail.get("agentInfo") or {}
    enqueued = queue_info.get("enqueueTimestamp")
    connected = agent_info.get("connectedToAgentTimestamp")
    fields: dict[str, Any]
    if kind == "QUEUED":
        step, at, fields = "offered", epoch(enqueued, "queueInfo.enqueueTimestamp"), {}
    elif kind == "CONNECTED_TO_AGENT":
        at = epoch(connected, "agentInfo.connectedToAgentTimestamp")
        step, fields = "answered", {"wait_s": seconds_between(epoch(enqueued, "queueInfo.enqueueTimestamp"), at)}
    elif kind == "DISCONNECTED" and connected:
        at = epoch(detail.get("disconnectTimestamp"), "disconnectTimestamp")
        step, fields = "ended", {"talk_s": seconds_between(epoch(connected, "agentInfo.connectedToAgentTimestamp"), at)}
    elif kind == "DISCONNECTED" and enqueued:
        at = epoch(detail.get("disconnectTimestamp"), "disconnectTimestamp")
        step, fields = "abandoned", {"wait_s": seconds_between(epoch(enqueued, "queueInfo.enqueueTimestamp"), at)}
    elif kind == "COMPLETED" and connected:
        step, at, fields = "wrapup_ended", *_after_contact_work(detail, agent_info)
    else:
        return Skip(kind if kind != "DISCONNECTED" else "DISCONNECTED.not_queued")
    queue_id = last_part(required(queue_info, "queueArn", f"{kind} detail: queueInfo"), "queueInfo.queueArn")
    event: dict[str, Any] = {
        "event_id": f"connect-{contact}-{step}",
        "type": f"contact.{step}",
        "time": rfc3339(at),
        "contact_id": contact,
        "customer_id": None,
        "queue": queue_names.get(queue_id, queue_id),
        "channel": str(required(detail, "channel", f"{kind} detail")).lower(),
        **fields,
    }
    if agent_info.get("agentArn"):
        event["agent_id"] = last_part(agent_info["agentArn"], "agentInfo.agentArn")
    return event


def _after_contact_work(detail: dict[str, Any], agent_info: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """When after-contact work ended and how long it took; a contact without any ends at its disconnect."""
    ended = agent_info.get("afterContactWorkEndTimestamp")
    if not ended:
        return epoch(detail.get("disconnectTimestamp"), "disconnectTimestamp"), {"acw_s": 0.0}
    at = epoch(ended, "agentInfo.afterContactWorkEndTimestamp")
    duration = agent_info.get("afterContactWorkDuration")
    if isinstance(duration, (int, float)) and duration >= 0:
        return at, {"acw_s": float(duration)}
    started = epoch(agent_info.get("afterContactWorkStartTimestamp"), "agentInfo.afterContactWorkStartTimestamp")
    return at, {"acw_s": seconds_between(started, at)}


# -- demo traffic through this door ------------------------------------------------------------------

INSTANCE_ARN = "arn:aws:connect:us-east-1:111122223333:instance/00000000-0000-4000-8000-000000000000"


def _iso(text: str) -> str:
    return rfc3339(parse_time(text))


def events_from_contract(events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The EventBridge events Connect would have sent for these contract events (surveys have none).

    Each detail carries the contact's state so far, as Connect's do; the queue's ARN ends in the queue
    name, so mapping back gives the same names without a ``queue_names`` map."""
    contacts: dict[str, dict[str, Any]] = {}
    kinds = {
        "contact.offered": "QUEUED",
        "contact.answered": "CONNECTED_TO_AGENT",
        "contact.abandoned": "DISCONNECTED",
        "contact.ended": "DISCONNECTED",
        "contact.wrapup_ended": "COMPLETED",
    }
    for number, event in enumerate(events):
        kind = kinds.get(event["type"])
        if kind is None:
            continue
        detail = contacts.setdefault(event["contact_id"], {
            "contactId": event["contact_id"],
            "channel": event["channel"].upper(),
            "initiationMethod": "INBOUND",
            "instanceArn": INSTANCE_ARN,
            "queueInfo": {"queueType": "STANDARD", "queueArn": f"{INSTANCE_ARN}/queue/{event['queue']}"},
        })  # fmt: skip
        at = _iso(event["time"])
        if kind == "QUEUED":
            detail["queueInfo"]["enqueueTimestamp"] = at
        elif kind == "CONNECTED_TO_AGENT":
            detail["agentInfo"] = {"agentArn": f"{INSTANCE_ARN}/agent/{event.get('agent_id')}", "connectedToAgentTimestamp": at}
        elif kind == "DISCONNECTED":
            detail["disconnectTimestamp"] = at
        else:
            detail["agentInfo"]["afterContactWorkEndTimestamp"] = at
            detail["agentInfo"]["afterContactWorkDuration"] = event.get("acw_s", 0.0)
        yield {
            "version": "0",
            "id": f"00000000-0000-4000-8000-{number:012d}",
            "detail-type": DETAIL_TYPE,
            "source": "aws.connect",
            "account": "111122223333",
            "time": at,
            "region": "us-east-1",
            "resources": [INSTANCE_ARN, f"{INSTANCE_ARN}/contact/{event['contact_id']}"],
            "detail": {**detail, "eventType": kind, "queueInfo": dict(detail["queueInfo"]),
                       **({"agentInfo": dict(detail["agentInfo"])} if "agentInfo" in detail else {})},
        }  # fmt: skip
        if event["type"] in ("contact.abandoned", "contact.wrapup_ended"):
            contacts.pop(event["contact_id"], None)
