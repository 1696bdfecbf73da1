"""Twilio TaskRouter Event Callbacks to contract-v1 events, and back for demos (pure: no HTTP).

A callback is a form of string fields (``EventType``, ``TaskSid``, ``TaskQueueName``, ``TaskAge``,
``TaskAttributes``, ``TimestampMs``, ...). A task is a contact: ``task.created`` and
``task-queue.entered`` both mean offered, ``reservation.accepted`` answered, ``task.canceled``
abandoned, ``task.wrapup`` ended and ``task.completed`` wrap-up ended.

Event ids are ``twilio-<TaskSid>-<step>``, not the callback's event ``Sid``: both offered callbacks of
one task then carry the same id and the worker counts the task once, and a retried callback is
dropped the same way. Missed offers (``reservation.rejected``/``.timeout``), agent states
(``worker.activity.update``) and every other type have no contract-v1 event yet and are skipped.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Iterator, Mapping

from adapters.mapping import Skip, Unmappable, required, rfc3339
from streams.contract import parse_time

STEPS: dict[str, str] = {
    "task.created": "contact.offered",
    "task-queue.entered": "contact.offered",
    "reservation.accepted": "contact.answered",
    "task.canceled": "contact.abandoned",
    "task.wrapup": "contact.ended",
    "task.completed": "contact.wrapup_ended",
}
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


def map_callback(form: Mapping[str, str]) -> dict[str, Any] | Skip:
    """One Event Callback to a contract event, a Skip, or Unmappable."""
    event_type = required(form, "EventType", "callback")
    step = STEPS.get(event_type)
    if step is None:
        return Skip(event_type)
    what = f"{event_type} callback"
    task = required(form, "TaskSid", what)
    queue = form.get("TaskQueueName") or form.get("TaskQueueSid")
    if not queue:
        raise Unmappable(f"{what}: neither TaskQueueName nor TaskQueueSid")
    event: dict[str, Any] = {
        "event_id": f"twilio-{task}-{step.removeprefix('contact.')}",
        "type": step,
        "time": rfc3339(_time(form)),
        "contact_id": task,
        "customer_id": _customer(form.get("TaskAttributes")),
        "queue": queue,
        "channel": form.get("TaskChannelUniqueName") or DEFAULT_CHANNEL,
    }
    if form.get("WorkerSid"):
        event["agent_id"] = form["WorkerSid"]
    age = _age(form)
    if step in ("contact.answered", "contact.abandoned") and age is not None:
        event["wait_s"] = age
    return event


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
        yield form
