"""Asterisk queue_log snippets in the documented layouts (docs.asterisk.org "Queue Logs", the fields as
apps/app_queue.c writes them) mapped to contract events, and the KPIs those events give, all worked
out by hand here. KPIs are computed by tests/reference.py (the independent oracle), never by kpis/."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.asterisk import AsteriskReader, ExitPolicy, MappingOptions, QueueLogMapper, parse_exit_policy
from adapters.queue_log import QueueLogParser, detect_layout
from streams import topics
from streams.contract import validate
from tests import reference

T = 1767261600  # 2026-01-01T10:00:00Z


def at(offset: int) -> str:
    """The RFC 3339 UTC time of T + offset seconds, written out by hand (all offsets here are < 1 h)."""
    return f"2026-01-01T10:{offset // 60:02d}:{offset % 60:02d}Z"


# A morning on queue "support": seven calls, every way a queued call ends, and the agent events around them.
MORNING = f"""\
{T}|NONE|NONE|NONE|QUEUESTART|
{T + 1}|NONE|support|PJSIP/201|ADDMEMBER|
{T + 2}|NONE|support|PJSIP/201|UNPAUSE|
{T + 10}|1767261610.1|support|NONE|ENTERQUEUE||5551001|1
{T + 25}|1767261610.1|support|PJSIP/202|RINGNOANSWER|15000
{T + 28}|1767261610.1|support|PJSIP/201|CONNECT|18|1767261625.2|3
{T + 100}|1767261700.3|support|NONE|ENTERQUEUE||5551002|1
{T + 145}|1767261700.3|support|NONE|ABANDON|2|1|45
{T + 148}|1767261610.1|support|PJSIP/201|COMPLETECALLER|18|120|1
{T + 200}|1767261800.4|support|NONE|ENTERQUEUE|||1
{T + 300}|1767261900.5|support|NONE|ENTERQUEUE||5551004|2
{T + 320}|1767261900.5|support|NONE|EXITWITHKEY|1|1|2|20
{T + 350}|1767261950.6|support|NONE|ENTERQUEUE||5551005|2|Jane Roe
{T + 362}|1767261950.6|support|NONE|EXITEMPTY|1|2|12
{T + 400}|1767262000.7|support|NONE|ENTERQUEUE||5551006|2
{T + 404}|1767262000.7|support|PJSIP/202|CONNECT|4|1767262002.8|2
{T + 410}|1767262010.9|support|NONE|ENTERQUEUE||5551007|2
{T + 416}|1767262010.9|support|PJSIP/201|CONNECT|6|1767262012.10|1
{T + 500}|1767261800.4|support|NONE|EXITWITHTIMEOUT|1|1|300
{T + 511}|1767262010.9|support|PJSIP/201|ATTENDEDTRANSFER|BRIDGE|a3b2-77|6|95|2
{T + 524}|1767262000.7|support|PJSIP/202|BLINDTRANSFER|200|from-internal|4|120|2
{T + 600}|NONE|support|PJSIP/201|PAUSE|lunch
{T + 900}|NONE|support|PJSIP/201|UNPAUSE|
"""

A, B, C, D, E, F, G = (
    "1767261610.1", "1767261700.3", "1767261800.4", "1767261900.5", "1767261950.6", "1767262000.7", "1767262010.9",
)  # fmt: skip

# (type, seconds after T, call, caller, agent, extra) as the mapping is documented to give them.
MORNING_EVENTS: list[tuple[str, int, str, str | None, str | None, dict[str, Any]]] = [
    ("contact.offered", 10, A, "5551001", None, {}),
    ("contact.ringing", 10, A, "5551001", "PJSIP/202", {}),  # RINGNOANSWER at 25 after 15000 ms of ringing
    ("contact.missed", 25, A, "5551001", "PJSIP/202", {}),
    ("contact.answered", 28, A, "5551001", "PJSIP/201", {"wait_s": 18}),
    ("contact.offered", 100, B, "5551002", None, {}),
    ("contact.abandoned", 145, B, "5551002", None, {"wait_s": 45}),
    ("contact.ended", 148, A, "5551001", "PJSIP/201", {"talk_s": 120}),
    ("contact.offered", 200, C, None, None, {}),
    ("contact.offered", 300, D, "5551004", None, {}),
    ("contact.abandoned", 320, D, "5551004", None, {"wait_s": 20}),
    ("contact.offered", 350, E, "5551005", None, {}),
    ("contact.abandoned", 362, E, "5551005", None, {"wait_s": 12}),
    ("contact.offered", 400, F, "5551006", None, {}),
    ("contact.answered", 404, F, "5551006", "PJSIP/202", {"wait_s": 4}),
    ("contact.offered", 410, G, "5551007", None, {}),
    ("contact.answered", 416, G, "5551007", "PJSIP/201", {"wait_s": 6}),
    ("contact.abandoned", 500, C, None, None, {"wait_s": 300}),
    ("contact.ended", 511, G, "5551007", "PJSIP/201", {"talk_s": 95}),
    ("contact.transferred", 511, G, "5551007", "PJSIP/201", {}),
    ("contact.ended", 524, F, "5551006", "PJSIP/202", {"talk_s": 120}),
    ("contact.transferred", 524, F, "5551006", "PJSIP/202", {}),
]
CONTACT_ONLY = [row for row in MORNING_EVENTS if row[0] not in ("contact.ringing", "contact.missed", "contact.transferred")]

# The two members' timelines, by hand: 201 joins (ADDMEMBER) and is available (its UNPAUSE changes
# nothing), talks to A and G, goes to lunch at 600 and is back at 900; 202 appears with the ring it
# missed (which makes it a member of support, available), then talks to F. No wrap-up is configured,
# so each call's end makes its agent available again.
MORNING_AGENTS: list[tuple[int, str, dict[str, Any]]] = [
    (1, "PJSIP/201", {"type": "agent.queues_changed", "queues": ["support"]}),
    (1, "PJSIP/201", {"type": "agent.state_changed", "state": "available"}),
    (25, "PJSIP/202", {"type": "agent.queues_changed", "queues": ["support"]}),
    (25, "PJSIP/202", {"type": "agent.state_changed", "state": "available"}),
    (28, "PJSIP/201", {"type": "agent.state_changed", "state": "on_contact", "contact_id": A, "queue": "support"}),
    (148, "PJSIP/201", {"type": "agent.state_changed", "state": "available"}),
    (404, "PJSIP/202", {"type": "agent.state_changed", "state": "on_contact", "contact_id": F, "queue": "support"}),
    (416, "PJSIP/201", {"type": "agent.state_changed", "state": "on_contact", "contact_id": G, "queue": "support"}),
    (511, "PJSIP/201", {"type": "agent.state_changed", "state": "available"}),
    (524, "PJSIP/202", {"type": "agent.state_changed", "state": "available"}),
    (600, "PJSIP/201", {"type": "agent.state_changed", "state": "aux", "reason": "lunch"}),
    (900, "PJSIP/201", {"type": "agent.state_changed", "state": "available"}),
]


def lines(text: str) -> list[tuple[int, bytes]]:
    return [(number, raw.encode()) for number, raw in enumerate(text.splitlines(), start=1)]


def reader(layout: str = "auto", timezone: str = "UTC", **mapping: Any) -> AsteriskReader:
    return AsteriskReader(QueueLogParser(layout, timezone), QueueLogMapper(MappingOptions(**mapping)))


def without_ids(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in event.items() if k != "event_id"} for event in events]


def expected(rows: list[tuple[str, int, str, str | None, str | None, dict[str, Any]]]) -> list[dict[str, Any]]:
    found = []
    for kind, offset, call, caller, agent, extra in rows:
        event = {"type": kind, "time": at(offset), "contact_id": call, "customer_id": caller, "queue": "support", "channel": "voice"}
        if agent is not None:
            event["agent_id"] = agent
        found.append({**event, **extra})
    return found


def agent_events(rows: list[tuple[int, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [{"time": at(offset), "agent_id": agent, "channel": "voice", **fields} for offset, agent, fields in rows]


def contacts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"].startswith("contact.")]


CALL_STEPS = ("contact.offered", "contact.answered", "contact.abandoned", "contact.ended")


def calls(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps of the calls themselves (what the queue KPIs are made of, and tests/reference.py reads)."""
    return [e for e in events if e["type"] in CALL_STEPS]


def agents_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in without_ids(events) if e["type"].startswith("agent.")]


def test_every_way_a_queued_call_ends_maps_to_the_documented_events() -> None:
    read = reader()
    batch = read.read(lines(MORNING))
    assert batch.bad == []
    assert without_ids(contacts(batch.events)) == expected(MORNING_EVENTS)
    assert agents_of(batch.events) == agent_events(MORNING_AGENTS)
    for event in batch.events:
        validate(event, topics.AGENTS if event["type"].startswith("agent.") else topics.CALLS)
    assert read.mapper.skipped == {"QUEUESTART": 1}
    assert read.lines == 23
    assert read.mapper.open_calls == {}, "every call of the morning ended, so no caller id is still held"


def test_kpis_of_the_morning_worked_out_by_hand() -> None:
    events = calls(reader().read(lines(MORNING)).events)
    row = reference.compute(events, T, T + 3600)[("support", "voice")]
    # Offered: A..G. Answered: A (18 s), F (4 s), G (6 s). Abandoned: B (45 s) and, by default, the exits
    # D (key, 20 s), E (empty, 12 s), C (timeout, 300 s); none under the 5 s short-abandon threshold.
    assert (row["offered"], row["answered"], row["abandoned"], row["short_abandoned"]) == (7, 3, 4, 0)
    assert row["asa_s"] == pytest.approx((18 + 4 + 6) / 3)
    assert row["avg_abandon_wait_s"] == pytest.approx((45 + 20 + 12 + 300) / 4)
    assert row["max_wait_s"] == 300
    assert row["abandon_rate"] == pytest.approx(4 / 7)
    # All three answers within 20 s, over answered + abandoned.
    assert row["service_level"] == pytest.approx(3 / 7)
    # Handled: A (120 s), G (95 s, attended transfer), F (120 s, blind transfer); no hold or wrap-up in the log.
    assert row["handled"] == 3
    assert row["aht_s"] == pytest.approx((120 + 95 + 120) / 3)


def test_exits_configured_as_uncounted_leave_the_abandon_rate() -> None:
    exits = {"EXITWITHKEY": ExitPolicy.UNCOUNTED, "EXITWITHTIMEOUT": ExitPolicy.UNCOUNTED}
    read = reader(exits=exits)
    events = calls(read.read(lines(MORNING)).events)
    assert [e["contact_id"] for e in events if e["type"] == "contact.abandoned"] == [B, E]
    row = reference.compute(events, T, T + 3600)[("support", "voice")]
    # Offered stays 7 (C and D were offered); abandoned B (45 s) and E (12 s) only.
    assert (row["offered"], row["answered"], row["abandoned"]) == (7, 3, 2)
    assert row["abandon_rate"] == pytest.approx(2 / 5)
    assert row["avg_abandon_wait_s"] == pytest.approx((45 + 12) / 2)
    assert read.mapper.uncounted == {"EXITWITHKEY": 1, "EXITWITHTIMEOUT": 1}
    assert read.mapper.open_calls == {}


def test_exit_policies_parse_from_the_command_line_form() -> None:
    assert parse_exit_policy("exitwithkey=Uncounted") == ("EXITWITHKEY", ExitPolicy.UNCOUNTED)
    with pytest.raises(ValueError, match="not a queue exit"):
        parse_exit_policy("ABANDON=uncounted")
    with pytest.raises(ValueError, match="not a policy"):
        parse_exit_policy("EXITEMPTY=ignored")


def test_older_and_other_transfer_layouts_take_the_calltime() -> None:
    text = f"""\
{T}|c1|sales|NONE|ENTERQUEUE||777|1
{T + 5}|c1|sales|SIP/301|CONNECT|5|c1-peer|1
{T + 75}|c1|sales|SIP/301|TRANSFER|300|from-internal|5|70|1
{T + 100}|c2|sales|NONE|ENTERQUEUE||778|1
{T + 102}|c2|sales|SIP/301|CONNECT|2|c2-peer|1
{T + 162}|c2|sales|SIP/301|ATTENDEDTRANSFER|LINK|SIP/301-01|SIP/400-02|2|60|1
"""
    events = reader().read(lines(text)).events
    assert [(e["type"], e.get("talk_s"), e["customer_id"]) for e in events if e["type"] == "contact.ended"] == [
        ("contact.ended", 70, "777"), ("contact.ended", 60, "778"),
    ]  # fmt: skip


def test_an_exit_without_its_waittime_leaves_the_wait_to_the_offer() -> None:
    """Asterisk 1.2 wrote EXITWITHTIMEOUT with the position only: no wait_s, the worker derives it."""
    text = f"{T}|c1|sales|NONE|ENTERQUEUE||777|1\n{T + 60}|c1|sales|NONE|EXITWITHTIMEOUT|1\n"
    events = reader().read(lines(text)).events
    assert events[1]["type"] == "contact.abandoned" and "wait_s" not in events[1]
    assert reference.compute(events, T, T + 3600)[("sales", "voice")]["avg_abandon_wait_s"] == 60


CSV_HEADER = "time,callid,queuename,agent,event,data1,data2,data3,data4,data5"
# Call A of the morning as the realtime backend stores it, in Berlin (UTC+1 in January), with a quoted
# caller name that holds a comma.
CSV_ROWS = """\
2026-01-01 11:00:10.250000,1767261610.1,support,NONE,ENTERQUEUE,,5551001,1,"Doe, John",
2026-01-01 11:00:25.000000,1767261610.1,support,PJSIP/202,RINGNOANSWER,15000,,,,
2026-01-01 11:00:28.5,1767261610.1,support,PJSIP/201,CONNECT,18,1767261625.2,3,,
2026-01-01 11:02:28,1767261610.1,support,PJSIP/201,COMPLETEAGENT,18,120,1,,
"""
CSV_EXPECTED = [
    {"type": "contact.offered", "time": "2026-01-01T11:00:10.250000+01:00", "contact_id": A, "customer_id": "5551001",
     "queue": "support", "channel": "voice"},
    {"type": "contact.answered", "time": "2026-01-01T11:00:28.500000+01:00", "contact_id": A, "customer_id": "5551001",
     "queue": "support", "channel": "voice", "agent_id": "PJSIP/201", "wait_s": 18},
    {"type": "contact.ended", "time": "2026-01-01T11:02:28+01:00", "contact_id": A, "customer_id": "5551001",
     "queue": "support", "channel": "voice", "agent_id": "PJSIP/201", "talk_s": 120},
]  # fmt: skip


@pytest.mark.parametrize("header", [True, False])
def test_the_csv_export_in_a_configured_zone(header: bool) -> None:
    text = (CSV_HEADER + "\n" if header else "") + CSV_ROWS
    read = reader(timezone="Europe/Berlin")
    batch = read.read(lines(text))
    assert batch.bad == []
    assert without_ids(calls(batch.events)) == CSV_EXPECTED
    assert read.parser.layout == "csv"
    assert read.mapper.skipped == {}
    # Derived times keep the line's offset: the ring began 15 s before the RINGNOANSWER line.
    assert [(e["type"], e["time"]) for e in batch.events if e["type"] in ("contact.ringing", "contact.missed")] == [
        ("contact.ringing", "2026-01-01T11:00:10+01:00"), ("contact.missed", "2026-01-01T11:00:25+01:00"),
    ]  # fmt: skip
    for event in batch.events:
        validate(event, topics.AGENTS if event["type"].startswith("agent.") else topics.CALLS)


def test_a_csv_header_may_order_the_columns_and_add_its_own() -> None:
    text = """\
id,event,time,callid,queuename,agent,data1,data2,data3,data4,data5
1,ENTERQUEUE,2026-01-01 10:00:10,c1,support,NONE,,5551001,1,,
2,ABANDON,2026-01-01 10:00:40,c1,support,NONE,1,1,30,,
"""
    events = reader().read(lines(text)).events
    assert [(e["type"], e["time"], e.get("wait_s")) for e in events] == [
        ("contact.offered", "2026-01-01T10:00:10+00:00", None), ("contact.abandoned", "2026-01-01T10:00:40+00:00", 30),
    ]  # fmt: skip


def test_parameters_beyond_data5_are_read_from_data5() -> None:
    """The realtime backend has five data columns; an attended transfer of kind LINK writes six
    parameters, the last two left together in data5 (calltime 60, origposition 1)."""
    text = """\
2026-01-01 10:00:00,c2,sales,NONE,ENTERQUEUE,,778,1,,
2026-01-01 10:00:02,c2,sales,SIP/301,CONNECT,2,c2-peer,1,,
2026-01-01 10:01:02,c2,sales,SIP/301,ATTENDEDTRANSFER,LINK,SIP/301-01,SIP/400-02,2,60|1
"""
    events = calls(reader().read(lines(text)).events)
    assert (events[-1]["type"], events[-1]["talk_s"]) == ("contact.ended", 60)


def test_csv_times_in_other_iso_forms_keep_their_offset_and_fraction() -> None:
    text = """\
2026-01-01T10:00:00.5,c1,sales,NONE,ENTERQUEUE,,778,1,,
2026-01-01 12:00:30+02:00,c1,sales,NONE,ABANDON,1,1,30,,
"""
    events = reader(timezone="Europe/Berlin").read(lines(text)).events
    assert [e["time"] for e in events] == ["2026-01-01T10:00:00.500000+01:00", "2026-01-01T12:00:30+02:00"]


def test_the_repeated_hour_of_a_dst_change_is_read_in_log_order() -> None:
    """Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET, so 02:00-02:59 happens twice. The log is written
    in time order: 02:10 after 02:45 is the second pass (+01:00). 02:30 on 2026-03-29 never happened."""
    text = """\
2026-10-25 02:30:00,c1,support,NONE,ENTERQUEUE,,555,1,,
2026-10-25 02:45:00,c1,support,NONE,ABANDON,1,1,900,,
2026-10-25 02:10:00,c2,support,NONE,ENTERQUEUE,,556,1,,
2026-03-29 02:30:00,c3,support,NONE,ENTERQUEUE,,557,1,,
"""
    batch = reader(timezone="Europe/Berlin").read(lines(text))
    assert [e["time"] for e in batch.events] == [
        "2026-10-25T02:30:00+02:00", "2026-10-25T02:45:00+02:00", "2026-10-25T02:10:00+01:00",
    ]  # fmt: skip
    assert [(bad.line, bad.kind) for bad in batch.bad] == [(4, "time")]


def test_bad_lines_are_reported_with_their_numbers_and_the_rest_goes_on() -> None:
    text = (
        f"{T}|c1|support|NONE|ENTERQUEUE||555|1\n"  # 1 good
        f"{T + 1}|c1|support|NONE|ENTER\n"  # 2 truncated inside the event name
        f"{T + 2}|c1\n"  # 3 truncated after the call id
        "\x00\x00\x00\x00\x00\x00\x00\x00\n"  # 4 what an unclean shutdown leaves
        f"17672616xx|c1|support|NONE|RINGNOANSWER|0\n"  # 5 epoch not a number
        f"{T + 3}|c1|support|NONE|FOOBAR|1\n"  # 6 no such event
        f"{T + 4}|c1|support|PJSIP/1|CONNECT|soon|c1-peer|1\n"  # 7 holdtime not a number
        "\n"  # 8 blank: not a line of the log at all
        f"{T + 5}|NONE|support|PJSIP/1|CONNECT|5|c1-peer|1\n"  # 9 a call event without a call
        f"{T + 6}|c1|support|PJSIP/1|CONNECT|6|c1-peer|1\n"  # 10 good
    )
    read = reader()
    batch = read.read(lines(text))
    assert [(bad.line, bad.kind) for bad in batch.bad] == [
        (2, "event"), (3, "fields"), (4, "nul"), (5, "time"), (6, "event"), (7, "data"), (9, "data"),
    ]  # fmt: skip
    assert batch.bad[0].raw == f"{T + 1}|c1|support|NONE|ENTER".encode()
    assert "unknown event 'ENTER'" in batch.bad[0].reason
    assert [(e["type"], e.get("wait_s"), e["customer_id"]) for e in contacts(batch.events)] == [
        ("contact.offered", None, "555"), ("contact.answered", 6, "555"),
    ]  # fmt: skip
    assert read.bad == {"event": 2, "fields": 1, "nul": 1, "time": 1, "data": 2}
    assert read.lines == 9


def test_csv_rows_with_the_wrong_number_of_fields_are_bad() -> None:
    text = "2026-01-01 10:00:10,c1,support,NONE,ENTERQUEUE,,555,1\n2026-01-01 10:00:11,c1,support\n"
    batch = reader(layout="csv").read(lines(text))
    assert [(bad.line, bad.kind) for bad in batch.bad] == [(1, "fields"), (2, "fields")]


def test_custom_events_can_be_ignored_instead_of_reported() -> None:
    text = f"{T}|c1|support|NONE|MYSURVEY|5\n"
    assert reader().read(lines(text)).bad[0].kind == "event"
    read = AsteriskReader(QueueLogParser(ignore_events=frozenset({"MYSURVEY"})), QueueLogMapper())
    assert read.read(lines(text)).bad == [] and read.mapper.skipped == {"MYSURVEY": 1}


def test_a_line_read_again_gets_the_same_event_id_and_other_lines_other_ids() -> None:
    first = reader().read(lines(MORNING)).events
    again = reader().read(lines(MORNING)).events
    assert [e["event_id"] for e in first] == [e["event_id"] for e in again]
    assert len({e["event_id"] for e in first}) == len(first)
    assert all(e["event_id"].startswith("asterisk-") for e in first)
    crlf = reader().read([(n, raw + b"\r") for n, raw in lines(MORNING)]).events
    assert [e["event_id"] for e in crlf] == [e["event_id"] for e in first]


def test_the_caller_map_is_bounded_and_forgets_the_oldest_call() -> None:
    text = (
        f"{T}|c1|q|NONE|ENTERQUEUE||111|1\n{T}|c2|q|NONE|ENTERQUEUE||222|1\n{T}|c3|q|NONE|ENTERQUEUE||333|1\n"
        f"{T + 9}|c1|q|A/1|CONNECT|9|p|1\n{T + 9}|c3|q|A/2|CONNECT|9|p|1\n"
    )
    read = reader(max_open_calls=2)
    events = contacts(read.read(lines(text)).events)
    # c1's caller was forgotten when c3 entered: its answer has no customer (keyed by the call id).
    assert [(e["contact_id"], e["customer_id"]) for e in events[3:]] == [("c1", None), ("c3", "333")]
    assert read.mapper.forgotten == 1


def test_a_restored_caller_map_carries_callers_across_a_restart() -> None:
    mapper = QueueLogMapper(open_calls={"c1": "111"})
    read = AsteriskReader(QueueLogParser(), mapper)
    events = read.read(lines(f"{T + 9}|c1|q|A/1|CONNECT|9|p|1\n")).events
    assert events[0]["customer_id"] == "111"


def test_layout_detection() -> None:
    assert detect_layout(f"{T}|NONE|NONE|NONE|QUEUESTART|".encode()) == "pipe"
    assert detect_layout(CSV_HEADER.encode()) == "csv"
    assert detect_layout(b"2026-01-01 10:00:10.5,c1,q,NONE,ENTERQUEUE,,1|2,,,") == "csv"
    assert detect_layout(b"garbage") is None


def test_unknown_options_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        QueueLogParser(timezone_name="Mars/Olympus")
    with pytest.raises(ValueError, match="layout"):
        QueueLogParser("xml")
    with pytest.raises(ValueError, match="not a queue exit"):
        MappingOptions(exits={"ABANDON": ExitPolicy.UNCOUNTED})


async def test_a_round_the_broker_does_not_acknowledge_is_sent_again_until_it_does() -> None:
    from aiokafka.errors import KafkaConnectionError

    from adapters.asterisk_ingest import BROKER_RETRIES, _until_acknowledged

    attempts: list[int] = []

    async def send() -> None:
        attempts.append(len(attempts))
        if len(attempts) <= 2:
            raise KafkaConnectionError("broker away")

    before = BROKER_RETRIES._value.get()
    await _until_acknowledged(asyncio.Event(), send)
    assert len(attempts) == 3
    assert BROKER_RETRIES._value.get() - before == 2
