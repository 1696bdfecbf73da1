"""TaskRouter Event Callbacks, in the documented form fields, to contract events and KPIs worked out by hand."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from adapters.mapping import Skip, Unmappable
from adapters.simulator import QueueProfile, generate
from adapters.twilio import callbacks_from_contract, map_callback
from streams import topics
from streams.contract import parse_time, validate
from tests import reference

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc).timestamp()
TASK = "WT0123456789abcdef0123456789abcdef"
WORKER = "WK0123456789abcdef0123456789abcdef"
RESERVATION = "WR0123456789abcdef0123456789abcdef"
CALL_STEPS = ("contact.offered", "contact.answered", "contact.abandoned", "contact.ended", "contact.wrapup_ended")


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


def mapped(*callbacks: dict[str, str], states: dict[str, str] | None = None) -> list[dict[str, Any] | Skip]:
    """Every callback's events in order (a Skip stands for its callback)."""
    found: list[dict[str, Any] | Skip] = []
    for form in callbacks:
        result = map_callback(form) if states is None else map_callback(form, states)
        if isinstance(result, Skip):
            found.append(result)
        else:
            found.extend(result)
    return found


def reservation(event_type: str, offset_s: float, **fields: str) -> dict[str, str]:
    """A reservation callback: the task's fields, the reservation and its worker (TaskRouter Events reference)."""
    worker = {"WorkerSid": WORKER, "WorkerName": "alice", "WorkerActivityName": "Available", "WorkerAttributes": "{}",
              "ResourceType": "Reservation", "ResourceSid": RESERVATION, "ReservationSid": RESERVATION}  # fmt: skip
    return callback(event_type, offset_s, **{**worker, **fields})


def kpis(events: list[Any]) -> dict[str, Any]:
    contract = [e for e in events if isinstance(e, dict) and e["type"] in CALL_STEPS]
    return reference.compute(contract, T0 - 60, T0 + 3600)[("billing", "voice")]


def test_an_answered_call_is_offered_once_answered_ended_and_wrapped_up() -> None:
    events = mapped(
        callback("task.created", 0),
        callback("task-queue.entered", 0.25),
        reservation("reservation.created", 17, TaskAge="17"),
        reservation("reservation.accepted", 18.5, TaskAge="18"),
        callback("task.wrapup", 258.5, TaskAge="258"),
        callback("task.completed", 288.5, TaskAge="288", TaskCompletedReason="done"),
    )
    base = {"contact_id": TASK, "customer_id": "+14155550100", "queue": "billing", "channel": "voice"}
    assert events == [
        {"event_id": f"twilio-{TASK}-offered", "type": "contact.offered", "time": "2026-03-02T09:00:00.000Z", **base},
        {"event_id": f"twilio-{TASK}-offered", "type": "contact.offered", "time": "2026-03-02T09:00:00.250Z", **base},
        {"event_id": f"twilio-{RESERVATION}-ringing", "type": "contact.ringing", "time": "2026-03-02T09:00:17.000Z",
         "agent_id": WORKER, **base},
        {"event_id": f"twilio-{TASK}-answered", "type": "contact.answered", "time": "2026-03-02T09:00:18.500Z",
         "agent_id": WORKER, "wait_s": 18.0, **base},
        {"event_id": f"twilio-{RESERVATION}-on_contact", "type": "agent.state_changed", "time": "2026-03-02T09:00:18.500Z",
         "agent_id": WORKER, "agent_name": "alice", "state": "on_contact", "channel": "voice", "contact_id": TASK,
         "queue": "billing"},
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


def activity(offset_s: float, name: str, sid: str, **fields: str) -> dict[str, str]:
    """worker.activity.update with the Worker fields of the TaskRouter Events reference."""
    return {
        "EventType": "worker.activity.update", "Sid": sid, "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "WorkspaceSid": "WS0123456789abcdef0123456789abcdef", "ResourceType": "Worker", "ResourceSid": WORKER,
        "Timestamp": str(int(T0 + offset_s)), "TimestampMs": str(round((T0 + offset_s) * 1000)),
        "WorkerSid": WORKER, "WorkerName": "alice", "WorkerActivityName": name, "WorkerActivitySid": "WA" + sid[2:],
        "WorkerPreviousActivityName": "Offline", "WorkerTimeInPreviousActivity": "600", "WorkerAttributes": "{}", **fields,
    }  # fmt: skip


def states(events: list[Any]) -> list[tuple[str, str, str | None]]:
    return [(e["time"][11:23], e["state"], e.get("reason")) for e in events if isinstance(e, dict) and e["type"] == "agent.state_changed"]


def test_a_workers_day_from_activities_and_reservations() -> None:
    """Logs in (Available), takes the call (accepted: on it; wrap-up; completed: available again), goes
    on Break, lunches (an activity of the center's own, aux named after it), and its last reservation
    completes while it is already set to Offline, which wins over "available"."""
    events = mapped(
        activity(0, "Available", "EV01", WorkerAttributes=json.dumps({"queues": ["billing", "sales"], "skills": ["en"]})),
        reservation("reservation.accepted", 18.5, TaskAge="18"),
        reservation("reservation.wrapup", 258.5),
        reservation("reservation.completed", 288.5),
        activity(300, "Break", "EV02"),
        activity(900, "Lunch", "EV03"),
        activity(2700, "Available", "EV04"),
        reservation("reservation.accepted", 2800, ReservationSid="WR2", TaskSid="WT2", TaskAge="5"),
        reservation("reservation.wrapup", 3000, ReservationSid="WR2", TaskSid="WT2"),
        reservation("reservation.completed", 3030, ReservationSid="WR2", TaskSid="WT2", WorkerActivityName="Offline"),
    )
    assert states(events) == [
        ("09:00:00.000", "available", None),
        ("09:00:18.500", "on_contact", None),
        ("09:04:18.500", "after_contact_work", None),
        ("09:04:48.500", "available", None),
        ("09:05:00.000", "aux", "Break"),
        ("09:15:00.000", "aux", "Lunch"),
        ("09:45:00.000", "available", None),
        ("09:46:40.000", "on_contact", None),
        ("09:50:00.000", "after_contact_work", None),
        ("09:50:30.000", "logged_out", None),
    ]
    first = events[0]
    assert isinstance(first, dict)
    assert (first["event_id"], first["agent_id"], first["agent_name"], first["queues"]) == ("twilio-EV01", WORKER, "alice", ["billing", "sales"])
    ids = [e["event_id"] for e in events if isinstance(e, dict)]
    assert len(ids) == len(set(ids)), "every step has an id of its own"
    for event in events:
        assert isinstance(event, dict)
        validate(event, topics.AGENTS if event["type"].startswith("agent.") else topics.CALLS)


def test_the_activity_mapping_is_configurable() -> None:
    """A center where Coaching keeps agents routable and Offline is not configured (so aux)."""
    events = mapped(activity(0, "Coaching", "EV01"), activity(60, "Offline", "EV02"), states={"Coaching": "available"})
    assert states(events) == [("09:00:00.000", "available", None), ("09:01:00.000", "aux", "Offline")]


def test_rejected_and_timed_out_reservations_are_missed_by_their_worker() -> None:
    events = mapped(
        reservation("reservation.created", 2, ReservationSid="WR1"),
        reservation("reservation.rejected", 5, ReservationSid="WR1", ReservationRejectedReason="busy"),
        reservation("reservation.created", 6, ReservationSid="WR2"),
        reservation("reservation.timeout", 25, ReservationSid="WR2"),
    )
    assert [(e["event_id"], e["type"], e["time"][11:23], e["agent_id"]) for e in events if isinstance(e, dict)] == [
        ("twilio-WR1-ringing", "contact.ringing", "09:00:02.000", WORKER),
        ("twilio-WR1-missed", "contact.missed", "09:00:05.000", WORKER),
        ("twilio-WR2-ringing", "contact.ringing", "09:00:06.000", WORKER),
        ("twilio-WR2-missed", "contact.missed", "09:00:25.000", WORKER),
    ]
    with pytest.raises(Unmappable, match="ReservationSid is missing"):
        map_callback(callback("reservation.timeout", 25, ResourceType="Reservation", ResourceSid="", WorkerSid=WORKER))
    with pytest.raises(Unmappable, match="WorkerActivityName is missing"):
        map_callback(activity(0, "", "EV09"))


def test_the_queue_sid_stands_in_for_a_missing_name_and_without_either_the_callback_is_unmappable() -> None:
    event = map_callback(callback("task.created", 0, TaskQueueName=""))
    assert isinstance(event, list) and event[0]["queue"] == "WQ0123456789abcdef0123456789abcdef"
    with pytest.raises(Unmappable, match="neither TaskQueueName nor TaskQueueSid"):
        map_callback(callback("task.created", 0, TaskQueueName="", TaskQueueSid=""))
    with pytest.raises(Unmappable, match="EventType is missing"):
        map_callback({"TaskSid": TASK})


def test_seconds_timestamps_and_unreadable_attributes_still_map() -> None:
    form = callback("task.created", 0, TaskAttributes="{not json", TaskChannelUniqueName="")
    del form["TimestampMs"]
    mapped_form = map_callback(form)
    assert isinstance(mapped_form, list)
    event = mapped_form[0]
    assert (event["time"], event["customer_id"], event["channel"]) == ("2026-03-02T09:00:00.000Z", None, "default")


def test_simulated_traffic_survives_a_round_trip_through_callbacks() -> None:
    queues = (QueueProfile("sales", "voice", 120, 3, 180, 60), QueueProfile("web", "chat", 90, 2, 240, 90))
    original = [e for e in generate(T0, 3600, seed=3, queues=queues) if e["type"] in CALL_STEPS]
    back = []
    for form in callbacks_from_contract(original):
        result = map_callback(form)
        assert isinstance(result, list)
        back.append(result[0])  # an answer's second event is its worker's state
    assert len(back) == len(original) > 100
    contacts: dict[str, str] = {}
    for before, after in zip(original, back):
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
