"""Amazon Connect contact events (EventBridge) and agent event stream records, in the documented
shapes, to contract events and KPIs worked out by hand."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from adapters.amazon_connect import events_from_contract, map_event
from adapters.mapping import Skip, Unmappable
from adapters.simulator import QueueProfile, generate
from streams import topics
from streams.contract import parse_time, validate
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


def one(document: Any, names: dict[str, str]) -> dict[str, Any] | Skip:
    """The single contract event of a contact event (or its Skip)."""
    mapped = map_event(document, names)
    if isinstance(mapped, Skip):
        return mapped
    assert len(mapped) == 1
    return mapped[0]


def kpis(events: list[Any]) -> dict[str, Any]:
    return reference.compute([e for e in events if isinstance(e, dict)], T0 - 60, T0 + 3600)[("billing", "voice")]


def test_an_answered_call_maps_step_by_step() -> None:
    acw = {**AGENT_INFO, "afterContactWorkStartTimestamp": "2026-03-02T09:05:12.500Z",
           "afterContactWorkEndTimestamp": "2026-03-02T09:05:52.500Z", "afterContactWorkDuration": 40}  # fmt: skip
    events = [
        one(contact_event("INITIATED"), NAMES),
        one(contact_event("QUEUED", queueInfo=QUEUE), NAMES),
        one(contact_event("CONNECTED_TO_AGENT", queueInfo=QUEUE, agentInfo=AGENT_INFO), NAMES),
        one(contact_event("DISCONNECTED", queueInfo=QUEUE, agentInfo=AGENT_INFO, disconnectTimestamp="2026-03-02T09:05:12.500Z"), NAMES),
        one(contact_event("COMPLETED", queueInfo=QUEUE, agentInfo=acw, disconnectTimestamp="2026-03-02T09:05:12.500Z"), NAMES),
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
    abandoned = one(contact_event("DISCONNECTED", queueInfo=QUEUE, disconnectTimestamp="2026-03-02T09:01:30.000Z"), NAMES)
    assert abandoned == {
        "event_id": f"connect-{CONTACT}-abandoned", "type": "contact.abandoned", "time": "2026-03-02T09:01:30.000Z",
        "contact_id": CONTACT, "customer_id": None, "queue": "billing", "channel": "voice", "wait_s": 90.0,
    }  # fmt: skip
    row = kpis([one(contact_event("QUEUED", queueInfo=QUEUE), NAMES), abandoned])
    assert (row["offered"], row["abandoned"], row["abandon_rate"], row["avg_abandon_wait_s"]) == (1, 1, 1.0, 90.0)
    ivr_only = contact_event("DISCONNECTED", disconnectTimestamp="2026-03-02T09:01:30.000Z")
    assert one(ivr_only, NAMES) == Skip("DISCONNECTED.not_queued")


def test_a_contact_completed_without_after_contact_work_ends_its_handling_at_the_disconnect() -> None:
    event = one(contact_event("COMPLETED", queueInfo=QUEUE, agentInfo=AGENT_INFO, disconnectTimestamp="2026-03-02T09:03:00.000Z"), {})
    assert isinstance(event, dict)
    assert (event["type"], event["time"], event["acw_s"], event["queue"]) == (
        "contact.wrapup_ended", "2026-03-02T09:03:00.000Z", 0.0, QUEUE_ID,
    )


QUEUE2_ID = "99999999-aaaa-bbbb-cccc-999999999999"
AGENT_ARN = f"{INSTANCE}/agent/{AGENT}"


def snapshot(status: str, contacts: list[dict[str, Any]] | None = None, queues: tuple[str, ...] = (QUEUE_ID, QUEUE2_ID)) -> dict[str, Any]:
    """An AgentSnapshot as the agent event stream data model has it (AWS sample: a voice-only profile)."""
    return {
        "AgentStatus": {"ARN": f"{INSTANCE}/agent-state/{status}", "Name": status, "StartTimestamp": "2026-03-02T08:59:00.000Z"},
        "Configuration": {
            "AgentHierarchyGroups": None, "FirstName": "Ada", "LastName": "Agent", "Username": "ada",
            "RoutingProfile": {
                "ARN": f"{INSTANCE}/routing-profile/rp-1", "Name": "Basic Routing Profile",
                "Concurrency": [{"AvailableSlots": 1, "Channel": "VOICE", "MaximumSlots": 1}],
                "DefaultOutboundQueue": {"ARN": f"{INSTANCE}/queue/{QUEUE_ID}", "Name": "BasicQueue", "Channels": ["VOICE"]},
                "InboundQueues": [{"ARN": f"{INSTANCE}/queue/{q}", "Name": q[:8], "Channels": ["VOICE"]} for q in queues],
            },
        },
        "Contacts": contacts or [],
    }  # fmt: skip


def on_call(state: str, contact: str = CONTACT, since: str = "2026-03-02T09:00:12.500Z") -> dict[str, Any]:
    return {"Channel": "VOICE", "ConnectedToAgentTimestamp": since, "ContactId": contact, "InitialContactId": None,
            "InitiationMethod": "INBOUND", "Queue": {"ARN": f"{INSTANCE}/queue/{QUEUE_ID}", "Name": "billing"},
            "QueueTimestamp": "2026-03-02T09:00:00.000Z", "State": state, "StateStartTimestamp": since}  # fmt: skip


def record(kind: str, number: int, at: str, current: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    document = {"AWSAccountId": "111122223333", "AgentARN": AGENT_ARN, "EventId": f"ev-{number}", "EventTimestamp": at,
                "EventType": kind, "InstanceARN": INSTANCE, "Version": "2019-05-25", "CurrentAgentSnapshot": current}  # fmt: skip
    if previous is not None:
        document["PreviousAgentSnapshot"] = previous
    return document


def test_an_agents_day_from_the_agent_event_stream() -> None:
    """Logs in available in two queues; a call rings (no change), connects, ends (after-contact work),
    is cleared (available); a break; the routing profile loses a queue; a missed call; a heartbeat; logout."""
    available, ringing = snapshot("Available"), snapshot("Available", [on_call("CONNECTING", since="2026-03-02T09:00:05.000Z")])
    talking, acw = snapshot("Available", [on_call("CONNECTED")]), snapshot("Available", [on_call("ENDED", since="2026-03-02T09:05:12.500Z")])
    one_queue = snapshot("Available", queues=(QUEUE_ID,))
    missed = snapshot("Available", [on_call("MISSED", "c-2", "2026-03-02T09:21:00.000Z")], queues=(QUEUE_ID,))
    records = [
        record("LOGIN", 1, "2026-03-02T08:59:00.000Z", available),
        record("STATE_CHANGE", 2, "2026-03-02T09:00:05.000Z", ringing, available),
        record("STATE_CHANGE", 3, "2026-03-02T09:00:12.500Z", talking, ringing),
        record("STATE_CHANGE", 4, "2026-03-02T09:05:12.500Z", acw, talking),
        record("STATE_CHANGE", 5, "2026-03-02T09:05:52.500Z", available, acw),
        record("STATE_CHANGE", 6, "2026-03-02T09:10:00.000Z", snapshot("Break"), available),
        record("STATE_CHANGE", 7, "2026-03-02T09:20:00.000Z", one_queue, snapshot("Break")),
        record("STATE_CHANGE", 8, "2026-03-02T09:21:00.000Z", missed, one_queue),
        record("HEART_BEAT", 9, "2026-03-02T09:23:00.000Z", missed),
        record("LOGOUT", 10, "2026-03-02T17:00:00.000Z", snapshot("Offline", queues=(QUEUE_ID,)), one_queue),
    ]
    mapped = [map_event(r, NAMES) for r in records]
    assert mapped[1] == Skip("agent.STATE_CHANGE.unchanged") and mapped[8] == Skip("agent.HEART_BEAT")
    events = [e for result in mapped if not isinstance(result, Skip) for e in result]
    for event in events:
        validate(event, topics.AGENTS if event["type"].startswith("agent.") else topics.CALLS)
    brief = [(e["event_id"], e["time"][11:23], e.get("state") or e.get("queues") or e["type"], e.get("reason") or e.get("contact_id"))
             for e in events]  # fmt: skip
    assert brief == [
        ("connect-agent-ev-1-queues", "08:59:00.000", ["billing", QUEUE2_ID], None),
        ("connect-agent-ev-1-state", "08:59:00.000", "available", None),
        ("connect-agent-ev-3-state", "09:00:12.500", "on_contact", CONTACT),
        ("connect-agent-ev-4-state", "09:05:12.500", "after_contact_work", None),
        ("connect-agent-ev-5-state", "09:05:52.500", "available", None),
        ("connect-agent-ev-6-state", "09:10:00.000", "aux", "Break"),
        ("connect-agent-ev-7-queues", "09:20:00.000", ["billing"], None),
        ("connect-agent-ev-7-state", "09:20:00.000", "available", None),
        ("connect-c-2-missed-" + AGENT, "09:21:00.000", "contact.missed", "c-2"),
        ("connect-agent-ev-10-state", "17:00:00.000", "logged_out", None),
    ]
    first_state = events[1]
    assert (first_state["agent_id"], first_state["agent_name"], first_state["channel"], first_state["capacity"]) == (AGENT, "ada", "voice", 1)
    assert (events[2]["queue"], events[8]["queue"], events[8]["agent_id"]) == ("billing", "billing", AGENT)


def test_status_names_map_as_configured() -> None:
    """Unlisted statuses are aux named after themselves; a center may call one routable."""
    coaching = record("STATE_CHANGE", 1, "2026-03-02T09:00:00.000Z", snapshot("Coaching"), snapshot("Available"))
    assert [e["state"] for e in map_event(coaching, NAMES) if isinstance(e, dict)] == ["aux"]
    mapped = map_event(coaching, NAMES, {"Available": "available", "Coaching": "available"})
    assert mapped == Skip("agent.STATE_CHANGE.unchanged")
    with pytest.raises(Unmappable, match="AgentARN is missing"):
        map_event({**coaching, "AgentARN": ""}, NAMES)


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
    steps = ("contact.offered", "contact.answered", "contact.abandoned", "contact.ended", "contact.wrapup_ended")
    original = [e for e in generate(T0, 3600, seed=5, queues=queues) if e["type"] in steps]
    back = [one(document, {}) for document in events_from_contract(original)]
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
