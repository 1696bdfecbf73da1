"""Tests of the agents oracle itself (tests/agents_reference.py) where test_agents_vs_reference.py does
not reach: the contact counts, the open segment the API adds at read time, business days of 25 hours.
Expected values are worked out by hand in the comments."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import Any

from tests import agents_reference as ref

DAY = "2026-03-10"


def epoch(clock: str, day: str = DAY) -> int:
    return int(datetime.fromisoformat(f"{day}T{clock}+00:00").timestamp())


def state(event_id: str, clock: str, value: str, day: str = DAY, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "type": "agent.state_changed", "time": f"{day}T{clock}Z", "agent_id": "a1", "state": value, **fields}


def contact(event_id: str, kind: str, clock: str, agent: str | None = "a1") -> dict[str, Any]:
    return {
        "event_id": event_id, "type": f"contact.{kind}", "time": f"{DAY}T{clock}Z", "contact_id": "c9",
        "customer_id": None, "queue": "sales", "channel": "voice", "agent_id": agent,
    }  # fmt: skip


def test_missed_and_transferred_go_to_the_contacts_bucket_at_their_time_once() -> None:
    # Missed by a1 at 09:20:30 (sent twice), by a2 at 09:21:10, transferred at 09:31: the 09:15
    # interval has 2 missed (a1 1, a2 1), the 09:30 one 1 transferred; minutes 09:20 and 09:21 one each.
    events = [
        contact("m1", "ringing", "09:20:00"),
        contact("m2", "missed", "09:20:30"),
        contact("m2", "missed", "09:20:30"),
        {**contact("m3", "missed", "09:21:10"), "agent_id": "a2"},
        contact("t1", "transferred", "09:31:00"),
    ]
    table = ref.buckets([], events)
    quarter = table[(900, "sales", "voice", epoch("09:15:00"))]
    assert (quarter.missed, quarter.transferred, quarter.missed_by_agent) == (2, 0, {"a1": 1, "a2": 1})
    assert table[(900, "sales", "voice", epoch("09:30:00"))].transferred == 1
    assert table[(60, "sales", "voice", epoch("09:20:00"))].missed_by_agent == {"a1": 1}
    assert table[(60, "sales", "voice", epoch("09:21:00"))].missed_by_agent == {"a2": 1}
    assert ref.days([], events) == {"a1": {DAY: ref.AgentDay(missed=1)}, "a2": {DAY: ref.AgentDay(missed=1)}}


def test_the_open_segment_counts_only_up_to_until() -> None:
    # Available 09:00, on contact c1 since 09:10 and still on it: closed segments give 600 s available
    # and 1 handled (counted when it starts); read at 09:12:30 the open contact adds 150 s on contact.
    events = [state("e1", "09:00:00", "available", queues=["sales"]), state("e2", "09:10:00", "on_contact", contact_id="c1")]
    closed = ref.days(events)["a1"][DAY]
    assert (closed.handled, closed.staffed_s, closed.on_contact_s) == (1, 600, 0)
    now = Fraction(epoch("09:12:30"))
    live = ref.days(events, until=now)["a1"][DAY]
    assert (live.handled, live.staffed_s, live.on_contact_s, live.aht_s()) == (1, 750, 150, 150)
    hour = ref.window(ref.buckets(events, until=now), epoch("09:00:00"), epoch("10:00:00"), size=60)
    assert (hour.staffed_s, hour.on_contact_s, hour.occupancy(), hour.aux_share()) == (750, 150, Fraction(1, 5), 0)


def test_a_business_day_with_the_clocks_going_back_has_25_hours() -> None:
    # Berlin leaves summer time on 2026-10-25 (03:00 CEST -> 02:00 CET): the business day starting at
    # local midnight runs 2026-10-24T22:00Z to 2026-10-25T23:00Z, 25 hours.
    rules = ref.DayRules("Europe/Berlin")
    start = rules.start_of(datetime(2026, 10, 25).date())
    end = rules.start_of(datetime(2026, 10, 26).date())
    assert (start, end - start) == (epoch("22:00:00", "2026-10-24"), 25 * 3600)
    assert rules.date_of(end - 1).isoformat() == "2026-10-25" and rules.date_of(end).isoformat() == "2026-10-26"
