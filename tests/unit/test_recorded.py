"""Recorded traffic must replay as exactly what the source says: every readable line mapped by the
documented rules, every unreadable one reported with its line number, nothing guessed.

The sample lines are made up here; only ``test_real_january_file`` reads the shared Anonymous Bank log.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from adapters.publisher import topic_of
from adapters.recorded import (
    ANONBANK_FIELDS,
    Recording,
    SkippedLine,
    read_anonbank,
    read_jsonl,
    read_recording,
)
from streams.contract import parse_time, validate

HEADER = "\t".join(ANONBANK_FIELDS)
JANUARY = Path(__file__).resolve().parents[3] / "shared" / "data" / "anonbank" / "january.txt"

# A served call that waited 30 s in the PS queue on 1 January 1999 (winter: Jerusalem is UTC+2).
SERVED: dict[str, str] = {
    "vru+line": "AA0101", "call_id": "5001", "customer_id": "12345678", "priority": "2", "type": "PS",
    "date": "990101", "vru_entry": "9:59:55", "vru_exit": "10:00:05", "vru_time": "10",
    "q_start": "10:00:05", "q_exit": "10:00:35", "q_time": "30", "outcome": "AGENT",
    "ser_start": "10:00:35", "ser_exit": "10:05:35", "ser_time": "300", "server": "MICHAL",
}  # fmt: skip
NEVER_SERVED = {"ser_start": "0:00:00", "ser_exit": "0:00:00", "ser_time": "0", "server": "NO_SERVER"}
NEVER_QUEUED = {"q_start": "0:00:00", "q_exit": "0:00:00", "q_time": "0"}


def row(sep: str = "\t", **changes: str) -> str:
    """One log line: the SERVED call with some columns changed (``vru_line`` stands for vru+line)."""
    if "vru_line" in changes:
        changes["vru+line"] = changes.pop("vru_line")
    return sep.join({**SERVED, **changes}[name] for name in ANONBANK_FIELDS)


def anonbank(tmp_path: Path, *lines: str, timezone: str = "Asia/Jerusalem") -> Recording:
    """Write a log the way the source ships it (header, CRLF) and read it back."""
    path = tmp_path / "calls.txt"
    path.write_bytes("".join(f"{line}\r\n" for line in (HEADER, *lines)).encode())
    return read_anonbank(path, timezone)


def brief(recording: Recording) -> list[tuple[str, str]]:
    return [(event["type"], event["time"]) for event in recording.events]


def assert_contract(events: list[dict[str, Any]]) -> None:
    for event in events:
        validate(event, topic_of(event))


def test_served_call_that_waited_in_queue(tmp_path: Path) -> None:
    recording = anonbank(tmp_path, row())
    base = {"contact_id": "5001", "customer_id": "12345678", "queue": "PS", "channel": "voice"}
    assert recording.events == [
        {"event_id": "anonbank-990101-AA0101-5001-offered", "type": "contact.offered",
         "time": "1999-01-01T08:00:05Z", **base},
        {"event_id": "anonbank-990101-AA0101-5001-answered", "type": "contact.answered",
         "time": "1999-01-01T08:00:35Z", **base, "agent_id": "MICHAL", "wait_s": 30},
        {"event_id": "anonbank-990101-AA0101-5001-ended", "type": "contact.ended",
         "time": "1999-01-01T08:05:35Z", **base, "agent_id": "MICHAL", "talk_s": 300},
    ]  # fmt: skip
    assert (recording.lines, recording.skipped, recording.phantom, recording.no_queue) == (1, [], 0, 0)


def test_served_call_that_never_queued_is_offered_when_answered_with_no_wait(tmp_path: Path) -> None:
    line = row(**NEVER_QUEUED, ser_start="10:00:07", ser_exit="10:01:07", ser_time="60")
    recording = anonbank(tmp_path, line)
    assert brief(recording) == [
        ("contact.offered", "1999-01-01T08:00:07Z"),
        ("contact.answered", "1999-01-01T08:00:07Z"),
        ("contact.ended", "1999-01-01T08:01:07Z"),
    ]
    assert recording.events[1]["wait_s"] == 0


def test_hang_up_in_queue_is_abandoned_when_it_left_the_queue(tmp_path: Path) -> None:
    recording = anonbank(tmp_path, row(outcome="HANG", q_exit="10:01:45", q_time="100", **NEVER_SERVED))
    assert brief(recording) == [
        ("contact.offered", "1999-01-01T08:00:05Z"),
        ("contact.abandoned", "1999-01-01T08:01:45Z"),
    ]
    abandoned = recording.events[1]
    assert abandoned["wait_s"] == 100 and "agent_id" not in abandoned


def test_hang_up_before_any_queue_gives_no_contact(tmp_path: Path) -> None:
    recording = anonbank(tmp_path, row(outcome="HANG", **NEVER_QUEUED, **NEVER_SERVED))
    assert recording.events == [] and recording.skipped == []
    assert (recording.lines, recording.no_queue) == (1, 1)


def test_phantom_calls_are_left_out_and_counted_not_reported(tmp_path: Path) -> None:
    recording = anonbank(tmp_path, row(outcome="PHANTOM"), row(call_id="5002"))
    assert recording.phantom == 1 and recording.skipped == []
    assert {event["contact_id"] for event in recording.events} == {"5002"}
    assert recording.lines == 2


def test_customer_zero_is_an_unknown_customer_and_no_server_an_unknown_agent(tmp_path: Path) -> None:
    recording = anonbank(tmp_path, row(customer_id="0", server="NO_SERVER"))
    assert {event["customer_id"] for event in recording.events} == {None}
    assert [event.get("agent_id", "absent") for event in recording.events] == ["absent", None, None]
    assert_contract(recording.events)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("\t".join(row().split("\t")[:12]), "12 fields instead of 17"),
        (row() + "\tEXTRA", "18 fields instead of 17"),
        (row(q_exit="10:61:00"), "q_exit is not a H:MM:SS time: '10:61:00'"),
        (row(ser_start="24:00:00"), "ser_start is not a H:MM:SS time: '24:00:00'"),
        (row(vru_exit="10h00"), "vru_exit is not a H:MM:SS time: '10h00'"),
        (row(date="990230"), "date is not a YYMMDD date: '990230'"),
        (row(date="1999-01-01"), "date is not a YYMMDD date: '1999-01-01'"),
        (row(q_time="3.5"), "q_time is not a whole number: '3.5'"),
        (row(q_time="-4"), "q_time is negative: -4"),
        (row(ser_time="-1"), "ser_time is negative: -1"),
        (row(outcome="TRANSFER"), "outcome 'TRANSFER' is none of AGENT, HANG, PHANTOM"),
        (row(outcome="HANG", q_exit="10:00:01", **NEVER_SERVED), "q_exit 10:00:01 is before q_start 10:00:05"),
        (row(type="Q" * 201), "would break the contract"),
    ],
)
def test_unreadable_lines_are_reported_with_their_number_and_never_guessed(
    tmp_path: Path, line: str, reason: str
) -> None:
    recording = anonbank(tmp_path, row(call_id="1"), line, row(call_id="3"))
    assert [skipped.line for skipped in recording.skipped] == [3]  # the header is line 1
    assert reason in recording.skipped[0].reason
    assert {event["contact_id"] for event in recording.events} == {"1", "3"}
    assert recording.lines == 3


def test_a_repeated_call_is_reported_so_event_ids_stay_unique(tmp_path: Path) -> None:
    recording = anonbank(tmp_path, row(), row())
    assert recording.skipped == [SkippedLine(3, "same vru+line, call_id and date as line 2")]
    assert len(recording.events) == 3


def test_same_call_id_on_another_line_or_day_is_another_call(tmp_path: Path) -> None:
    recording = anonbank(tmp_path, row(), row(vru_line="AA0202"), row(date="990102"))
    ids = [event["event_id"] for event in recording.events]
    assert len(ids) == 9 and len(set(ids)) == 9
    assert recording.skipped == []


def test_space_separated_columns_are_read_like_tabs(tmp_path: Path) -> None:
    recording = anonbank(tmp_path, row(sep=" "), row(sep=" \t  ", call_id="5002"))
    assert recording.skipped == []
    assert len(recording.events) == 6


def test_file_without_header_blank_lines_and_lf_endings(tmp_path: Path) -> None:
    path = tmp_path / "calls.txt"
    path.write_text(f"{row()}\n\n   \n{row(call_id='5002', ser_start='x')}\n", encoding="utf-8")
    recording = read_anonbank(path)
    assert recording.lines == 2
    assert recording.skipped == [SkippedLine(4, "ser_start is not a H:MM:SS time: 'x'")]
    assert len(recording.events) == 3


def test_call_spanning_midnight_ends_on_the_next_day(tmp_path: Path) -> None:
    queued = row(
        date="990109", vru_entry="23:59:23", vru_exit="23:59:28", q_start="23:59:28", q_exit="0:00:03",
        q_time="35", ser_start="0:00:03", ser_exit="0:00:55", ser_time="52",
    )  # fmt: skip
    straight = row(
        call_id="5002", date="990123", vru_entry="23:59:48", vru_exit="23:59:48", **NEVER_QUEUED,
        ser_start="0:00:01", ser_exit="0:00:24", ser_time="23",
    )  # fmt: skip
    talking = row(
        call_id="5003", date="990105", vru_entry="23:59:15", vru_exit="23:59:34", **NEVER_QUEUED,
        ser_start="23:59:33", ser_exit="0:03:40", ser_time="247",
    )  # fmt: skip
    recording = anonbank(tmp_path, queued, straight, talking)
    assert recording.skipped == []
    times = {(event["contact_id"], event["type"]): event["time"] for event in recording.events}
    # Local midnight of 10 January is 22:00 UTC on the 9th; the queue time stays 35 s, not a day.
    assert times["5001", "contact.offered"] == "1999-01-09T21:59:28Z"
    assert times["5001", "contact.answered"] == "1999-01-09T22:00:03Z"
    assert times["5001", "contact.ended"] == "1999-01-09T22:00:55Z"
    # Never queued and answered after midnight: offered after midnight too, not 24 h early.
    assert times["5002", "contact.offered"] == "1999-01-23T22:00:01Z"
    assert times["5003", "contact.answered"] == "1999-01-05T21:59:33Z"
    assert times["5003", "contact.ended"] == "1999-01-05T22:03:40Z"


def test_small_backwards_steps_are_not_read_as_a_day_later(tmp_path: Path) -> None:
    """The log has arrivals a few seconds after queue entry (negative vru_time); that is skew, not midnight."""
    recording = anonbank(tmp_path, row(vru_entry="10:00:40", vru_exit="10:00:05", vru_time="-35"))
    assert recording.skipped == []
    assert recording.events[0]["time"] == "1999-01-01T08:00:05Z"


@pytest.mark.parametrize(
    ("date", "timezone", "expected"),
    [
        ("990101", "Asia/Jerusalem", "1999-01-01T08:00:00Z"),  # winter, UTC+2
        ("990701", "Asia/Jerusalem", "1999-07-01T07:00:00Z"),  # summer time, UTC+3
        ("990101", "UTC", "1999-01-01T10:00:00Z"),
        ("990101", "America/New_York", "1999-01-01T15:00:00Z"),  # UTC-5
        ("491231", "UTC", "2049-12-31T10:00:00Z"),  # YY < 50 is 20YY
    ],
)
def test_local_wall_clock_is_converted_to_utc(tmp_path: Path, date: str, timezone: str, expected: str) -> None:
    line = row(
        date=date, vru_entry="10:00:00", **NEVER_QUEUED, ser_start="10:00:00", ser_exit="10:00:10",
        ser_time="10",
    )  # fmt: skip
    recording = anonbank(tmp_path, line, timezone=timezone)
    assert recording.events[0]["time"] == expected


def test_local_time_repeated_by_a_dst_change_is_refused(tmp_path: Path) -> None:
    # New York set clocks back from 2:00 to 1:00 on 31 October 1999: 1:30 happened twice.
    line = row(date="991031", vru_entry="1:29:00", vru_exit="1:29:50", q_start="1:30:00", q_exit="1:30:30")
    recording = anonbank(tmp_path, line, timezone="America/New_York")
    assert recording.events == []
    assert recording.skipped[0].reason == (
        "q_start 1999-10-31 01:30:00 is skipped or repeated by a DST change in America/New_York"
    )


def test_unknown_time_zone_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        anonbank(tmp_path, row(), timezone="Mars/Olympus")


def test_events_come_sorted_by_time_and_ties_keep_file_order(tmp_path: Path) -> None:
    late = row(call_id="late", q_start="11:00:00", q_exit="11:00:00", q_time="0", ser_start="11:00:00",
               ser_exit="11:00:00", ser_time="0")  # fmt: skip
    early = row(
        call_id="early", vru_entry="8:59:00", outcome="HANG", q_start="9:00:00", q_exit="9:30:00", q_time="1800",
        **NEVER_SERVED,
    )  # fmt: skip
    middle = row(call_id="middle", vru_entry="9:10:00", **NEVER_QUEUED)
    recording = anonbank(tmp_path, late, early, middle)
    times = [parse_time(event["time"]) for event in recording.events]
    assert times == sorted(times)
    assert [(event["contact_id"], event["type"]) for event in recording.events] == [
        ("early", "contact.offered"),
        ("early", "contact.abandoned"),
        ("middle", "contact.offered"),
        ("middle", "contact.answered"),
        ("middle", "contact.ended"),
        ("late", "contact.offered"),
        ("late", "contact.answered"),
        ("late", "contact.ended"),
    ]


def test_every_sample_event_satisfies_the_contract(tmp_path: Path) -> None:
    recording = anonbank(
        tmp_path,
        row(),
        row(call_id="2", customer_id="0", **NEVER_QUEUED),
        row(call_id="3", outcome="HANG", **NEVER_SERVED),
        row(call_id="4", server="NO_SERVER"),
    )
    assert len(recording.events) == 11
    assert_contract(recording.events)


def contact(event_id: str, time: str, **changes: Any) -> dict[str, Any]:
    event = {"event_id": event_id, "type": "contact.offered", "time": time, "contact_id": "c1",
             "customer_id": None, "queue": "billing", "channel": "voice"}  # fmt: skip
    event.update(changes)
    return event


def test_jsonl_keeps_valid_events_sorted_and_reports_the_rest(tmp_path: Path) -> None:
    survey = {"event_id": "s1", "type": "survey.submitted", "time": "2026-03-01T09:30:00Z", "contact_id": "c1",
              "csat": 5}  # fmt: skip
    lines = [
        json.dumps(contact("late", "2026-03-01T12:00:00+02:00")),  # 10:00 UTC
        "{not json",
        "",
        json.dumps(contact("early", "2026-03-01T09:00:00Z", channel="chat")),
        "[1, 2]",
        json.dumps(contact("naive", "2026-03-01T09:00:00")),
        json.dumps({"event_id": "x", "type": "contact.offered"}),
        json.dumps(survey),
        json.dumps(contact("tie", "2026-03-01T10:00:00Z", type="contact.answered", wait_s=3)),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    recording = read_jsonl(path)
    assert [event["event_id"] for event in recording.events] == ["early", "s1", "late", "tie"]
    assert [skipped.line for skipped in recording.skipped] == [2, 5, 6, 7]
    reasons = [skipped.reason for skipped in recording.skipped]
    assert reasons[0].startswith("not JSON")
    assert reasons[1] == "not a JSON object but list"
    assert reasons[2].startswith("schema:")
    assert "missing required field `time`" in reasons[3]
    assert recording.lines == 8
    assert recording.events[2] == contact("late", "2026-03-01T12:00:00+02:00")  # passed on untouched
    assert_contract(recording.events)


def test_jsonl_line_that_is_not_utf8_is_reported_alone(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    good = json.dumps(contact("ok", "2026-03-01T09:00:00Z")).encode()
    path.write_bytes(b'{"event_id": "\xff"}\n' + good + b"\n")
    recording = read_jsonl(path)
    assert [skipped.line for skipped in recording.skipped] == [1]
    assert [event["event_id"] for event in recording.events] == ["ok"]


def test_read_recording_dispatches_on_format(tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    calls.write_text(f"{HEADER}\n{row()}\n", encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(contact("e1", "2026-03-01T09:00:00Z")) + "\n", encoding="utf-8")
    assert read_recording(calls, "anonbank", "UTC").events[0]["time"] == "1999-01-01T10:00:05Z"
    assert len(read_recording(events, "jsonl", "UTC").events) == 1
    with pytest.raises(ValueError, match="expected one of jsonl, anonbank"):
        read_recording(events, "csv", "UTC")


def test_real_january_file() -> None:
    """The shared January 1999 log: what it gives, what it leaves out, and that all of it is valid."""
    if not JANUARY.exists():
        pytest.skip(
            "../shared/data/anonbank/january.txt not present: the real-traffic check needs the shared data"
        )
    recording = read_anonbank(JANUARY)
    counts = Counter(event["type"] for event in recording.events)
    assert recording.lines == 31_599
    assert (recording.phantom, recording.no_queue) == (240, 1198)
    assert counts == {"contact.offered": 30_161, "contact.answered": 27_060, "contact.ended": 27_060,
                      "contact.abandoned": 3_101}  # fmt: skip
    # Every call read is offered once and either answered and ended, or abandoned.
    assert counts["contact.offered"] == counts["contact.answered"] + counts["contact.abandoned"]
    left_out = recording.phantom + recording.no_queue + len(recording.skipped)
    assert recording.lines == counts["contact.offered"] + left_out
    # Every served call is read, the 42 without a recorded service start and the 23 whose service
    # starts a second or two before their queue time included (their wait and talk are explicit).
    assert recording.skipped == []
    assert len({event["event_id"] for event in recording.events}) == len(recording.events)
    times = [parse_time(event["time"]) for event in recording.events]
    assert times == sorted(times)
    assert recording.events[0]["time"].startswith("1998-12-31T22:")  # the first local minutes of 1 January
    assert_contract(recording.events)


def test_served_call_without_a_service_start_is_answered_when_it_left_the_queue(tmp_path: Path) -> None:
    recording = anonbank(tmp_path, row(**NEVER_SERVED), timezone="UTC")
    answered = next(e for e in recording.events if e["type"] == "contact.answered")
    ended = next(e for e in recording.events if e["type"] == "contact.ended")
    assert answered["time"] == f"1999-01-01T{SERVED['q_exit']:0>8}Z"
    assert answered["wait_s"] == int(SERVED["q_time"]) and ended["talk_s"] == 0
    assert ended["time"] == answered["time"] and recording.skipped == []


def test_service_starting_a_second_before_the_queue_time_keeps_the_logged_wait(tmp_path: Path) -> None:
    recording = anonbank(tmp_path, row(ser_start="10:00:04"), timezone="UTC")
    answered = next(e for e in recording.events if e["type"] == "contact.answered")
    assert answered["time"] == "1999-01-01T10:00:04Z" and answered["wait_s"] == int(SERVED["q_time"])
    assert recording.skipped == []
