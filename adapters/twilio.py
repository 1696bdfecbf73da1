"""Twilio TaskRouter Event Callbacks to contract-v1 events, and back for demos (pure: no HTTP).

A callback is a form of string fields (``EventType``, ``TaskSid``, ``TaskQueueName``, ``TaskAge``,
``TaskAttributes``, ``TimestampMs``, the worker's ``WorkerSid``, ``WorkerName``, ``WorkerActivityName``,
...). A task is a contact: ``task.created`` and ``task-queue.entered`` both mean offered,
``reservation.accepted`` answered, ``task.canceled`` abandoned, ``task.wrapup`` ended and
``task.completed`` wrap-up ended. A reservation is the task offered to one worker: created is
``contact.ringing``, rejected or timed out ``contact.missed``.

A worker is an agent (``WorkerSid``): ``worker.activity.update`` gives its state from the activity's
name (``ActivityStates``: Available, Offline, and anything else aux with the activity as the reason),
and its reservations give the rest: accepted is ``on_contact`` (beside the task's answer), wrap-up
``after_contact_work``, completed ``available`` unless the worker's activity then says otherwise.

Contact event ids are ``twilio-<TaskSid>-<step>``, not the callback's event ``Sid``: both offered
callbacks of one task then carry the same id and the worker counts the task once, and a retried
callback is dropped the same way. A reservation's events are ``twilio-<ReservationSid>-<step>``, an
activity change ``twilio-<Sid>`` (each one is its own event). Every other type is skipped.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Iterator, Mapping

from adapters.mapping import Skip, Unmappable, required, rfc3339
from streams.contract import parse_time

ActivityStates = Mapping[str, str]
DEFAULT_ACTIVITY_STATES: ActivityStates = {"Available": "available", "Offline": "logged_out", "Unavailable": "aux", "Break": "aux"}

STEPS: dict[str, str] = {
    "task.created": "contact.offered",
    "task-queue.entered": "contact.offered",
    "reservation.accepted": "contact.answered",
    "task.canceled": "contact.abandoned",
    "task.wrapup": "contact.ended",
    "task.completed": "contact.wrapup_ended",
}
# A reservation's own contact step (the task offered to, or missed by, its worker).
OFFERS: dict[str, str] = {"reservation.created": "ringing", "reservation.rejected": "missed", "reservation.timeout": "missed"}
# What a reservation says about its worker: the state, and the event id's step.
WORKER_STEPS: dict[str, str] = {"reservation.accepted": "on_contact", "reservation.wrapup": "after_contact_work", "reservation.completed": "available"}
QUEUE_ATTRIBUTE = "queues"
# The channel of tasks without a TaskChannelUniqueName: TaskRouter's own name for its default channel.
DEFAULT_CHANNEL = "default"
CUSTOMER_ATTRIBUTES = ("customer_id", "from", "caller")


def _customer(attributes_json: str | None) -> str | None:
    """From the task's attributes, present in every task callback, so every event of a task gets the
    same key (and partition). Unreadable attributes give no customer rather than a lost event."""
    try:
        attributes = json.loads(attributes_json) if attributes_json else {}
    except ValueError:
        return None
    if not isinstance(attributes, dict):
        return None
    for name in CUSTOMER_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _time(form: Mapping[str, str]) -> float:
    """TimestampMs when sent (TaskRouter added it for precision), else Timestamp in epoch seconds."""
    text = form.get("TimestampMs")
    scale = 1000
    if not text:
        text, scale = required(form, "Timestamp", "callback"), 1
    try:
        return float(text) / scale
    except ValueError as exc:
        raise Unmappable(f"callback: timestamp is not a number: {text!r}") from exc


def _age(form: Mapping[str, str]) -> float | None:
    """TaskAge: whole seconds since the task was created, i.e. its wait when it is answered or abandoned."""
    try:
        return float(form["TaskAge"]) if form.get("TaskAge") else None
    except ValueError as exc:
        raise Unmappable(f"callback: TaskAge is not a number: {form['TaskAge']!r}") from exc


def activity_state(name: str, states: ActivityStates) -> tuple[str, str | None]:
    """The agent state (and aux reason) an activity means: as configured, else aux named after it."""
    state = states.get(name, "aux")
    return state, (name if state == "aux" else None)


def map_callback(form: Mapping[str, str], states: ActivityStates = DEFAULT_ACTIVITY_STATES) -> list[dict[str, Any]] | Skip:
    """One Event Callback to its contract events (a reservation accepted is two: the task answered and
    the worker on it), a Skip, or Unmappable."""
    event_type = required(form, "EventType", "callback")
    if event_type == "worker.activity.update":
        return [_activity(form, states)]
    step = STEPS.get(event_type)
    offer = OFFERS.get(event_type)
    worker_step = WORKER_STEPS.get(event_type)
    if step is None and offer is None and worker_step is None:
        return Skip(event_type)
    what = f"{event_type} callback"
    task = required(form, "TaskSid", what)
    queue = form.get("TaskQueueName") or form.get("TaskQueueSid")
    if not queue:
        raise Unmappable(f"{what}: neither TaskQueueName nor TaskQueueSid")
    at = rfc3339(_time(form))
    channel = form.get("TaskChannelUniqueName") or DEFAULT_CHANNEL
    events: list[dict[str, Any]] = []
    if step is not None or offer is not None:
        kind = step or f"contact.{offer}"
        event: dict[str, Any] = {
            "event_id": f"twilio-{task}-{kind.removeprefix('contact.')}",
            "type": kind,
            "time": at,
            "contact_id": task,
            "customer_id": _customer(form.get("TaskAttributes")),
            "queue": queue,
            "channel": channel,
        }
        if offer is not None:
            event["event_id"] = f"twilio-{_reservation(form, what)}-{offer}"
            required(form, "WorkerSid", what)
        if form.get("WorkerSid"):
            event["agent_id"] = form["WorkerSid"]
        age = _age(form)
        if kind in ("contact.answered", "contact.abandoned") and age is not None:
            event["wait_s"] = age
        events.append(event)
    if worker_step is not None:
        events.append(_reservation_state(form, worker_step, task, queue, at, channel, states))
    return events


def _worker(form: Mapping[str, str], what: str, event_id: str, at: str, state: str, reason: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {"event_id": event_id, "type": "agent.state_changed", "time": at,
                             "agent_id": required(form, "WorkerSid", what), "state": state}  # fmt: skip
    if form.get("WorkerName"):
        event["agent_name"] = form["WorkerName"][:200]
    if state == "aux":
        event["reason"] = None if reason is None else reason[:100]
    return event


def _activity(form: Mapping[str, str], states: ActivityStates) -> dict[str, Any]:
    what = "worker.activity.update callback"
    name = required(form, "WorkerActivityName", what)
    state, reason = activity_state(name, states)
    event = _worker(form, what, f"twilio-{required(form, 'Sid', what)}", rfc3339(_time(form)), state, reason)
    queues = _queues(form.get("WorkerAttributes"))
    if queues is not None:
        event["queues"] = queues
    return event


def _reservation_state(
    form: Mapping[str, str], step: str, task: str, queue: str, at: str, channel: str, states: ActivityStates,
) -> dict[str, Any]:  # fmt: skip
    """The worker's state from its reservation. A completed reservation leaves it available, unless the
    activity it is in then (sent with every reservation callback) means something else: a worker set
    to Offline or Break at the end of a task is not available."""
    what = f"{form['EventType']} callback"
    state, reason = step, None
    if step == "available" and form.get("WorkerActivityName"):
        after, reason = activity_state(form["WorkerActivityName"], states)
        if after in ("logged_out", "aux"):
            state = after
    event = _worker(form, what, f"twilio-{_reservation(form, what)}-{step}", at, state, reason)
    event["channel"] = channel
    if step == "on_contact":
        event["contact_id"], event["queue"] = task, queue
    return event


def _reservation(form: Mapping[str, str], what: str) -> str:
    """ReservationSid, which every reservation callback carries (its ResourceSid is the same)."""
    sid = form.get("ReservationSid") or (form.get("ResourceSid") if form.get("ResourceType") == "Reservation" else None)
    if not sid:
        raise Unmappable(f"{what}: ReservationSid is missing")
    return sid


def _queues(attributes_json: str | None) -> list[str] | None:
    """The worker's queues when its attributes list them (``"queues": ["billing", ...]``, named as the
    TaskQueues are): TaskRouter itself matches workers to queues by expression and never lists them."""
    try:
        attributes = json.loads(attributes_json) if attributes_json else {}
    except ValueError:
        return None
    queues = attributes.get(QUEUE_ATTRIBUTE) if isinstance(attributes, dict) else None
    if isinstance(queues, list) and all(isinstance(q, str) and 0 < len(q) <= 200 for q in queues) and len(queues) <= 100:
        return list(queues)
    return None


# -- demo traffic through this door ------------------------------------------------------------------

CALLBACK_OF: dict[str, str] = {
    "contact.offered": "task.created",
    "contact.answered": "reservation.accepted",
    "contact.abandoned": "task.canceled",
    "contact.ended": "task.wrapup",
    "contact.wrapup_ended": "task.completed",
}


def task_sid(contact_id: str) -> str:
    """A TaskSid-shaped id (WT + 32 hex digits) that is the same for every event of a contact."""
    return "WT" + hashlib.md5(contact_id.encode()).hexdigest()


def callbacks_from_contract(events: Iterable[dict[str, Any]]) -> Iterator[dict[str, str]]:
    """The callbacks TaskRouter would have sent for these contract events (surveys have none).

    TaskAge is the wait in whole seconds, as TaskRouter reports it, so a round trip keeps waits to the second."""
    for number, event in enumerate(events):
        callback_type = CALLBACK_OF.get(event["type"])
        if callback_type is None:
            continue
        sid = task_sid(event["contact_id"])
        attributes = {"from": event["customer_id"]} if event.get("customer_id") else {}
        form = {
            "EventType": callback_type,
            "Sid": "EV" + hashlib.md5(f"{sid}-{number}".encode()).hexdigest(),
            "ResourceType": "Reservation" if callback_type.startswith("reservation.") else "Task",
            "Timestamp": str(int(parse_time(event["time"]))),
            "TimestampMs": str(round(parse_time(event["time"]) * 1000)),
            "TaskSid": sid,
            "TaskQueueName": event["queue"],
            "TaskChannelUniqueName": event["channel"],
            "TaskAttributes": json.dumps(attributes),
        }
        if "wait_s" in event:
            form["TaskAge"] = str(round(event["wait_s"]))
        if event.get("agent_id"):
            form["WorkerSid"] = event["agent_id"]
        if callback_type.startswith("reservation."):
            form["ReservationSid"] = "WR" + hashlib.md5(f"{sid}-{event.get('agent_id')}".encode()).hexdigest()
        yield form
