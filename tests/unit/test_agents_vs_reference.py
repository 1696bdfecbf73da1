"""The agents board (kpis.agents.AgentBoard) against numbers worked out by hand, then against the
independent reference (tests/agents_reference.py) on random days, shuffled and duplicated, and
across a restart that reads everything again.

Every event goes through the contract (streams.contract.decode_record on its JSON bytes) before the
board sees it, as on the worker. Each hand-worked case also checks the reference itself, so the
oracle is held to the same hand calculation as the code it judges. Times are UTC on DAY unless said.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpis.agents import AgentBoard
from kpis.event import AgentEvent
from kpis.rules import QueueRules
from kpis.state import Outcome
from streams.contract import decode_record
from tests import agents_reference as ref
from tests.agent_days import AgentDays, arrivals, days_of

DAY = "2026-03-10"  # a Tuesday; no daylight-saving change in Europe or the US near it
AGENT_FIELDS = ("staffed_s", "available_s", "on_contact_s", "agent_acw_s", "aux_s")
DAY_FIELDS = ("staffed_s", "available_s", "on_contact_s", "after_contact_work_s", "aux_s")
UTC = QueueRules()
# The board keeps seconds to the microsecond (a third of 10 s is 3.333333), so a bucket summed from
# many pieces may be a few microseconds off the exact value; served seconds are rounded to the ms.
TOLERANCE = 1e-4

Table = dict[tuple[int, str, str, int], dict[str, Any]]


def epoch(clock: str, day: str = DAY) -> int:
    return int(datetime.fromisoformat(f"{day}T{clock}+00:00").timestamp())


def state(event_id: str, clock: str, value: str, agent: str = "a1", day: str = DAY, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "type": "agent.state_changed", "time": f"{day}T{clock}Z", "agent_id": agent, "state": value, **fields}


def queues(event_id: str, clock: str, served: list[str], agent: str = "a1", day: str = DAY) -> dict[str, Any]:
    return {"event_id": event_id, "type": "agent.queues_changed", "time": f"{day}T{clock}Z", "agent_id": agent, "queues": served}


def decoded(event: dict[str, Any]) -> AgentEvent:
    [item] = decode_record(json.dumps(event).encode(), "cx.agents").items
    assert isinstance(item, AgentEvent), item
    return item


def fed(events: list[dict[str, Any]], rules: QueueRules = UTC, board: AgentBoard | None = None) -> tuple[AgentBoard, list[Outcome]]:
    board = board if board is not None else AgentBoard(lambda queue: rules)
    return board, [board.apply(decoded(event)) for event in events]


# ---- plain views of both sides, compared field by field -------------------------------------------


def board_table(board: AgentBoard) -> Table:
    """The board's buckets that hold agent time, as plain numbers."""
    table: Table = {}
    for key, stats in board.buckets().items():
        values: dict[str, Any] = {name: float(getattr(stats, name)) for name in AGENT_FIELDS}
        values["aux_reason_s"] = {reason: float(s) for reason, s in stats.aux_reason_s.items() if s}
        if any(values[name] for name in AGENT_FIELDS) or values["aux_reason_s"]:
            table[(key[0], key[1], key[2], int(key[3]))] = values
    return table


def reference_table(events: list[dict[str, Any]], until: Fraction | None = None) -> Table:
    table: Table = {}
    for key, counters in ref.buckets(events, until=until).items():
        values: dict[str, Any] = {name: getattr(counters, name) for name in AGENT_FIELDS}
        values["aux_reason_s"] = {reason: s for reason, s in counters.aux_reason_s.items() if s}
        if any(values[name] for name in AGENT_FIELDS):
            table[key] = values
    return table


def merged(*tables: Table) -> Table:
    total: Table = {}
    for table in tables:
        for key, values in table.items():
            into = total.setdefault(key, {**{name: 0.0 for name in AGENT_FIELDS}, "aux_reason_s": {}})
            for name in AGENT_FIELDS:
                into[name] += values[name]
            for reason, s in values["aux_reason_s"].items():
                into["aux_reason_s"][reason] = into["aux_reason_s"].get(reason, 0.0) + s
    return total


def rfc3339(t: Fraction) -> str:
    return (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=round(t * 1_000_000))).isoformat()


def open_stretches(board: AgentBoard, until: Fraction) -> list[dict[str, Any]]:
    """Each working agent's open stretch as the board's live record gives it (from ``open_from`` when
    the record has it, else ``since``, in its state, queues and channel) up to ``until``, as events:
    what the API adds at read time to what the board booked."""
    events: list[dict[str, Any]] = []
    for record in board.live():
        if record["state"] == "logged_out":
            continue
        start = Fraction(round(Fraction(record.get("open_from", record["since"])) * 1000), 1000)  # events are on whole ms
        opening: dict[str, Any] = {
            "event_id": f"open-{record['agent_id']}", "type": "agent.state_changed", "time": rfc3339(start),
            "agent_id": record["agent_id"], "state": record["state"], "channel": record["channel"],
        }  # fmt: skip
        if record["reason"] not in (None, ref.UNSPECIFIED_REASON):
            opening["reason"] = record["reason"]
        if record["queues"] and record["queues"] != [ref.UNKNOWN_QUEUE]:
            opening["queues"] = record["queues"]
        closing = {**opening, "event_id": f"shut-{record['agent_id']}", "time": rfc3339(until), "state": "logged_out"}
        events += [opening, closing]
    return events


def close(actual: Any, expected: Any) -> bool:
    return actual is not None and abs(float(actual) - float(expected)) <= TOLERANCE


def assert_same_table(actual: Table, expected: Table) -> None:
    assert set(actual) == set(expected), (
        f"buckets only on the board: {sorted(set(actual) - set(expected))[:10]}; "
        f"only expected: {sorted(set(expected) - set(actual))[:10]}"
    )
    wrong = []
    for key in sorted(expected):
        for name in AGENT_FIELDS:
            if not close(actual[key][name], expected[key][name]):
                wrong.append(f"{key} {name}: board {actual[key][name]!r}, expected {float(expected[key][name])!r}")
        got, want = actual[key]["aux_reason_s"], expected[key]["aux_reason_s"]
        if set(got) != set(want) or not all(close(got[r], want[r]) for r in want):
            wrong.append(f"{key} aux_reason_s: board {got!r}, expected { {r: float(s) for r, s in want.items()} !r}")
    assert not wrong, "\n".join(wrong[:40])


def assert_same_as_reference(
    board: AgentBoard, events: list[dict[str, Any]], rules: ref.DayRules = ref.DayRules(), until: Fraction | None = None
) -> None:
    """What the board booked plus each agent's open stretch up to ``until`` (by default a while after
    the newest event) equals the reference up to ``until``, bucket by bucket and agent day by agent day;
    and every agent with a state event has the reference's live fields. An agent the reference leaves
    out (no state event yet) may be listed, with no time."""
    until = until if until is not None else max((ref.seconds(e["time"]) for e in events), default=Fraction(0)) + Fraction(1000.25)
    stretches = open_stretches(board, until)
    assert_same_table(merged(board_table(board), reference_table(stretches)), reference_table(events, until))
    records = {record["agent_id"]: record for record in board.live()}
    expected_live, expected_days = ref.live(events), ref.days(events, rules=rules, until=until)
    open_days = ref.days(stretches, rules=rules)
    assert set(expected_live) <= set(records), sorted(set(expected_live) - set(records))
    wrong = []
    for agent, record in records.items():
        want = expected_live.get(agent)
        if want is None:
            assert not _nonzero_days(record["days"]), (agent, record)
            continue
        for name in ("name", "state", "channel", "capacity", "contact_id", "contact_queue"):
            if record[name] != want[name]:
                wrong.append(f"{agent} {name}: board {record[name]!r}, expected {want[name]!r}")
        if record["reason"] != want["reason"] and not (want["reason"] is None and record["reason"] == ref.UNSPECIFIED_REASON):
            wrong.append(f"{agent} reason: board {record['reason']!r}, expected {want['reason']!r}")
        if sorted(record["queues"]) != sorted(want["queues"]):
            wrong.append(f"{agent} queues: board {record['queues']!r}, expected {want['queues']!r}")
        for name in ("since", "contact_since"):
            if (record.get(name) is None) != (want[name] is None) or (want[name] is not None and not close(record[name], want[name])):
                wrong.append(f"{agent} {name}: board {record.get(name)!r}, expected {want[name] and float(want[name])!r}")
        got_days = _nonzero_days(record["days"])
        for day, totals in open_days.get(agent, {}).items():
            into = got_days.setdefault(day, {"handled": 0, **{name: 0.0 for name in DAY_FIELDS}})
            for name in DAY_FIELDS:
                into[name] += float(getattr(totals, name))
        want_days = {
            day: totals for day, totals in expected_days.get(agent, {}).items()
            if totals.handled or any(getattr(totals, name) for name in DAY_FIELDS)
        }
        if set(got_days) != set(want_days):
            wrong.append(f"{agent} days: board {sorted(got_days)}, expected {sorted(want_days)}")
            continue
        for day, totals in want_days.items():
            if got_days[day]["handled"] != totals.handled:
                wrong.append(f"{agent} {day} handled: board {got_days[day]['handled']}, expected {totals.handled}")
            for name in DAY_FIELDS:
                if not close(got_days[day][name], getattr(totals, name)):
                    wrong.append(f"{agent} {day} {name}: board {got_days[day][name]!r}, expected {float(getattr(totals, name))!r}")
    assert not wrong, "\n".join(wrong[:40])


def _nonzero_days(days: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A record's days with every field (the board may leave zeros out), days holding nothing dropped."""
    full = {day: {"handled": totals.get("handled", 0), **{name: totals.get(name, 0.0) for name in DAY_FIELDS}} for day, totals in days.items()}
    return {day: totals for day, totals in full.items() if totals["handled"] or any(totals[name] for name in DAY_FIELDS)}


def summed(table: Table, size: int, start: int, end: int) -> dict[str, float]:
    """A window's counters over every queue and channel: the buckets of one size starting in it."""
    rows = [values for (s, _, _, begin), values in table.items() if s == size and start <= begin < end]
    return {name: sum(float(row[name]) for row in rows) for name in AGENT_FIELDS}


def minutes(
    first: str, count: int, queue: str = "sales", channel: str = "voice", aux_reason_s: dict[str, float] | None = None,
    **values: float,
) -> Table:
    """``count`` one-minute buckets from ``first``, each holding ``values`` (every second of them in
    the same state), plus staffed_s, in ``queue`` ("sales+support": in each of both): the hand tables
    below are written as runs of such minutes."""
    start = epoch(first)
    served = queue.split("+")
    row = {**{name: 0.0 for name in AGENT_FIELDS}, **values, "staffed_s": 60.0 / len(served)}
    return {(60, q, channel, start + 60 * n): {**row, "aux_reason_s": dict(aux_reason_s or {})} for n in range(count) for q in served}


def intervals(**by_start: dict[str, Any]) -> Table:
    """15-minute buckets of sales/voice by their start ("h0900" is 09:00), the unnamed fields zero."""
    table: Table = {}
    for name, values in by_start.items():
        table[(900, values.pop("queue", "sales"), values.pop("channel", "voice"), epoch(f"{name[1:3]}:{name[3:5]}:00"))] = {
            **{field: 0.0 for field in AGENT_FIELDS},
            "aux_reason_s": {},
            **values,
        }
    return table


# ---- hand-worked cases ----------------------------------------------------------------------------

# One agent's hour: login 09:00 available (serving sales), contact c1 of sales 09:05-09:12, after-contact
# work until 09:14, available, a break 09:30-09:45, available, logout 10:00.
ONE_AGENT_DAY = [
    state("e01", "09:00:00", "available", queues=["sales"], agent_name="Ada", capacity=1),
    state("e02", "09:05:00", "on_contact", contact_id="c1", queue="sales"),
    state("e03", "09:12:00", "after_contact_work"),
    state("e04", "09:14:00", "available"),
    state("e05", "09:30:00", "aux", reason="break"),
    state("e06", "09:45:00", "available"),
    state("e07", "10:00:00", "logged_out"),
]
# Per 15-minute interval, seconds in each state (sales, voice; staffed = every state but logged_out):
#   09:00-09:15  available 09:00-09:05 (300) + 09:14-09:15 (60) = 360, on contact 09:05-09:12 = 420,
#                after-contact work 09:12-09:14 = 120; staffed 900
#   09:15-09:30  available 900;                         staffed 900
#   09:30-09:45  aux 900, all of it "break";            staffed 900
#   09:45-10:00  available 900;                         staffed 900
ONE_AGENT_INTERVALS = intervals(
    h0900={"staffed_s": 900.0, "available_s": 360.0, "on_contact_s": 420.0, "agent_acw_s": 120.0},
    h0915={"staffed_s": 900.0, "available_s": 900.0},
    h0930={"staffed_s": 900.0, "aux_s": 900.0, "aux_reason_s": {"break": 900.0}},
    h0945={"staffed_s": 900.0, "available_s": 900.0},
)
# Every minute holds one state whole (all changes are on the minute): 5 available, 7 on contact,
# 2 after-contact work, 16 available, 15 on break, 15 available = 60 minutes.
ONE_AGENT_MINUTES = {
    **minutes("09:00:00", 5, available_s=60.0),
    **minutes("09:05:00", 7, on_contact_s=60.0),
    **minutes("09:12:00", 2, agent_acw_s=60.0),
    **minutes("09:14:00", 16, available_s=60.0),
    **minutes("09:30:00", 15, aux_s=60.0, aux_reason_s={"break": 60.0}),
    **minutes("09:45:00", 15, available_s=60.0),
}


@pytest.mark.parametrize("arrival", ["in order", "reversed, every event twice"])
def test_one_agent_day_worked_by_hand(arrival: str) -> None:
    delivered = ONE_AGENT_DAY if arrival == "in order" else [e for e in reversed(ONE_AGENT_DAY) for _ in (0, 1)]
    board, outcomes = fed(delivered)
    expected = {**ONE_AGENT_INTERVALS, **ONE_AGENT_MINUTES}
    assert_same_table(reference_table(ONE_AGENT_DAY), expected)
    assert_same_table(board_table(board), expected)
    assert outcomes.count(Outcome.COUNTED) == 7 and outcomes.count(Outcome.DUPLICATE) == len(delivered) - 7

    # 09:00-10:00: occupancy = (on contact 7 min + after-contact work 2 min) / (staffed 60 min - aux 15 min)
    # = 9 / 45 = 0.2; aux share = 15 / 60 = 0.25; the same from the minutes and from the intervals.
    for size in (60, 900):
        hour = summed(board_table(board), size, epoch("09:00:00"), epoch("10:00:00"))
        assert (hour["on_contact_s"] + hour["agent_acw_s"]) / (hour["staffed_s"] - hour["aux_s"]) == pytest.approx(0.2)
        assert hour["aux_s"] / hour["staffed_s"] == pytest.approx(0.25)
    reference_hour = ref.window(ref.buckets(ONE_AGENT_DAY), epoch("09:00:00"), epoch("10:00:00"))
    assert (reference_hour.occupancy(), reference_hour.aux_share()) == (Fraction(1, 5), Fraction(1, 4))

    # The day: 1 contact handled; staffed 3600 = available 300 + 960 + 900 = 2160, on contact 420,
    # after-contact work 120, aux 900; AHT = (420 + 120) / 1 = 540 s. At the end: logged out since 10:00.
    [record] = board.live()
    assert {k: record[k] for k in ("agent_id", "name", "state", "queues", "channel", "capacity", "contact_id")} == {
        "agent_id": "a1", "name": "Ada", "state": "logged_out", "queues": ["sales"], "channel": "voice", "capacity": 1,
        "contact_id": None,
    }
    assert record["since"] == pytest.approx(epoch("10:00:00"))
    day = _nonzero_days(record["days"])
    assert set(day) == {DAY}
    assert day[DAY]["handled"] == 1
    for name, seconds in {"staffed_s": 3600, "available_s": 2160, "on_contact_s": 420, "after_contact_work_s": 120, "aux_s": 900}.items():
        assert day[DAY][name] == pytest.approx(seconds), name
    assert (day[DAY]["on_contact_s"] + day[DAY]["after_contact_work_s"]) / day[DAY]["handled"] == pytest.approx(540)
    reference_day = ref.days(ONE_AGENT_DAY)["a1"][DAY]
    assert (reference_day.handled, reference_day.aht_s(), reference_day.staffed_s) == (1, 540, 3600)
    assert_same_as_reference(board, ONE_AGENT_DAY)


def test_an_agent_serving_two_queues_puts_half_of_each_second_in_each() -> None:
    # Available 09:00-09:06 (360 s), on contact c1 of support 09:06-09:10 (240 s), serving sales and
    # support: each queue gets 180 s available and 120 s on contact, 300 s staffed; over both queues
    # (the roll-up) 600 s, the agent's true time. Each minute: 30 s in each queue.
    events = [
        state("e1", "09:00:00", "available", queues=["sales", "support"]),
        state("e2", "09:06:00", "on_contact", contact_id="c1", queue="support"),
        state("e3", "09:10:00", "logged_out"),
    ]
    expected = {
        **intervals(h0900={"staffed_s": 300.0, "available_s": 180.0, "on_contact_s": 120.0}),
        **intervals(h0900={"queue": "support", "staffed_s": 300.0, "available_s": 180.0, "on_contact_s": 120.0}),
        **minutes("09:00:00", 6, queue="sales+support", available_s=30.0),
        **minutes("09:06:00", 4, queue="sales+support", on_contact_s=30.0),
    }
    board, _ = fed(events)
    assert_same_table(reference_table(events), expected)
    assert_same_table(board_table(board), expected)
    assert summed(board_table(board), 900, epoch("09:00:00"), epoch("09:15:00"))["staffed_s"] == pytest.approx(600)


def test_queues_changed_in_the_middle_of_a_state_moves_the_rest_of_it() -> None:
    # Available 09:00-09:20 serving sales and support until 09:10, then support only:
    #   09:00-09:10  600 s halved: sales 300, support 300
    #   09:10-09:15  support 300        09:15-09:20  support 300
    events = [
        state("e1", "09:00:00", "available", queues=["sales", "support"]),
        queues("q1", "09:10:00", ["support"]),
        state("e2", "09:20:00", "logged_out"),
    ]
    expected = {
        **intervals(h0900={"staffed_s": 300.0, "available_s": 300.0}),
        **intervals(h0900={"queue": "support", "staffed_s": 600.0, "available_s": 600.0}),
        **intervals(h0915={"queue": "support", "staffed_s": 300.0, "available_s": 300.0}),
        **minutes("09:00:00", 10, queue="sales+support", available_s=30.0),
        **minutes("09:10:00", 10, queue="support", available_s=60.0),
    }
    board, _ = fed([events[2], events[1], events[0]])
    assert_same_table(reference_table(events), expected)
    assert_same_table(board_table(board), expected)


def test_a_late_older_event_takes_its_place_in_time_and_does_not_overwrite_the_newer_state() -> None:
    # Arriving in this order: available 09:00 (sales), on contact c1 09:05, then two older events:
    # a lunch break from 08:55 and, at 08:58, queues = [support]. In event time the agent was on lunch
    # 08:55-09:00: 08:55-08:58 (180 s) with no queues yet, so in queue "unknown", 08:58-09:00 (120 s)
    # in support; then available 09:00-09:05 in sales (the 09:00 event names sales), and is on contact
    # since 09:05 (open: not booked).
    newer = [
        state("e2", "09:00:00", "available", queues=["sales"]),
        state("e3", "09:05:00", "on_contact", contact_id="c1", queue="sales"),
    ]
    older = [state("e1", "08:55:00", "aux", reason="lunch"), queues("q1", "08:58:00", ["support"])]
    board, outcomes = fed(newer + older)
    assert outcomes == [Outcome.COUNTED] * 4
    expected = {
        **intervals(h0845={"queue": "unknown", "staffed_s": 180.0, "aux_s": 180.0, "aux_reason_s": {"lunch": 180.0}}),
        **intervals(h0845={"queue": "support", "staffed_s": 120.0, "aux_s": 120.0, "aux_reason_s": {"lunch": 120.0}}),
        **intervals(h0900={"staffed_s": 300.0, "available_s": 300.0}),
        **minutes("08:55:00", 3, queue="unknown", aux_s=60.0, aux_reason_s={"lunch": 60.0}),
        **minutes("08:58:00", 2, queue="support", aux_s=60.0, aux_reason_s={"lunch": 60.0}),
        **minutes("09:00:00", 5, available_s=60.0),
    }
    assert_same_table(reference_table(newer + older), expected)
    assert_same_table(board_table(board), expected)
    [record] = board.live()
    assert (record["state"], record["contact_id"], record["contact_queue"], record["queues"]) == ("on_contact", "c1", "sales", ["sales"])
    assert record["since"] == pytest.approx(epoch("09:05:00"))
    # Time of closed segments only: 600 s staffed, 300 of them aux; the contact in progress is handled
    # (counted by the event that starts it).
    day = _nonzero_days(record["days"])[DAY]
    assert (day["handled"], day["staffed_s"], day["aux_s"], day["available_s"]) == (1, pytest.approx(600), pytest.approx(300), pytest.approx(300))
    assert_same_as_reference(board, newer + older)

    # 37 hours before the newest event (09:05) is past the 36-hour horizon: late, and nothing changes.
    before = (board_table(board), board.live())
    late = state("e0", "20:00:00", "available", day="2026-03-08", queues=["billing"])
    assert board.apply(decoded(late)) == Outcome.LATE
    assert (board_table(board), board.live()) == before


def test_events_at_the_same_time_are_ordered_by_event_id() -> None:
    # e-a (logged_out) and e-b (aux, meeting) both at 09:10: e-a < e-b, so e-a's segment lasts 0 s and
    # the agent is on a meeting 09:10-09:20 (600 s), after 600 s available; whatever the arrival order.
    events = [
        state("e-0", "09:00:00", "available", queues=["sales"]),
        state("e-b", "09:10:00", "aux", reason="meeting"),
        state("e-a", "09:10:00", "logged_out"),
        state("e-z", "09:20:00", "logged_out"),
    ]
    expected = {
        **intervals(h0900={"staffed_s": 900.0, "available_s": 600.0, "aux_s": 300.0, "aux_reason_s": {"meeting": 300.0}}),
        **intervals(h0915={"staffed_s": 300.0, "aux_s": 300.0, "aux_reason_s": {"meeting": 300.0}}),
        **minutes("09:00:00", 10, available_s=60.0),
        **minutes("09:10:00", 10, aux_s=60.0, aux_reason_s={"meeting": 60.0}),
    }
    board, _ = fed(events)
    assert_same_table(reference_table(events), expected)
    assert_same_table(board_table(board), expected)


def test_no_queues_is_queue_unknown_a_reasonless_pause_is_unspecified_and_the_channel_is_kept() -> None:
    # A chat agent with no queues: available 09:00-09:01, aux without reason 09:01-09:03.
    events = [
        state("e1", "09:00:00", "available", channel="chat"),
        state("e2", "09:01:00", "aux"),
        state("e3", "09:03:00", "logged_out"),
    ]
    expected = {
        **intervals(h0900={"queue": "unknown", "channel": "chat", "staffed_s": 180.0, "available_s": 60.0, "aux_s": 120.0,
                           "aux_reason_s": {"unspecified": 120.0}}),
        **minutes("09:00:00", 1, queue="unknown", channel="chat", available_s=60.0),
        **minutes("09:01:00", 2, queue="unknown", channel="chat", aux_s=60.0, aux_reason_s={"unspecified": 60.0}),
    }
    board, _ = fed(events)
    assert_same_table(reference_table(events), expected)
    assert_same_table(board_table(board), expected)


def test_a_contact_after_a_contact_counts_again_the_same_contact_does_not() -> None:
    # Contacts c1 09:01-09:04 and c2 09:04-09:08 (c2 reported twice, at 09:04 and 09:06), work 09:08-09:10:
    # handled 2, on contact 420 s, after-contact work 120 s, AHT (420 + 120) / 2 = 270 s.
    events = [
        state("e1", "09:00:00", "available", queues=["sales"]),
        state("e2", "09:01:00", "on_contact", contact_id="c1", queue="sales"),
        state("e3", "09:04:00", "on_contact", contact_id="c2", queue="sales"),
        state("e4", "09:06:00", "on_contact", contact_id="c2", queue="sales"),
        state("e5", "09:08:00", "after_contact_work"),
        state("e6", "09:10:00", "logged_out"),
    ]
    board, _ = fed(events)
    day = _nonzero_days(board.live()[0]["days"])[DAY]
    assert (day["handled"], day["on_contact_s"], day["after_contact_work_s"]) == (2, pytest.approx(420), pytest.approx(120))
    assert ref.days(events)["a1"][DAY].aht_s() == 270
    assert_same_as_reference(board, events)


def test_a_day_across_midnight_is_split_by_business_day() -> None:
    # 23:50-23:55 available, c1 23:55-00:05, work 00:05-00:08, available 00:08-00:10 (UTC days):
    #   2026-03-10: staffed 600 = available 300 + on contact 300; handled 1 (the contact started then)
    #   2026-03-11: staffed 600 = on contact 300 + work 180 + available 120; handled 0
    events = [
        state("e1", "23:50:00", "available", queues=["sales"]),
        state("e2", "23:55:00", "on_contact", contact_id="c1", queue="sales"),
        state("e3", "00:05:00", "after_contact_work", day="2026-03-11"),
        state("e4", "00:08:00", "available", day="2026-03-11"),
        state("e5", "00:10:00", "logged_out", day="2026-03-11"),
    ]
    board, _ = fed(events)
    days = _nonzero_days(board.live()[0]["days"])
    assert set(days) == {DAY, "2026-03-11"}
    first, second = days[DAY], days["2026-03-11"]
    assert (first["handled"], first["staffed_s"], first["available_s"], first["on_contact_s"]) == (1, 600, 300, 300)
    assert (second["handled"], second["staffed_s"], second["on_contact_s"], second["after_contact_work_s"], second["available_s"]) == (
        0, 600, 300, 180, 120,
    )
    assert_same_as_reference(board, events)


def test_business_days_follow_the_default_rules_zone_and_day_start() -> None:
    # New York on 2026-03-10 is UTC-4 (summer time since 03-08); days start 06:00 local = 10:00 UTC.
    # Available 09:00-10:30 UTC: 3600 s on business day 2026-03-09 (05:00-06:00 local), 1800 s on 03-10.
    rules = QueueRules(timezone="America/New_York", day_start="06:00")
    events = [state("e1", "09:00:00", "available", queues=["sales"]), state("e2", "10:30:00", "logged_out")]
    board, _ = fed(events, rules)
    days = _nonzero_days(board.live()[0]["days"])
    assert {day: totals["staffed_s"] for day, totals in days.items()} == {"2026-03-09": 3600, DAY: 1800}
    assert_same_as_reference(board, events, ref.DayRules("America/New_York", "06:00"))


# ---- random days ----------------------------------------------------------------------------------

RULES = [(UTC, ref.DayRules()), (QueueRules(timezone="Europe/Berlin", day_start="06:00"), ref.DayRules("Europe/Berlin", "06:00"))]
FIRST_LOGIN_MS = epoch("06:00:00") * 1000


def random_days(rng: random.Random, agents: int) -> list[dict[str, Any]]:
    """Days of several agents logging in from 06:00 to 23:00 (so some cross midnight), each over within
    15 hours: all within 32 hours, inside the 36-hour lateness horizon."""
    return list(days_of(rng, AgentDays(), agents, FIRST_LOGIN_MS, spread_hours=17))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False), agents=st.integers(1, 5), rules=st.sampled_from(RULES))
def test_random_days_shuffled_and_duplicated_equal_the_reference(
    rng: random.Random, agents: int, rules: tuple[QueueRules, ref.DayRules]
) -> None:
    events = random_days(rng, agents)
    delivered = arrivals(events, rng)
    board, outcomes = fed(delivered, rules[0])
    first = {e["event_id"] for e in delivered}
    assert outcomes.count(Outcome.COUNTED) == len(first) and outcomes.count(Outcome.DUPLICATE) == len(delivered) - len(first)
    assert_same_as_reference(board, events, rules[1])


def assert_same_board(actual: AgentBoard, expected: AgentBoard) -> None:
    """Two boards fed the same set of events hold the same numbers (to float rounding) and records."""
    assert_same_table(board_table(actual), board_table(expected))
    mine = {r["agent_id"]: r for r in actual.live()}
    theirs = {r["agent_id"]: r for r in expected.live()}
    assert set(mine) == set(theirs)
    for agent, record in mine.items():
        other = theirs[agent]
        plain = {k: v for k, v in record.items() if k not in ("since", "days", "queues")}
        assert plain == {k: v for k, v in other.items() if k not in ("since", "days", "queues")}, agent
        assert sorted(record["queues"]) == sorted(other["queues"]) and close(record["since"], other["since"]), agent
        days, other_days = _nonzero_days(record["days"]), _nonzero_days(other["days"])
        assert set(days) == set(other_days), agent
        for day, totals in days.items():
            assert totals["handled"] == other_days[day]["handled"], (agent, day)
            assert all(close(totals[name], other_days[day][name]) for name in DAY_FIELDS), (agent, day, totals, other_days[day])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False), agents=st.integers(1, 5), cut=st.floats(0.0, 1.0))
def test_a_restart_that_reads_everything_again_changes_nothing(rng: random.Random, agents: int, cut: float) -> None:
    events = random_days(rng, agents)
    delivered = arrivals(events, rng)
    split = int(len(delivered) * cut)
    # The worker before the crash: what it has seen so far is the reference of exactly that.
    crashed, _ = fed(delivered[:split])
    seen = delivered[:split]
    assert_same_as_reference(crashed, seen)
    # Redelivery: the same board reads the whole source again; a new board reads it in another order.
    _, again = fed(delivered, board=crashed)
    assert again[:split] == [Outcome.DUPLICATE] * split
    reordered = list(delivered)
    rng.shuffle(reordered)
    restarted, _ = fed(reordered)
    assert_same_board(crashed, restarted)
    assert_same_as_reference(restarted, events)


def test_an_open_state_cut_by_a_queue_change_counts_every_second_once() -> None:
    # Available since 09:00 in sales, queues = [support] from 09:10, nothing since; read at 09:20:
    # sales 09:00-09:10 (600 s), support 09:10-09:20 (300 s in each interval), whatever part of it the
    # board booked and whatever part its record leaves open for the API to add.
    events = [state("e1", "09:00:00", "available", queues=["sales"]), queues("q1", "09:10:00", ["support"])]
    board, _ = fed(events)
    until = Fraction(epoch("09:20:00"))
    read = merged(board_table(board), reference_table(open_stretches(board, until)))
    assert_same_table(
        {key: values for key, values in read.items() if key[0] == 900},
        {
            **intervals(h0900={"staffed_s": 600.0, "available_s": 600.0}),
            **intervals(h0900={"queue": "support", "staffed_s": 300.0, "available_s": 300.0}),
            **intervals(h0915={"queue": "support", "staffed_s": 300.0, "available_s": 300.0}),
        },
    )
    assert_same_as_reference(board, events, until=until)


def test_the_state_is_entered_once_and_a_contact_begins_with_its_own_event() -> None:
    # A break reported at 09:05 and again at 09:10: on a break since 09:05. Then contact c1 from 09:20
    # and c2 from 09:25: on contact since 09:20, the contact in progress (c2) since 09:25.
    events = [
        state("e1", "09:00:00", "available", queues=["sales"]),
        state("e2", "09:05:00", "aux", reason="break"),
        state("e3", "09:10:00", "aux", reason="break"),
    ]
    board, _ = fed(events)
    assert board.live()[0]["since"] == pytest.approx(epoch("09:05:00"))
    contacts = [
        state("e4", "09:20:00", "on_contact", contact_id="c1", queue="sales"),
        state("e5", "09:25:00", "on_contact", contact_id="c2", queue="sales"),
    ]
    fed(contacts, board=board)
    [record] = board.live()
    assert (record["since"], record["contact_since"], record["contact_id"]) == (
        pytest.approx(epoch("09:20:00")), pytest.approx(epoch("09:25:00")), "c2",
    )
    assert_same_as_reference(board, events + contacts)
