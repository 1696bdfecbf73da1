"""The simulator's traffic written as an Asterisk queue_log and read back by the adapter: the voice
KPIs must be those of the simulator's own events (computed by tests/reference.py from them), with
waits and talk times in the whole seconds a queue_log has."""

from __future__ import annotations

import io
from typing import Any

import pytest

from adapters.asterisk import AsteriskReader, MappingOptions, QueueLogMapper
from adapters.queue_log import QueueLogParser
from adapters.queue_log_writer import QueueLogWriter, write_paced
from adapters.simulator import generate
from streams.contract import parse_time
from tests import reference

START = 1_767_261_600.0  # 2026-01-01T10:00:00Z
CALL_STEPS = ("contact.offered", "contact.answered", "contact.abandoned", "contact.ended")


def test_simulated_calls_survive_the_round_trip_through_a_queue_log() -> None:
    events = list(generate(START, 2 * 3600, seed=3))
    lines = list(QueueLogWriter().lines(events))
    read = AsteriskReader(QueueLogParser("pipe"), QueueLogMapper())
    batch = read.read((number, line.encode()) for number, line in enumerate(lines, start=1))
    assert batch.bad == []
    calls = [e for e in batch.events if e["type"] in CALL_STEPS]

    voice = [e for e in events if e.get("channel") == "voice" and e["type"] in CALL_STEPS]
    # What a queue_log keeps: whole seconds, and talk plus hold as the call time.
    rounded = []
    for event in voice:
        kept = {**event, "time": _whole_second(event["time"])}
        if "wait_s" in event:
            kept["wait_s"] = round(event["wait_s"])
        if event["type"] == "contact.ended":
            kept["talk_s"], kept["hold_s"] = round(event["talk_s"] + event["hold_s"]), 0
        rounded.append(kept)
    window = (START - 60, START + 3 * 3600)
    want = reference.compute(rounded, *window)
    got = reference.compute(calls, *window)
    queues = {e["queue"] for e in voice}
    assert queues == {"billing", "support", "sales", "retention"}
    for queue in queues:
        for kpi in ("offered", "answered", "abandoned", "handled", "asa_s", "avg_abandon_wait_s", "aht_s", "service_level"):
            assert got[(queue, "voice")][kpi] == pytest.approx(want[(queue, "voice")][kpi]), (queue, kpi)
    assert got[("billing", "voice")]["offered"] > 100


def _whole_second(text: str) -> str:
    """'2026-01-01T10:00:05.250Z' -> '2026-01-01T10:00:05Z': the log's epoch seconds."""
    return text.split(".")[0].rstrip("Z") + "Z"


def test_writing_follows_event_time() -> None:
    events: list[dict[str, Any]] = [
        {"type": "contact.offered", "time": "2026-01-01T10:00:00Z", "contact_id": "c1", "customer_id": "555",
         "queue": "q", "channel": "voice"},
        {"type": "contact.offered", "time": "2026-01-01T10:00:30Z", "contact_id": "c2", "customer_id": None,
         "queue": "q", "channel": "voice"},
        {"type": "contact.offered", "time": "2026-01-01T10:00:30Z", "contact_id": "x", "customer_id": None,
         "queue": "q", "channel": "chat"},
    ]  # fmt: skip
    now = [START + 10]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    out = io.StringIO()
    assert write_paced(out, events, clock=lambda: now[0], sleep=sleep) == 2
    assert slept == [20], "the first call was due already; the second 20 s later; chats are not in a queue_log"
    assert out.getvalue() == f"{int(START)}|c1|q|NONE|ENTERQUEUE||555|1\n{int(START) + 30}|c2|q|NONE|ENTERQUEUE|||1\n"


T = int(START)


def at(offset: float) -> str:
    whole = int(offset)
    fraction = f".{round((offset - whole) * 1000):03d}" if offset != whole else ""
    return f"2026-01-01T{10 + whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}{fraction}Z"


def agent(offset: float, who: str, **fields: Any) -> dict[str, Any]:
    kind = "agent.state_changed" if "state" in fields else "agent.queues_changed"
    return {"event_id": f"{who}-{offset}-{kind}", "type": kind, "time": at(offset), "agent_id": who, "channel": "voice", **fields}


def contact(offset: float, kind: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"c1-{kind}", "type": kind, "time": at(offset), "contact_id": "c1", "customer_id": "555",
            "queue": "sales", "channel": "voice", **fields}  # fmt: skip


# An agent's morning in contract events: two queues, a call (another agent missed it first) that it
# transfers after 240 s of talk and hold, 30 s of wrap-up, lunch, a queue less, and logging out.
DAY: list[dict[str, Any]] = [
    agent(0, "PJSIP/7", queues=["sales", "support"]),
    agent(0, "PJSIP/7", state="available"),
    agent(30, "PJSIP/8", state="available"),
    agent(30, "PJSIP/8", queues=["sales"]),
    contact(60.4, "contact.offered"),
    contact(65.4, "contact.ringing", agent_id="PJSIP/8"),
    contact(80.4, "contact.missed", agent_id="PJSIP/8"),
    contact(81.4, "contact.answered", agent_id="PJSIP/7", wait_s=21.0),
    agent(81.4, "PJSIP/7", state="on_contact", contact_id="c1", queue="sales"),
    contact(321.4, "contact.ended", agent_id="PJSIP/7", talk_s=230.0, hold_s=10.0),
    contact(321.4, "contact.transferred", agent_id="PJSIP/7"),
    agent(321.4, "PJSIP/7", state="after_contact_work"),
    agent(351.4, "PJSIP/7", state="available"),
    agent(600, "PJSIP/7", state="aux", reason="lunch"),
    agent(2400, "PJSIP/7", state="available"),
    agent(3000, "PJSIP/7", queues=["support"]),
    agent(3600, "PJSIP/7", state="logged_out"),
]

DAY_LINES = f"""\
{T}|MANAGER|sales|PJSIP/7|ADDMEMBER|
{T}|MANAGER|support|PJSIP/7|ADDMEMBER|
{T + 30}|MANAGER|sales|PJSIP/8|ADDMEMBER|
{T + 60}|c1|sales|NONE|ENTERQUEUE||555|1
{T + 80}|c1|sales|PJSIP/8|RINGNOANSWER|15000
{T + 81}|c1|sales|PJSIP/7|CONNECT|21|c1-agent|3
{T + 321}|c1|sales|PJSIP/7|BLINDTRANSFER|2000|from-internal|21|240|1
{T + 600}|NONE|NONE|PJSIP/7|PAUSEALL|lunch
{T + 600}|NONE|sales|PJSIP/7|PAUSE|lunch
{T + 600}|NONE|support|PJSIP/7|PAUSE|lunch
{T + 2400}|NONE|NONE|PJSIP/7|UNPAUSEALL|
{T + 2400}|NONE|sales|PJSIP/7|UNPAUSE|
{T + 2400}|NONE|support|PJSIP/7|UNPAUSE|
{T + 3000}|MANAGER|sales|PJSIP/7|REMOVEMEMBER|
{T + 3600}|MANAGER|support|PJSIP/7|REMOVEMEMBER|
""".splitlines()


def seconds_in_state(events: list[dict[str, Any]], until: float) -> dict[tuple[str, str, str | None], float]:
    """(agent, state, reason) -> seconds, from each agent's state events in time order (an independent
    reading of the contract: a state lasts until the agent's next state event)."""
    totals: dict[tuple[str, str, str | None], float] = {}
    by_agent: dict[str, list[tuple[float, str, str | None]]] = {}
    for e in events:
        if e["type"] == "agent.state_changed":
            by_agent.setdefault(e["agent_id"], []).append((parse_time(e["time"]), e["state"], e.get("reason")))
    for who, states in by_agent.items():
        states.sort(key=lambda row: row[0])
        for (start, state, reason), end in zip(states, [row[0] for row in states[1:]] + [until]):
            if state != "logged_out":
                key = (who, state, reason)
                totals[key] = totals.get(key, 0.0) + end - start
    return totals


def test_agents_are_written_as_the_lines_a_pbx_writes() -> None:
    assert list(QueueLogWriter().lines(DAY)) == DAY_LINES


@pytest.mark.parametrize("wrapup", [30, 0])
def test_agent_states_survive_the_round_trip(wrapup: int) -> None:
    """Read back with the queue's 30 s wrap-up configured, the log gives the agents' times as they were,
    to the whole second the log keeps (the events were 0.4 s into their seconds); without it, the
    after-contact work is available time."""
    read = AsteriskReader(QueueLogParser("pipe"), QueueLogMapper(MappingOptions(wrapup={"*": wrapup})))
    batch = read.read((n, line.encode()) for n, line in enumerate(QueueLogWriter().lines(DAY), start=1))
    assert batch.bad == []
    got = seconds_in_state(batch.events, START + 3700)
    # By hand: PJSIP/7 available 0-81 and 351-600 (or 321-600 without wrap-up) and 2400-3600, on the call
    # 81-321, lunch 600-2400; PJSIP/8 available from 30 to the end (3700). The log's seconds cut the 0.4 s.
    acw = {("PJSIP/7", "after_contact_work", None): 30.0} if wrapup else {}
    want = {
        ("PJSIP/7", "available", None): 81 + (600 - 321 - wrapup) + 1200,
        ("PJSIP/7", "on_contact", None): 240.0,
        ("PJSIP/7", "aux", "lunch"): 1800.0,
        ("PJSIP/8", "available", None): 3670.0,
        **acw,
    }
    assert got == pytest.approx(want, abs=1e-5)
    queues = [(e["agent_id"], e["queues"]) for e in batch.events if e["type"] == "agent.queues_changed"]
    assert queues == [("PJSIP/7", ["sales"]), ("PJSIP/7", ["sales", "support"]), ("PJSIP/8", ["sales"]),
                      ("PJSIP/7", ["support"]), ("PJSIP/7", [])]  # fmt: skip
    kinds = [e["type"] for e in batch.events if e["type"] in ("contact.missed", "contact.transferred")]
    assert kinds == ["contact.missed", "contact.transferred"]


def test_simulated_agents_survive_the_round_trip() -> None:
    """The simulator's agents: their staffed time in each state, read back through the log,
    is what the simulator said (after-contact work read as available, as no wrap-up is configured)."""
    events = list(generate(START, 2 * 3600, seed=3, agents=True))
    agent_events = [e for e in events if e["type"].startswith("agent.")]
    chat = {e["agent_id"] for e in agent_events if e.get("channel", "voice") != "voice"}  # given at login, carried forward
    voice_agents = [e for e in agent_events if e["agent_id"] not in chat]
    assert voice_agents, "the simulator produced no voice agent events"
    read = AsteriskReader(QueueLogParser("pipe"), QueueLogMapper())
    batch = read.read((n, line.encode()) for n, line in enumerate(QueueLogWriter().lines(events), start=1))
    assert batch.bad == []
    until = START + 3 * 3600
    rounded = [{**e, "time": _whole_second(e["time"])} for e in voice_agents]
    want: dict[tuple[str, str, str | None], float] = {}
    for (who, state, reason), seconds in seconds_in_state(rounded, until).items():
        key = (who, "available" if state == "after_contact_work" else state, reason)
        want[key] = want.get(key, 0.0) + seconds
    assert seconds_in_state(batch.events, until) == pytest.approx(want, abs=1e-3)
