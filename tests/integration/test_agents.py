"""Agents on real processes: an agent's hour published to the broker and read back from /v1/history,
/v1/kpis, /metrics and /v1/agents against a calculation by hand; and a worker SIGKILLed while 20
agents' days are published, the history afterwards equal to the independent reference
(tests/agents_reference.py).

Nothing may depend on the hour the test runs at, yet /v1/agents only lists today's agents and the
rolling windows end now. So the hour sits just behind the clock: it starts T0 = the last quarter hour
boundary minus an hour, so the agent has logged out (T0 + 60 min) before anything is published, and
the stack's business day is made to start two hours before T0 (``defaults.day_start``), so the whole
hour is "today" and still is when the test ends (a day lasts 24 hours). Rolling-window values are
compared with the reference over the window the API says it served (its ``start`` and ``end``).
"""

from __future__ import annotations

import random
import signal
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from adapters.publisher import Publisher
from adapters.replay import wait_until_counted
from kpis.catalog import KPIS_BY_NAME
from tests import agents_reference as ref
from tests.agent_days import AgentDays, arrivals, days_of, rfc3339
from tests.integration.cluster import Cluster
from tests.integration.stack import Stack, eventually

pytestmark = pytest.mark.integration

SECONDS = ("staffed_s", "available_s", "on_contact_s", "agent_acw_s", "aux_s")
# Served seconds are rounded to the millisecond (the stored counters too, so ratios differ from exact
# ones by about 1e-8).
SECONDS_TOLERANCE = 0.0015
RATIO_TOLERANCE = 1e-6


def iso(t: float) -> str:
    return rfc3339(int(t * 1000))


def epoch_of(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def close(served: Any, expected: Fraction | int | None, tolerance: float) -> bool:
    if served is None or expected is None:
        return served is None and expected is None
    return abs(float(served) - float(expected)) <= tolerance


def expected_row(table: dict[ref.BucketId, ref.AgentTime], start: float, end: float, queue: str, channel: str, size: int) -> dict[str, Any]:
    """The agents section of a served row, from the reference's buckets of one size in [start, end)."""
    window = ref.window(table, start, end, size, queue, channel)
    return {
        **{name: getattr(window, name) for name in SECONDS},
        "occupancy": window.occupancy(), "aux_share": window.aux_share(),
        "missed": window.missed, "transferred": window.transferred,
    }  # fmt: skip


def mismatches(row: dict[str, Any], expected: dict[str, Any], where: str) -> list[str]:
    wrong = []
    for name, value in expected.items():
        tolerance = SECONDS_TOLERANCE if name in SECONDS else RATIO_TOLERANCE
        if not close(row.get(name), value, tolerance):
            wrong.append(f"{where} {name}: served {row.get(name)!r}, expected {value if value is None else float(value)!r}")
    return wrong


# ---- one agent's hour, by hand ---------------------------------------------------------------------


@dataclass
class Hour:
    """The published hour: its start T0, the business date holding it, the events, the stack."""

    stack: Stack
    t0: int
    date: str
    agent_events: list[dict[str, Any]]
    contact_events: list[dict[str, Any]]

    def at(self, minutes: float) -> float:
        return self.t0 + minutes * 60


def hour_events(t0: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Agent a1 (sales, voice): login T0 available, contact c1 T0+5..T0+12 min, after-contact work to
    T0+14, available, break T0+30..T0+45, available, logout T0+60. Agent a2 (support): available
    from T0+30 min and still working. Contacts of sales: c1 answered by a1 (transferred a second
    before its end), c2 rung at a1, missed by a1 at T0+20, then abandoned."""

    def agent(n: int, minutes: float, agent_id: str = "a1", **fields: Any) -> dict[str, Any]:
        kind = "agent.state_changed" if "state" in fields else "agent.queues_changed"
        return {"event_id": f"ag-{agent_id}-{n}", "type": kind, "time": iso(t0 + minutes * 60), "agent_id": agent_id, **fields}

    def contact(n: int, kind: str, minutes: float, contact_id: str, **fields: Any) -> dict[str, Any]:
        return {
            "event_id": f"ct-{n}", "type": f"contact.{kind}", "time": iso(t0 + minutes * 60), "contact_id": contact_id,
            "customer_id": f"cust-{contact_id}", "queue": "sales", "channel": "voice", **fields,
        }  # fmt: skip

    agents = [
        agent(1, 0, state="available", queues=["sales"], channel="voice", agent_name="Ada Lovelace"),
        agent(2, 5, state="on_contact", contact_id="c1", queue="sales"),
        agent(3, 12, state="after_contact_work"),
        agent(4, 14, state="available"),
        agent(5, 30, state="aux", reason="break"),
        agent(6, 45, state="available"),
        agent(7, 60, state="logged_out"),
        agent(1, 30, "a2", state="available", queues=["support"], agent_name="Grace Hopper"),
    ]
    contacts = [
        contact(1, "offered", 4 + 50 / 60, "c1"),
        contact(2, "ringing", 4 + 55 / 60, "c1", agent_id="a1"),
        contact(3, "answered", 5, "c1", agent_id="a1"),
        contact(4, "transferred", 12 - 1 / 60, "c1", agent_id="a1"),
        contact(5, "ended", 12, "c1", agent_id="a1"),
        contact(6, "wrapup_ended", 14, "c1", agent_id="a1"),
        contact(7, "offered", 19 + 50 / 60, "c2"),
        contact(8, "ringing", 19 + 55 / 60, "c2", agent_id="a1"),
        contact(9, "missed", 20, "c2", agent_id="a1"),
        contact(10, "abandoned", 20.5, "c2"),
    ]
    return agents, contacts


@pytest.fixture(scope="module")
async def hour(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hour]:
    t0 = int(time.time()) // 900 * 900 - 3600
    day_start = datetime.fromtimestamp(t0 - 7200, timezone.utc)
    config = Path(tmp_path_factory.mktemp("agents")) / "cxpulse.yaml"
    config.write_text(f'defaults:\n  day_start: "{day_start:%H:%M}"\n')
    stack = Stack("agents-hour", config=config)
    await stack.start()
    try:
        agents, contacts = hour_events(t0)
        delivered = arrivals(agents + contacts, random.Random(14))
        async with Publisher(stack.bootstrap) as publisher:
            sent = await publisher.publish_tracked(delivered)
        await wait_until_counted(stack.api, sent, 120)
        yield Hour(stack, t0, day_start.date().isoformat(), agents, contacts)
    finally:
        await stack.stop()


async def served_rows(stack: Stack, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """The rows of sales once a1's whole hour shows in them, 3600 s staffed, the missed and the
    transferred contact (the API's frame follows the worker's writes)."""

    async def complete() -> list[dict[str, Any]] | None:
        rows: list[dict[str, Any]] = (await stack.get_json(path, params))["items"]
        staffed = sum(float(row.get("staffed_s") or 0) for row in rows)
        counts = [sum(row.get(name) or 0 for row in rows) for name in ("missed", "transferred")]
        return rows if abs(staffed - 3600) <= SECONDS_TOLERANCE * len(rows) and counts == [1, 1] else None

    return await eventually(complete, 90, f"{path} {params} to show a1's hour and both contacts")


async def test_history_and_today_of_one_agents_hour_worked_by_hand(hour: Hour) -> None:
    # a1's hour, sales/voice, by 15-minute interval (staffed = every state but logged out):
    #   T0+0   available 300 (0-5 min) + 60 (14-15) = 360, on contact 420 (5-12), ACW 120 (12-14);
    #          occupancy (420 + 120) / 900 = 0.6, aux share 0; c1 transferred at T0+11:59
    #   T0+15  available 900; occupancy 0, aux share 0; c2 missed at T0+20
    #   T0+30  aux (break) 900; occupancy None (staffed - aux = 0), aux share 1
    #   T0+45  available 900; occupancy 0, aux share 0
    by_hand: list[dict[str, Any]] = [
        {"staffed_s": 900, "available_s": 360, "on_contact_s": 420, "agent_acw_s": 120, "aux_s": 0,
         "occupancy": Fraction(3, 5), "aux_share": 0, "missed": 0, "transferred": 1},
        {"staffed_s": 900, "available_s": 900, "on_contact_s": 0, "agent_acw_s": 0, "aux_s": 0,
         "occupancy": 0, "aux_share": 0, "missed": 1, "transferred": 0},
        {"staffed_s": 900, "available_s": 0, "on_contact_s": 0, "agent_acw_s": 0, "aux_s": 900,
         "occupancy": None, "aux_share": 1, "missed": 0, "transferred": 0},
        {"staffed_s": 900, "available_s": 900, "on_contact_s": 0, "agent_acw_s": 0, "aux_s": 0,
         "occupancy": 0, "aux_share": 0, "missed": 0, "transferred": 0},
    ]  # fmt: skip
    # The hour as a whole: staffed 3600, available 2160, on contact 420, ACW 120, aux 900;
    # occupancy (7 + 2) min / (60 - 15) min = 0.2, aux share 15 / 60 = 0.25; missed 1, transferred 1;
    # and from the contact events, handled 1 with AHT (420 talk + 120 wrap-up) / 1 = 540 s.
    whole: dict[str, Any] = {"staffed_s": 3600, "available_s": 2160, "on_contact_s": 420, "agent_acw_s": 120, "aux_s": 900,
             "occupancy": Fraction(1, 5), "aux_share": Fraction(1, 4), "missed": 1, "transferred": 1}  # fmt: skip
    table = ref.buckets(hour.agent_events, hour.contact_events)
    for n, values in enumerate(by_hand):  # the oracle agrees with the hand calculation
        assert not mismatches(expected_row(table, hour.at(15 * n), hour.at(15 * n + 15), "sales", "voice", 900), values, "reference")
    assert not mismatches(expected_row(table, hour.at(0), hour.at(60), "sales", "voice", 60), whole, "reference")

    sales = {"queue": "sales", "channel": "voice"}
    quarters = await served_rows(hour.stack, "/v1/history", {**sales, "from": hour.date, "to": hour.date, "interval": "15m"})
    by_start = {epoch_of(row["start"]): row for row in quarters}
    wrong = []
    for n, values in enumerate(by_hand):
        wrong += mismatches(by_start[hour.at(15 * n)], values, f"15m from T0+{15 * n} min")
    others = [row for start, row in by_start.items() if not hour.at(0) <= start < hour.at(60)]
    assert all(not row.get("staffed_s") and not row.get("missed") for row in others)

    [day] = await served_rows(hour.stack, "/v1/history", {**sales, "from": hour.date, "to": hour.date, "interval": "1d"})
    wrong += mismatches(day, whole, f"day {hour.date}")
    [today] = await served_rows(hour.stack, "/v1/kpis", {**sales, "window": "today"})
    wrong += mismatches(today, whole, "window today")
    for row, where in ((day, "day"), (today, "today")):
        if (row["handled"], row["aht_s"]) != (1, pytest.approx(540)):
            wrong.append(f"{where}: handled {row['handled']}, AHT {row['aht_s']} (expected 1, 540)")
    assert not wrong, "\n".join(wrong)


def gauges(text: str, metric: str, **labels: str) -> list[float]:
    """The values of ``metric`` whose labels include ``labels``."""
    wanted = [f'{name}="{value}"' for name, value in labels.items()]
    return [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(metric + "{") and all(label in line.split("}")[0] for label in wanted)
    ]


async def test_rolling_window_and_live_gauges_of_one_agents_hour(hour: Hour) -> None:
    """/v1/kpis?window=60m and the 60m gauges equal the reference over the window the API served, read
    while it did not move (the same start before and after the scrape); the live counts follow the
    agents' states: a1 logged out, a2 available in support."""
    table = ref.buckets(hour.agent_events, hour.contact_events)
    sales = {"queue": "sales", "channel": "voice"}
    names = ("occupancy", "aux_share", "missed", "transferred", *SECONDS)
    await served_rows(hour.stack, "/v1/kpis", {**sales, "window": "today"})  # everything counted and shown

    async def steady() -> tuple[dict[str, Any], str] | None:
        [before] = (await hour.stack.get_json("/v1/kpis", {**sales, "window": "60m"}))["items"]
        metrics = (await hour.stack.get("/metrics")).text
        [after] = (await hour.stack.get_json("/v1/kpis", {**sales, "window": "60m"}))["items"]
        return (after, metrics) if before["start"] == after["start"] and before == after else None

    row, metrics = await eventually(steady, 60, "a 60m row that stayed the same across a /metrics scrape")
    expected = expected_row(table, epoch_of(row["start"]), epoch_of(row["end"]), "sales", "voice", 60)
    wrong = mismatches(row, expected, f"60m window {row['start']}..{row['end']}")
    for name in names:
        served = gauges(metrics, KPIS_BY_NAME[name].metric, queue="sales", channel="voice", window="60m")
        if expected[name] is None:
            if served:
                wrong.append(f"gauge {name}: exported {served} where the ratio has no denominator")
        elif len(served) != 1 or not close(served[0], expected[name], SECONDS_TOLERANCE if name in SECONDS else RATIO_TOLERANCE):
            wrong.append(f"gauge {name}: exported {served}, expected {float(expected[name])}")
    for kpi, queue, count in (("agents_staffed", "support", 1), ("agents_available", "support", 1), ("agents_staffed", "sales", 0),
                              ("agents_available", "sales", 0), ("agents_on_contact", "support", 0), ("agents_aux", "support", 0)):  # fmt: skip
        served = gauges(metrics, KPIS_BY_NAME[kpi].metric, queue=queue, channel="voice")
        if served != [count] and not (count == 0 and not served):
            wrong.append(f"gauge {kpi} of {queue}: exported {served}, expected {count}")
    assert not wrong, "\n".join(wrong)


async def test_a_late_login_moves_time_already_booked_to_its_queue(hour: Hour) -> None:
    """Agent a3's contact T0+5..T0+10 min arrives first, before any event naming its queues: 300 s on
    contact in queue "unknown" (shown, so the worker has written it). Then its login arrives (available
    from T0, queues [billing]): in event time the 300 s on contact belong to billing, with the 300 s
    available before them, and "unknown" keeps nothing (the agent's time is a function of the set of
    its events, whatever order they came in)."""

    def a3(n: int, minutes: int, **fields: Any) -> dict[str, Any]:
        return {"event_id": f"ag-a3-{n}", "type": "agent.state_changed", "time": iso(hour.at(minutes)), "agent_id": "a3", **fields}

    async def publish(events: list[dict[str, Any]]) -> None:
        async with Publisher(hour.stack.bootstrap) as publisher:
            await wait_until_counted(hour.stack.api, await publisher.publish_tracked(events), 120)

    async def first_quarter(queue: str) -> dict[str, Any]:
        rows = (await hour.stack.get_json("/v1/history", {"queue": queue, "channel": "voice", "from": hour.date, "to": hour.date, "interval": "15m"}))["items"]
        return {name: sum(float(r.get(name) or 0) for r in rows if epoch_of(r["start"]) == hour.at(0)) for name in SECONDS}

    await publish([a3(2, 5, state="on_contact", contact_id="c3", queue="billing"), a3(3, 10, state="logged_out")])

    async def in_unknown() -> dict[str, Any] | None:
        shown = await first_quarter("unknown")
        return shown if close(shown["on_contact_s"], 300, SECONDS_TOLERANCE) else None

    await eventually(in_unknown, 90, "a3's contact shown in queue unknown before its login arrives")
    await publish([a3(1, 0, state="available", queues=["billing"], channel="voice")])

    async def moved() -> tuple[dict[str, Any], dict[str, Any]] | None:
        billing, unknown = await first_quarter("billing"), await first_quarter("unknown")
        done = close(billing["staffed_s"], 600, SECONDS_TOLERANCE) and not any(unknown.values())
        return (billing, unknown) if done else None

    try:
        billing, _ = await eventually(moved, 90, "a3's 600 s in billing and none left in unknown")
    except AssertionError:
        raise AssertionError(f"billing {await first_quarter('billing')}, unknown {await first_quarter('unknown')}") from None
    assert (billing["available_s"], billing["on_contact_s"]) == (pytest.approx(300, abs=SECONDS_TOLERANCE), pytest.approx(300, abs=SECONDS_TOLERANCE))


async def test_agents_board_today_worked_by_hand(hour: Hour) -> None:
    """/v1/agents: a1 logged out since T0+60 min with its day (1 handled, AHT 540 s, 1 missed, time
    per state as above); a2 available since T0+30 min, its open stretch counted up to the answer's
    ``generated_at``; each listed, and counted in the summary, only in its own queue."""

    async def both() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        body = await hour.stack.get_json("/v1/agents")
        listed = [a for a in body["agents"] if a["agent_id"] in ("a1", "a2")]
        return (body, listed) if [a["agent_id"] for a in listed] == ["a1", "a2"] and listed[0]["state"] == "logged_out" else None

    body, (a1, a2) = await eventually(both, 90, "/v1/agents to list a1 logged out and a2")
    assert (a1["name"], a1["queues"], a1["channel"], a1["contact"], a1["reason"]) == ("Ada Lovelace", ["sales"], "voice", None, None)
    assert epoch_of(a1["since"]) == hour.at(60)
    assert a1["today"] == {
        "date": hour.date, "handled": 1, "aht_s": pytest.approx(540), "missed": 1, "staffed_s": pytest.approx(3600),
        "available_s": pytest.approx(2160), "on_contact_s": pytest.approx(420), "after_contact_work_s": pytest.approx(120),
        "aux_s": pytest.approx(900),
    }  # fmt: skip
    # a2: available from T0+30 min up to now, the answer's generated_at: in state, staffed and available
    # all that long; nothing handled, so no AHT.
    open_s = epoch_of(body["generated_at"]) - hour.at(30)
    assert (a2["name"], a2["state"], a2["queues"], epoch_of(a2["since"])) == ("Grace Hopper", "available", ["support"], hour.at(30))
    assert a2["today"] == {
        "date": hour.date, "handled": 0, "aht_s": None, "missed": 0, "staffed_s": pytest.approx(open_s, abs=0.01),
        "available_s": pytest.approx(open_s, abs=0.01), "on_contact_s": 0, "after_contact_work_s": 0, "aux_s": 0,
    }  # fmt: skip
    assert a2["time_in_state_s"] == pytest.approx(open_s, abs=0.01)
    sales = await hour.stack.get_json("/v1/agents", {"queue": "sales"})
    support = await hour.stack.get_json("/v1/agents", {"queue": "support"})
    assert [a["agent_id"] for a in sales["agents"]] == ["a1"] and [a["agent_id"] for a in support["agents"]] == ["a2"]
    summary = {"staffed": 0, "available": 0, "on_contact": 0, "after_contact_work": 0, "aux": 0, "aux_by_reason": {}}
    assert sales["summary"] == {**summary, "logged_out": 1}
    assert support["summary"] == {**summary, "staffed": 1, "available": 1, "logged_out": 0}


# ---- 20 agents' days across a worker SIGKILL -------------------------------------------------------

DAY = "2026-03-10"
DAY_START = datetime.fromisoformat(f"{DAY}T00:00:00+00:00").timestamp()


def history_mismatches(rows: list[dict[str, Any]], table: dict[ref.BucketId, ref.AgentTime], interval_s: int) -> list[str]:
    """Every served row (each queue, channel and roll-up) against the reference over its period, and
    every (queue, channel) the reference has time for served."""
    wrong: list[str] = []
    served = set()
    for row in rows:
        start, end = epoch_of(row["start"]), epoch_of(row["end"])
        served.add((row["queue"], row["channel"], start))
        expected = expected_row(table, start, end, row["queue"], row["channel"], 900)
        wrong += mismatches(row, expected, f"{row['queue']}/{row['channel']} {row['start']}")
    for size, queue, channel, start in table:
        period = DAY_START + (start - DAY_START) // interval_s * interval_s
        if size == 900 and (queue, channel, period) not in served:
            wrong.append(f"no row for {queue}/{channel} from {iso(period)}")
    return wrong


async def test_a_late_login_after_a_worker_restart_moves_time_out_of_unknown(tmp_path: Path) -> None:
    """The late login above with a worker SIGKILLed and restarted between the contact and the login:
    the new owner of the partition must take back what the dead one booked in queue "unknown"."""

    def x1(n: int, clock: str, **fields: Any) -> dict[str, Any]:
        return {"event_id": f"x1-{n}", "type": "agent.state_changed", "time": f"{DAY}T{clock}Z", "agent_id": "x1", **fields}

    config = tmp_path / "cxpulse.yaml"
    config.write_text("kpi:\n  grace_minutes: 60\n")
    cluster = Cluster("agents-restart-login", config, partitions=2)
    await cluster.start(workers=1)

    async def first_quarter(queue: str) -> dict[str, float]:
        rows = (await cluster.get("/v1/history", {"queue": queue, "channel": "voice", "from": DAY, "to": DAY, "interval": "15m"}))["items"]
        return {name: sum(float(r.get(name) or 0) for r in rows if r["start"].startswith(f"{DAY}T09:00")) for name in SECONDS}

    try:
        await cluster.publish([x1(2, "09:05:00", state="on_contact", contact_id="c1", queue="billing"), x1(3, "09:10:00", state="logged_out")])
        await cluster.wait_counted()

        async def in_unknown() -> dict[str, float] | None:
            shown = await first_quarter("unknown")
            return shown if close(shown["on_contact_s"], 300, SECONDS_TOLERANCE) else None

        await eventually(in_unknown, 90, "x1's contact shown in queue unknown")
        await cluster.kill("worker-0", signal.SIGKILL)
        await cluster.start_worker("worker-0")
        await cluster.publish([x1(1, "09:00:00", state="available", queues=["billing"])])
        await cluster.wait_counted()

        async def moved() -> tuple[dict[str, float], dict[str, float]] | None:
            billing, unknown = await first_quarter("billing"), await first_quarter("unknown")
            return (billing, unknown) if close(billing["staffed_s"], 600, SECONDS_TOLERANCE) and not any(unknown.values()) else None

        try:
            await eventually(moved, 120, "x1's 600 s in billing and none left in unknown")
        except AssertionError:
            raise AssertionError(f"billing {await first_quarter('billing')}, unknown {await first_quarter('unknown')}") from None
    finally:
        await cluster.stop()


@pytest.mark.parametrize("fault", ["none", "SIGKILL"])
async def test_a_worker_sigkilled_while_agents_days_arrive_counts_every_second_once(tmp_path: Path, fault: str) -> None:
    """With ``none`` the same traffic without the kill: a failure of only the other one is the crash."""
    rng = random.Random(1414)
    events = list(days_of(rng, AgentDays("k"), 20, int(DAY_START + 6 * 3600) * 1000, spread_hours=4, max_hours=10, log_out=True))
    delivered = arrivals(events, rng)
    assert 200 <= len(events) <= 800, len(events)
    table = ref.buckets(events)
    assert {ref.seconds(e["time"]) // 86400 for e in events} == {int(DAY_START) // 86400}  # one UTC day
    config = tmp_path / "cxpulse.yaml"
    config.write_text("kpi:\n  grace_minutes: 60\n")
    cluster = Cluster(f"agents-{fault.lower()}", config, partitions=4)
    await cluster.start(workers=1)
    try:
        cut = len(delivered) * 6 // 10
        await cluster.publish(delivered[:cut])

        async def counting() -> int | None:
            return await cluster.processed() or None

        await eventually(counting, 120, "the worker counting agent events")
        if fault == "SIGKILL":
            await cluster.kill("worker-0", signal.SIGKILL)
        await cluster.publish(delivered[cut // 2 : cut] + delivered[cut:])  # a producer's retry, then the rest
        if fault == "SIGKILL":
            await cluster.start_worker("worker-0")
        await cluster.wait_counted()

        async def matching(interval: str, interval_s: int) -> list[str] | None:
            rows = (await cluster.get("/v1/history", {"from": DAY, "to": DAY, "interval": interval}))["items"]
            return None if history_mismatches(rows, table, interval_s) else ["ok"]

        for interval, interval_s in (("15m", 900), ("1d", 86400)):
            try:
                await eventually(lambda: matching(interval, interval_s), 120, f"the {interval} history to equal the reference")
            except AssertionError:
                rows = (await cluster.get("/v1/history", {"from": DAY, "to": DAY, "interval": interval}))["items"]
                wrong = history_mismatches(rows, table, interval_s)
                raise AssertionError(f"{len(wrong)} differences, e.g.\n" + "\n".join(wrong[:40])) from None
    finally:
        await cluster.stop()
