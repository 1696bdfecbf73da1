"""Amazon Connect contact events (EventBridge) and agent event stream records, in the documented
shapes, to contract events and KPIs worked out by hand."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from adapters.amazon_connect import events_from_contract, map_event
from adapters.mapping import Skip, Unmappable
from adapters.simulator import QueueProfile, generate
from streams.contract import parse_time
from tests import reference

INSTANCE = "arn:aws:connect:eu-west-2:111122223333:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111"
QUEUE_ID = "12345678-aaaa-bbbb-cccc-123456789012"
AGENT = "87654321-aaaa-bbbb-cccc-210987654321"
CONTACT = "11111111-2222-3333-4444-555555555555"
NAMES = {QUEUE_ID: "billing"}
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc).timestamp()


def contact_event(kind: str, **detail: Any) -> dict[str, Any]:
    """The EventBridge envelope and the detail fields Connect sends with every contact event."""
    return {
        "version": "0", "id": f"ev-{kind}", "detail-type": "Amazon Connect Contact Event", "source": "aws.connect",
        "account": "111122223333", "time": "2026-03-02T09:10:00Z", "region": "eu-west-2",
        "resources": [INSTANCE, f"{INSTANCE}/contact/{CONTACT}"],
        "detail": {
            "eventType": kind, "contactId": CONTACT, "channel": "VOICE", "instanceArn": INSTANCE,
            "initiationMethod": "INBOUND", "initiationTimestamp": "2026-03-02T08:59:40.000Z", **detail,
        },
    }  # fmt: skip


QUEUE = {"queueType": "STANDARD", "queueArn": f"{INSTANCE}/queue/{QUEUE_ID}", "enqueueTimestamp": "2026-03-02T09:00:00.000Z"}
AGENT_INFO = {"agentArn": f"{INSTANCE}/agent/{AGENT}", "connectedToAgentTimestamp": "2026-03-02T09:00:12.500Z"}


def kpis(events: list[Any]) -> dict[str, Any]:
    return reference.compute([e for e in events if isinstance(e, dict)], T0 - 60, T0 + 3600)[("billing", "voice")]


def test_an_answered_call_maps_step_by_step() -> None:
    acw = {**AGENT_INFO, "afterContactWorkStartTimestamp": "2026-03-02T09:05:12.500Z",
           "afterContactWorkEndTimestamp": "2026-03-02T09:05:52.500Z", "afterContactWorkDuration": 40}  # fmt: skip
    events = [
        map_event(contact_event("INITIATED"), NAMES),
        map_event(contact_event("QUEUED", queueInfo=QUEUE), NAMES),
        map_event(contact_event("CONNECTED_TO_AGENT", queueInfo=QUEUE, agentInfo=AGENT_INFO), NAMES),
        map_event(contact_event("DISCONNECTED", queueInfo=QUEUE, agentInfo=AGENT_INFO, disconnectTimestamp="2026-03-02T09:05:12.500Z"), NAMES),
        map_event(contact_event("COMPLETED", queueInfo=QUEUE, agentInfo=acw, disconnectTimestamp="2026-03-02T09:05:12.500Z"), NAMES),
    ]  # fmt: skip
    base = {"contact_id": CONTACT, "customer_id": None, "queue": "billing", "channel": "voice"}
    assert events == [
        Skip("INITIATED"),
        {"event_id": f"connect-{CONTACT}-offered", "type": "contact.offered", "time": "2026-03-02T09:00:00.000Z", **base},
        {"event_id": f"connect-{CONTACT}-answered", "type": "contact.answered", "time": "2026-03-02T09:00:12.500Z",
         "wait_s": 12.5, "agent_id": AGENT, **base},
        {"event_id": f"connect-{CONTACT}-ended", "type": "contact.ended", "time": "2026-03-02T09:05:12.500Z",
         "talk_s": 300.0, "agent_id": AGENT, **base},
        {"event_id": f"connect-{CONTACT}-wrapup_ended", "type": "contact.wrapup_ended", "time": "2026-03-02T09:05:52.500Z",
         "acw_s": 40.0, "agent_id": AGENT, **base},
    ]  # fmt: skip
    # By hand: waited 12.5 s (within 20 s), talked 5 minutes, 40 s of after-contact work.
    row = kpis(events)
    assert (row["offered"], row["answered"], row["handled"]) == (1, 1, 1)
    assert row["asa_s"] == 12.5 and row["service_level"] == 1.0
    assert row["aht_s"] == 340.0


def test_a_caller_who_hangs_up_in_queue_abandons_and_one_who_never_queued_is_skipped() -> None:
    abandoned = map_event(contact_event("DISCONNECTED", queueInfo=QUEUE, disconnectTimestamp="2026-03-02T09:01:30.000Z"), NAMES)
    assert abandoned == {
        "event_id": f"connect-{CONTACT}-abandoned", "type": "contact.abandoned", "time": "2026-03-02T09:01:30.000Z",
        "contact_id": CONTACT, "customer_id": None, "queue": "billing", "channel": "voice", "wait_s": 90.0,
    }  # fmt: skip
    row = kpis([map_event(contact_event("QUEUED", queueInfo=QUEUE), NAMES), abandoned])
    assert (row["offered"], row["abandoned"], row["abandon_rate"], row["avg_abandon_wait_s"]) == (1, 1, 1.0, 90.0)
    ivr_only = contact_event("DISCONNECTED", disconnectTimestamp="2026-03-02T09:01:30.000Z")
    assert map_event(ivr_only, NAMES) == Skip("DISCONNECTED.not_queued")


def test_a_contact_completed_without_after_contact_work_ends_its_handling_at_the_disconnect() -> None:
    event = map_event(contact_event("COMPLETED", queueInfo=QUEUE, agentInfo=AGENT_INFO, disconnectTimestamp="2026-03-02T09:03:00.000Z"), {})
    assert isinstance(event, dict)
    assert (event["type"], event["time"], event["acw_s"], event["queue"]) == (
        "contact.wrapup_ended", "2026-03-02T09:03:00.000Z", 0.0, QUEUE_ID,
    )


def test_agent_event_stream_records_are_skipped_by_type() -> None:
    state_change = {
        "AWSAccountId": "111122223333", "AgentARN": f"{INSTANCE}/agent/{AGENT}", "EventType": "STATE_CHANGE",
        "EventId": "477f2c4f-cd1a-4785-b1a8-c450f4dbf5ef", "EventTimestamp": "2026-03-02T09:02:00.000Z",
        "InstanceARN": INSTANCE, "Version": "2019-05-25",
        "CurrentAgentSnapshot": {"AgentStatus": {"Name": "Break", "StartTimestamp": "2026-03-02T09:02:00.000Z", "Type": "NOT_ROUTABLE"}, "Contacts": []},
        "PreviousAgentSnapshot": {"AgentStatus": {"Name": "Available", "Type": "ROUTABLE"}, "Contacts": []},
    }  # fmt: skip
    heartbeat = {**state_change, "EventType": "HEART_BEAT"}
    assert [map_event(state_change, NAMES), map_event(heartbeat, NAMES)] == [Skip("agent.STATE_CHANGE"), Skip("agent.HEART_BEAT")]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"detail-type": "EC2 Instance State-change Notification", "detail": {}}, "neither"),
        (contact_event("QUEUED"), "enqueueTimestamp is missing"),
        (contact_event("QUEUED", queueInfo={**QUEUE, "queueArn": "not-an-arn"}), "not an ARN"),
        ({**contact_event("QUEUED", queueInfo=QUEUE), "detail": {"eventType": "QUEUED", "channel": "VOICE"}}, "contactId is missing"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_payloads_without_what_the_contract_needs_are_unmappable(document: Any, message: str) -> None:
    with pytest.raises(Unmappable, match=message):
        map_event(document, NAMES)


def test_simulated_traffic_survives_a_round_trip_through_contact_events() -> None:
    queues = (QueueProfile("sales", "voice", 120, 3, 180, 60), QueueProfile("web", "chat", 90, 2, 240, 90))
    original = [e for e in generate(T0, 3600, seed=5, queues=queues) if e["type"] != "survey.submitted"]
    back = [map_event(document, {}) for document in events_from_contract(original)]
    assert len(back) == len(original) > 100
    for before, after in zip(original, back):
        assert isinstance(after, dict)
        assert (after["type"], after["contact_id"], after["queue"], after["channel"]) == (
            before["type"], before["contact_id"], before["queue"], before["channel"]
        )
        assert parse_time(after["time"]) == pytest.approx(parse_time(before["time"]), abs=0.0005)
        if "wait_s" in before:
            assert after["wait_s"] == pytest.approx(before["wait_s"], abs=0.002)
        if before["type"] == "contact.ended":
            assert after["talk_s"] == pytest.approx(before["talk_s"] + before["hold_s"], abs=0.002)
    # Connect sends no customer, so compare what does not depend on one.
    same = ("offered", "answered", "abandoned", "short_abandoned", "handled", "service_level_numerator", "asa_s", "aht_s")
    mine = reference.compute(back, T0, T0 + 3600)[("*", "*")]
    theirs = reference.compute(original, T0, T0 + 3600)[("*", "*")]
    assert {k: mine[k] for k in same} == pytest.approx({k: theirs[k] for k in same}, abs=0.01)
