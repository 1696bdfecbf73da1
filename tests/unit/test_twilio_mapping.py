"""TaskRouter Event Callbacks, in the documented form fields, to contract events and KPIs worked out by hand."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from adapters.mapping import Skip, Unmappable
from adapters.simulator import QueueProfile, generate
from adapters.twilio import callbacks_from_contract, map_callback
from streams.contract import parse_time
from tests import reference

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc).timestamp()
TASK = "WT0123456789abcdef0123456789abcdef"
WORKER = "WK0123456789abcdef0123456789abcdef"


def callback(event_type: str, offset_s: float, **fields: str) -> dict[str, str]:
    """The fields every task callback carries (TaskRouter Events reference), at T0 + offset_s."""
    form = {
        "EventType": event_type,
        "Sid": f"EV{abs(hash((event_type, offset_s))):032x}"[:34],
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "WorkspaceSid": "WS0123456789abcdef0123456789abcdef",
        "ResourceType": "Task",
        "ResourceSid": TASK,
        "Timestamp": str(int(T0 + offset_s)),
        "TimestampMs": str(round((T0 + offset_s) * 1000)),
        "TaskSid": TASK,
        "TaskQueueSid": "WQ0123456789abcdef0123456789abcdef",
        "TaskQueueName": "billing",
        "TaskChannelUniqueName": "voice",
        "TaskAttributes": json.dumps({"from": "+14155550100", "call_sid": "CA01", "direction": "inbound"}),
        "TaskPriority": "0",
    }
    form.update(fields)
    return form


def mapped(*callbacks: dict[str, str]) -> list[dict[str, Any] | Skip]:
    return [map_callback(form) for form in callbacks]


def kpis(events: list[Any]) -> dict[str, Any]:
    contract = [e for e in events if isinstance(e, dict)]
    return reference.compute(contract, T0 - 60, T0 + 3600)[("billing", "voice")]


def test_an_answered_call_is_offered_once_answered_ended_and_wrapped_up() -> None:
    events = mapped(
        callback("task.created", 0),
        callback("task-queue.entered", 0.25),
        callback("reservation.created", 17, ResourceType="Reservation", WorkerSid=WORKER, TaskAge="17"),
        callback("reservation.accepted", 18.5, ResourceType="Reservation", WorkerSid=WORKER, TaskAge="18"),
        callback("task.wrapup", 258.5, TaskAge="258"),
        callback("task.completed", 288.5, TaskAge="288", TaskCompletedReason="done"),
    )
    base = {"contact_id": TASK, "customer_id": "+14155550100", "queue": "billing", "channel": "voice"}
    assert events == [
        {"event_id": f"twilio-{TASK}-offered", "type": "contact.offered", "time": "2026-03-02T09:00:00.000Z", **base},
        {"event_id": f"twilio-{TASK}-offered", "type": "contact.offered", "time": "2026-03-02T09:00:00.250Z", **base},
        Skip("reservation.created"),
        {"event_id": f"twilio-{TASK}-answered", "type": "contact.answered", "time": "2026-03-02T09:00:18.500Z",
         "agent_id": WORKER, "wait_s": 18.0, **base},
        {"event_id": f"twilio-{TASK}-ended", "type": "contact.ended", "time": "2026-03-02T09:04:18.500Z", **base},
        {"event_id": f"twilio-{TASK}-wrapup_ended", "type": "contact.wrapup_ended", "time": "2026-03-02T09:04:48.500Z", **base},
    ]  # fmt: skip
    # By hand: one offer (both offered callbacks share an id), answered after 18 s (within 20 s),
    # talk 258.5 - 18.5 = 240 s derived from the answer, after-contact work 288.5 - 258.5 = 30 s.
    row = kpis(events)
    assert (row["offered"], row["answered"], row["abandoned"], row["handled"]) == (1, 1, 0, 1)
    assert row["asa_s"] == 18.0
    assert row["service_level"] == 1.0
    assert row["aht_s"] == 270.0


def test_a_canceled_task_is_an_abandon_with_its_age_as_the_wait() -> None:
    events = mapped(
        callback("task.created", 0),
        callback("task.canceled", 45.2, TaskAge="45", TaskCanceledReason="hangup"),
    )
    assert events[1] == {
        "event_id": f"twilio-{TASK}-abandoned", "type": "contact.abandoned", "time": "2026-03-02T09:00:45.200Z",
        "contact_id": TASK, "customer_id": "+14155550100", "queue": "billing", "channel": "voice", "wait_s": 45.0,
    }  # fmt: skip
    row = kpis(events)
    assert (row["offered"], row["abandoned"], row["answered"]) == (1, 1, 0)
    assert row["abandon_rate"] == 1.0
    assert row["avg_abandon_wait_s"] == 45.0
    assert row["service_level"] == 0.0


def test_missed_reservations_and_an_agent_break_are_skipped_by_type() -> None:
    worker_break = {
        "EventType": "worker.activity.update", "Sid": "EV01", "ResourceType": "Worker", "ResourceSid": WORKER,
        "Timestamp": str(int(T0)), "WorkerSid": WORKER, "WorkerName": "alice", "WorkerActivityName": "Break",
        "WorkerActivitySid": "WA01", "WorkerPreviousActivitySid": "WA02", "WorkerTimeInPreviousActivity": "1200",
    }  # fmt: skip
    assert mapped(
        callback("reservation.rejected", 5, ResourceType="Reservation", WorkerSid=WORKER),
        callback("reservation.timeout", 25, ResourceType="Reservation", WorkerSid=WORKER),
        worker_break,
    ) == [Skip("reservation.rejected"), Skip("reservation.timeout"), Skip("worker.activity.update")]


def test_the_queue_sid_stands_in_for_a_missing_name_and_without_either_the_callback_is_unmappable() -> None:
    event = map_callback(callback("task.created", 0, TaskQueueName=""))
    assert isinstance(event, dict) and event["queue"] == "WQ0123456789abcdef0123456789abcdef"
    with pytest.raises(Unmappable, match="neither TaskQueueName nor TaskQueueSid"):
        map_callback(callback("task.created", 0, TaskQueueName="", TaskQueueSid=""))
    with pytest.raises(Unmappable, match="EventType is missing"):
        map_callback({"TaskSid": TASK})


def test_seconds_timestamps_and_unreadable_attributes_still_map() -> None:
    form = callback("task.created", 0, TaskAttributes="{not json", TaskChannelUniqueName="")
    del form["TimestampMs"]
    event = map_callback(form)
    assert isinstance(event, dict)
    assert (event["time"], event["customer_id"], event["channel"]) == ("2026-03-02T09:00:00.000Z", None, "default")


def test_simulated_traffic_survives_a_round_trip_through_callbacks() -> None:
    queues = (QueueProfile("sales", "voice", 120, 3, 180, 60), QueueProfile("web", "chat", 90, 2, 240, 90))
    original = [e for e in generate(T0, 3600, seed=3, queues=queues) if e["type"] != "survey.submitted"]
    back = [map_callback(form) for form in callbacks_from_contract(original)]
    assert len(back) == len(original) > 100
    contacts: dict[str, str] = {}
    for before, after in zip(original, back):
        assert isinstance(after, dict)
        assert contacts.setdefault(before["contact_id"], after["contact_id"]) == after["contact_id"]
        assert (after["type"], after["queue"], after["channel"], after["customer_id"]) == (
            before["type"], before["queue"], before["channel"], before["customer_id"]
        )
        assert parse_time(after["time"]) == pytest.approx(parse_time(before["time"]), abs=0.0005)
        if "wait_s" in before:
            assert after["wait_s"] == round(before["wait_s"])
    assert len(set(contacts.values())) == len(contacts)
    counts = ("offered", "answered", "abandoned", "handled")
    mine = reference.compute(back, T0, T0 + 3600)[("*", "*")]
    # TaskRouter gives waits in whole seconds: a wait of 4.8 s comes back as 5 s, no longer a short abandon.
    whole_seconds = [{**e, "wait_s": round(e["wait_s"])} if "wait_s" in e else e for e in original]
    theirs = reference.compute(whole_seconds, T0, T0 + 3600)[("*", "*")]
    assert [mine[k] for k in counts] == [theirs[k] for k in counts]
