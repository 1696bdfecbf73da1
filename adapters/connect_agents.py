"""Amazon Connect agent event stream records (Kinesis) to contract agent events.

Each record carries the agent's whole snapshot after the change (``CurrentAgentSnapshot``) and, for a
STATE_CHANGE, before it (``PreviousAgentSnapshot``): its status (``AgentStatus.Name``), its routing
profile's ``InboundQueues`` and its ``Contacts`` with their ``State``. A snapshot means one state:

- a contact CONNECTED or CONNECTED_ONHOLD (or a PAUSED task): ``on_contact``, with that contact and queue;
- else a contact ENDED (Connect's after-contact work): ``after_contact_work``;
- else the status: ``StatusStates`` (Available: available, Offline: logged_out), any other status is
  ``aux`` with its name as the reason (Break, Lunch, Training, ...); a LOGOUT record is ``logged_out``.

A record publishes the state only when it differs from the previous snapshot's (a change of
language or hierarchy group is a STATE_CHANGE too), the queues only when they differ, and a
``contact.missed`` for each contact that has just become MISSED or REJECTED for this agent. Queues
are named like the contact events' (the queue id from the ARN, or its configured name), so that an
agent's time and its contacts meet in the same rows.
"""

from __future__ import annotations

from typing import Any, Mapping

from adapters.mapping import Skip, Unmappable, epoch, last_part, required, rfc3339

StatusStates = Mapping[str, str]
DEFAULT_STATUS_STATES: StatusStates = {"Available": "available", "Offline": "logged_out"}
_TALKING = ("CONNECTED", "CONNECTED_ONHOLD", "PAUSED")
_MISSED = ("MISSED", "REJECTED")
State = tuple[str, str | None, str | None, str | None]  # state, reason, contact id, contact queue


def map_agent_record(record: dict[str, Any], queue_names: Mapping[str, str], statuses: StatusStates) -> list[dict[str, Any]] | Skip:
    kind = record["EventType"]
    if kind == "HEART_BEAT":
        return Skip("agent.HEART_BEAT")
    what = f"agent {kind} record"
    agent = last_part(required(record, "AgentARN", what), "AgentARN")
    event_id = required(record, "EventId", what)
    at = rfc3339(epoch(record.get("EventTimestamp"), "EventTimestamp"))
    current = record.get("CurrentAgentSnapshot")
    if not isinstance(current, dict):
        raise Unmappable(f"{what}: CurrentAgentSnapshot is missing")
    previous = record.get("PreviousAgentSnapshot") if isinstance(record.get("PreviousAgentSnapshot"), dict) else None
    events: list[dict[str, Any]] = []
    base = {"time": at, "agent_id": agent}
    username = (current.get("Configuration") or {}).get("Username")
    if isinstance(username, str) and username:
        base["agent_name"] = username[:200]
    queues = _queues(current, queue_names)
    if queues is not None and (previous is None or _queues(previous, queue_names) != queues):
        events.append({"event_id": f"connect-agent-{event_id}-queues", "type": "agent.queues_changed", **base, "queues": queues})
    state = _state(current, queue_names, statuses, logged_out=kind == "LOGOUT")
    if previous is None or _state(previous, queue_names, statuses, logged_out=False) != state:
        name, reason, contact, queue = state
        event: dict[str, Any] = {"event_id": f"connect-agent-{event_id}-state", "type": "agent.state_changed", **base, "state": name}
        if name == "aux":
            event["reason"] = None if reason is None else reason[:100]
        if contact is not None:
            event["contact_id"], event["queue"] = contact, queue
        channel, capacity = _channel(current)
        if channel is not None:
            event["channel"] = channel
            if capacity is not None:
                event["capacity"] = capacity
        events.append(event)
    events.extend(_missed(current, previous, agent, at, queue_names))
    return events or Skip(f"agent.{kind}.unchanged")


def _contacts(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    contacts = snapshot.get("Contacts")
    return [c for c in contacts if isinstance(c, dict)] if isinstance(contacts, list) else []


def _queue(contact: dict[str, Any], queue_names: Mapping[str, str]) -> str | None:
    arn = (contact.get("Queue") or {}).get("ARN")
    if not isinstance(arn, str) or "/" not in arn:
        return None
    queue_id = last_part(arn, "Contacts[].Queue.ARN")
    return queue_names.get(queue_id, queue_id)


def _state(snapshot: dict[str, Any], queue_names: Mapping[str, str], statuses: StatusStates, logged_out: bool) -> State:
    if logged_out:
        return ("logged_out", None, None, None)
    contacts = _contacts(snapshot)
    for contact in contacts:
        if contact.get("State") in _TALKING and contact.get("ContactId"):
            return ("on_contact", None, str(contact["ContactId"]), _queue(contact, queue_names))
    if any(contact.get("State") == "ENDED" for contact in contacts):
        return ("after_contact_work", None, None, None)
    name = (snapshot.get("AgentStatus") or {}).get("Name")
    if not isinstance(name, str) or not name:
        raise Unmappable("agent record: CurrentAgentSnapshot.AgentStatus.Name is missing")
    state = statuses.get(name, "aux")
    return (state, name if state == "aux" else None, None, None)


def _queues(snapshot: dict[str, Any], queue_names: Mapping[str, str]) -> list[str] | None:
    profile = (snapshot.get("Configuration") or {}).get("RoutingProfile") or {}
    inbound = profile.get("InboundQueues")
    if not isinstance(inbound, list):
        return None
    ids = [last_part(q.get("ARN"), "InboundQueues[].ARN") for q in inbound if isinstance(q, dict)]
    return list(dict.fromkeys(queue_names.get(queue_id, queue_id) for queue_id in ids))


def _channel(snapshot: dict[str, Any]) -> tuple[str | None, int | None]:
    """The channel of the contact in hand, else the routing profile's only one; with its slots."""
    channel = next((str(c["Channel"]) for c in _contacts(snapshot) if c.get("Channel")), None)
    concurrency = ((snapshot.get("Configuration") or {}).get("RoutingProfile") or {}).get("Concurrency")
    slots = {str(c.get("Channel")): c.get("MaximumSlots") for c in concurrency if isinstance(c, dict)} if isinstance(concurrency, list) else {}
    if channel is None and len(slots) == 1:
        channel = next(iter(slots))
    if channel is None:
        return None, None
    capacity = slots.get(channel)
    return channel.lower(), capacity if isinstance(capacity, int) and 1 <= capacity <= 100 else None


def _missed(current: dict[str, Any], previous: dict[str, Any] | None, agent: str, at: str, queue_names: Mapping[str, str]) -> list[dict[str, Any]]:
    before = {c.get("ContactId") for c in _contacts(previous or {}) if c.get("State") in _MISSED}
    events = []
    for contact in _contacts(current):
        contact_id = contact.get("ContactId")
        queue = _queue(contact, queue_names)
        if contact.get("State") not in _MISSED or not contact_id or contact_id in before or queue is None:
            continue
        started = contact.get("StateStartTimestamp")
        events.append({
            "event_id": f"connect-{contact_id}-missed-{agent}", "type": "contact.missed",
            "time": rfc3339(epoch(started, "Contacts[].StateStartTimestamp")) if started else at,
            "contact_id": str(contact_id), "customer_id": None, "queue": queue,
            "channel": str(contact.get("Channel") or "voice").lower(), "agent_id": agent,
        })  # fmt: skip
    return events
