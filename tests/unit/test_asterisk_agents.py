"""Queue members in Asterisk's queue_log (the lines apps/app_queue.c and app_agent_pool write: ADDMEMBER,
REMOVEMEMBER, PAUSE|reason, PAUSEALL before the per-queue PAUSE lines, AGENTLOGIN with the bare agent id,
CONNECT and COMPLETE*) mapped to contract agent events; every expected timeline is worked out by hand."""

from __future__ import annotations

import json
from typing import Any

from adapters.asterisk import AsteriskReader, MappingOptions, QueueLogMapper
from adapters.queue_log import QueueLogParser
from streams import topics
from streams.contract import validate

T = 1767261600  # 2026-01-01T10:00:00Z


def at(offset: int, micros: int = 0) -> str:
    fraction = f".{micros:06d}" if micros else ""
    return f"2026-01-01T10:{offset // 60:02d}:{offset % 60:02d}{fraction}Z"


def lines(text: str) -> list[tuple[int, bytes]]:
    return [(number, raw.encode()) for number, raw in enumerate(text.splitlines(), start=1)]


def read(text: str, **mapping: Any) -> tuple[AsteriskReader, list[dict[str, Any]]]:
    reader = AsteriskReader(QueueLogParser(), QueueLogMapper(MappingOptions(**mapping)))
    batch = reader.read(lines(text))
    assert batch.bad == []
    for event in batch.events:
        validate(event, topics.AGENTS if event["type"].startswith("agent.") else topics.CALLS)
    return reader, batch.events


def timeline(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(time, agent, what) per agent event: the state (with reason or contact), or the queues."""
    rows = []
    for e in events:
        if e["type"] == "agent.queues_changed":
            rows.append((e["time"], e["agent_id"], "queues " + ",".join(e["queues"])))
        elif e["type"] == "agent.state_changed":
            detail = e.get("reason") or e.get("contact_id") or ""
            rows.append((e["time"], e["agent_id"], f"{e['state']} {detail}".strip()))
    return rows


TWO_QUEUES = f"""\
{T}|MANAGER|sales|PJSIP/301|ADDMEMBER|
{T}|MANAGER|support|PJSIP/301|ADDMEMBER|
{T + 60}|NONE|NONE|PJSIP/301|PAUSEALL|break
{T + 60}|NONE|sales|PJSIP/301|PAUSE|break
{T + 60}|NONE|support|PJSIP/301|PAUSE|break
{T + 300}|NONE|sales|PJSIP/301|UNPAUSE|
{T + 400}|NONE|support|PJSIP/301|PAUSE|meeting
{T + 500}|NONE|sales|PJSIP/301|PAUSE|meeting
{T + 600}|MANAGER|sales|PJSIP/301|REMOVEMEMBER|
{T + 700}|MANAGER|support|PJSIP/301|REMOVEMEMBER|
"""


def test_membership_and_pauses_across_two_queues() -> None:
    """Paused everywhere = aux; unpaused in one queue = available (it takes that queue's calls); the
    per-queue PAUSE lines after PAUSEALL change nothing; out of every queue = logged out. The second
    ADDMEMBER shares the first one's second and keeps its place 1 µs after it."""
    _, events = read(TWO_QUEUES)
    agent = "PJSIP/301"
    assert timeline(events) == [
        (at(0), agent, "queues sales"),
        (at(0), agent, "available"),
        (at(0, 1), agent, "queues sales,support"),
        (at(60), agent, "aux break"),
        (at(300), agent, "available"),  # back in sales; support still paused
        # 400: paused again in support only: still available in sales, nothing to say
        (at(500), agent, "aux meeting"),  # now paused in both
        (at(600), agent, "queues support"),  # still paused in the one queue left
        (at(700), agent, "queues "),
        (at(700), agent, "logged_out"),
    ]
    assert all(e["channel"] == "voice" for e in events)


CALL_WITH_WRAPUP = f"""\
{T}|MANAGER|support|PJSIP/201|ADDMEMBER|
{T + 10}|c1|support|NONE|ENTERQUEUE||555|1
{T + 12}|c1|support|PJSIP/201|CONNECT|2|c1-peer|1
{T + 50}|NONE|support|PJSIP/201|PAUSE|lunch
{T + 100}|c1|support|PJSIP/201|COMPLETEAGENT|2|88|1
{T + 200}|c2|support|NONE|ENTERQUEUE||556|1
"""


def test_a_pause_during_a_call_waits_for_the_call_and_its_wrap_up() -> None:
    """With 30 s of wrap-up for support: on the call from 12, in after-contact work from its end at 100,
    and on lunch from 130 (the pause asked for at 50), which is published when the log passes 130."""
    reader, events = read(CALL_WITH_WRAPUP, wrapup={"support": 30})
    agent = "PJSIP/201"
    assert timeline(events) == [
        (at(0), agent, "queues support"),
        (at(0), agent, "available"),
        (at(12), agent, "on_contact c1"),
        (at(100), agent, "after_contact_work"),
        (at(130), agent, "aux lunch"),
    ]
    on_call = next(e for e in events if e.get("state") == "on_contact")
    assert (on_call["contact_id"], on_call["queue"]) == ("c1", "support")
    # The wrap-up's end comes before the line that passed it, and has an id of its own.
    kinds = [e["type"] for e in events]
    assert kinds[-2:] == ["agent.state_changed", "contact.offered"]
    assert len({e["event_id"] for e in events}) == len(events)
    assert reader.mapper.agents.next_due is None


def test_without_wrap_up_the_agent_is_available_when_the_call_ends() -> None:
    _, events = read(CALL_WITH_WRAPUP.replace("PAUSE|lunch", "UNPAUSE|"))
    assert [row[2] for row in timeline(events)] == ["queues support", "available", "on_contact c1", "available"]
    assert timeline(events)[-1][0] == at(100)


def test_a_new_call_ends_the_wrap_up_early() -> None:
    text = f"""\
{T}|MANAGER|support|PJSIP/201|ADDMEMBER|
{T + 12}|c1|support|PJSIP/201|CONNECT|2|c1-peer|1
{T + 100}|c1|support|PJSIP/201|COMPLETECALLER|2|88|1
{T + 110}|c2|support|PJSIP/201|CONNECT|5|c2-peer|1
{T + 400}|c2|support|PJSIP/201|COMPLETECALLER|5|290|1
{T + 500}|c3|support|NONE|ENTERQUEUE||557|1
"""
    _, events = read(text, wrapup={"*": 30})
    assert [(row[0], row[2]) for row in timeline(events)] == [
        (at(0), "queues support"), (at(0), "available"),
        (at(12), "on_contact c1"), (at(100), "after_contact_work"),
        (at(110), "on_contact c2"),  # 10 s into a 30 s wrap-up: its end (130) is never published
        (at(400), "after_contact_work"), (at(430), "available"),
    ]  # fmt: skip


def test_agent_pool_logins_name_the_agent_as_its_queue_lines_do() -> None:
    """app_agent_pool writes AGENTLOGIN/AGENTLOGOFF with the agent's id (1001); its queue member, and
    so every call line, is Agent/1001. The login has no queue; the call teaches it."""
    text = f"""\
{T}|1767261600.1|NONE|1001|AGENTLOGIN|PJSIP/1001-00000001
{T + 5}|c1|support|Agent/1001|CONNECT|3|c1-peer|2
{T + 65}|c1|support|Agent/1001|COMPLETECALLER|3|60|1
{T + 90}|1767261600.1|NONE|1001|AGENTLOGOFF|PJSIP/1001-00000001|90
{T + 95}|1767261600.1|NONE|1001|AGENTLOGIN|PJSIP/1001-00000001
"""
    _, events = read(text)
    agent = "Agent/1001"
    assert timeline(events) == [
        (at(0), agent, "available"),
        (at(5), agent, "queues support"),
        (at(5), agent, "on_contact c1"),
        (at(65), agent, "available"),
        (at(90), agent, "logged_out"),
        (at(95), agent, "available"),
    ]


def test_a_member_added_paused_is_in_aux_without_a_reason() -> None:
    _, events = read(f"{T}|MANAGER|support|PJSIP/9|ADDMEMBER|PAUSED\n{T + 9}|NONE|support|PJSIP/9|UNPAUSE|\n")
    states = [e for e in events if e["type"] == "agent.state_changed"]
    assert [(e["state"], e.get("reason", "-")) for e in states] == [("aux", None), ("available", "-")]


def test_agent_lines_that_cannot_be_mapped_are_bad_lines_with_their_numbers() -> None:
    text = (
        f"{T}|MANAGER|support|PJSIP/1|ADDMEMBER|\n"  # 1 good
        f"{T + 1}|NONE|support|NONE|PAUSE|break\n"  # 2 no member
        f"{T + 2}|MANAGER|NONE|PJSIP/1|ADDMEMBER|\n"  # 3 no queue
        f"{T + 3}|c1|support|PJSIP/1|RINGNOANSWER|soon\n"  # 4 ring time not a number
        f"{T + 4}|NONE|NONE|PJSIP/1|PAUSEALL|break\n"  # 5 good: PAUSEALL names no queue
    )
    batch = AsteriskReader(QueueLogParser(), QueueLogMapper()).read(lines(text))
    assert [(bad.line, bad.kind) for bad in batch.bad] == [(2, "data"), (3, "data"), (4, "data")]
    assert [e.get("state") for e in batch.events if e["type"] == "agent.state_changed"] == ["available", "aux"]


def test_a_restart_in_the_middle_gives_the_same_events_as_one_read() -> None:
    """The agents' state goes through the position file (JSON) between two reads: the pending wrap-up,
    the pause held for after it and the same-second ordering all survive, with the same event ids."""
    text = TWO_QUEUES + CALL_WITH_WRAPUP.replace("PJSIP/201", "PJSIP/301").replace(f"{T}|MANAGER|support|PJSIP/301|ADDMEMBER|\n", "")
    text = "\n".join(sorted(text.splitlines(), key=lambda line: int(line.split("|")[0]))) + "\n"
    options = MappingOptions(wrapup={"support": 30})
    whole = AsteriskReader(QueueLogParser(), QueueLogMapper(options)).read(lines(text)).events
    numbered = lines(text)
    for cut in range(1, len(numbered)):
        first = AsteriskReader(QueueLogParser(), QueueLogMapper(options))
        events = first.read(numbered[:cut]).events
        saved = json.loads(json.dumps({"open_calls": first.mapper.open_calls, "agents": first.mapper.agents.state()}))
        second = AsteriskReader(QueueLogParser(), QueueLogMapper(options, saved["open_calls"], saved["agents"]))
        events += second.read(numbered[cut:]).events
        assert events == whole, f"cut after line {cut}"
    assert any(e.get("state") == "after_contact_work" for e in whole)
