"""The demo simulator must produce traffic the worker accepts and whose KPIs look like a real center."""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timezone
from typing import Any, Callable

import orjson
import pytest

from adapters.publisher import topic_of
from adapters.simulator import DEFAULT_QUEUES, DIURNAL_LOAD, QueueProfile, generate, queue_profiles
from bench import api as api_bench
from kpis.event import AgentEvent
from kpis.event import Event as ContactEvent
from service.cli import SIMULATE_DEFAULTS
from streams import topics
from streams.contract import AGENT_TYPES, decode_record, parse_time, record_key, validate

START = datetime(2024, 3, 5, 8, 0, tzinfo=timezone.utc).timestamp()
HOURS = 6
# Contacts offered this long before the end of the stream have certainly finished inside it.
SETTLED_S = 3 * 3600

Event = dict[str, Any]


@pytest.fixture(scope="module")
def stream() -> list[Event]:
    return list(generate(START, HOURS * 3600, seed=7))


@pytest.fixture(scope="module")
def contacts(stream: list[Event]) -> dict[str, list[Event]]:
    by_contact: dict[str, list[Event]] = defaultdict(list)
    for event in stream:
        if event["type"] != "survey.submitted":
            by_contact[event["contact_id"]].append(event)
    return by_contact


def _of_type(stream: list[Event], event_type: str) -> list[Event]:
    return [event for event in stream if event["type"] == event_type]


def _topic(event: Event) -> str:
    if event["type"] == "survey.submitted":
        return topics.SURVEYS
    return topics.topic_for_channel(event["channel"])


def test_every_event_satisfies_the_contract(stream: list[Event]) -> None:
    assert len(stream) > 5_000
    for event in stream:
        validate(event, _topic(event))


def test_events_carry_exactly_the_contract_fields_of_their_type(stream: list[Event]) -> None:
    base = {"event_id", "type", "time", "contact_id", "customer_id", "queue", "channel"}
    expected = {
        "contact.offered": base,
        "contact.abandoned": base | {"wait_s"},
        "contact.answered": base | {"agent_id", "wait_s"},
        "contact.ended": base | {"agent_id", "talk_s", "hold_s"},
        "contact.wrapup_ended": base | {"agent_id", "acw_s"},
    }
    for event in stream:
        if event["type"] == "survey.submitted":
            assert {"event_id", "type", "time", "contact_id", "customer_id"} <= event.keys()
            assert event.keys() <= base | {"agent_id", "csat", "nps", "ces", "resolved"}
        else:
            assert event.keys() == expected[event["type"]]


def test_times_are_utc_with_milliseconds_and_never_go_back(stream: list[Event]) -> None:
    times = [parse_time(event["time"]) for event in stream]
    assert all(event["time"].endswith("Z") for event in stream)
    assert times == sorted(times)
    assert START <= times[0] and times[-1] < START + HOURS * 3600


def test_event_ids_and_contact_ids_are_unique(stream: list[Event]) -> None:
    assert len({event["event_id"] for event in stream}) == len(stream)
    offered = _of_type(stream, "contact.offered")
    assert len({event["contact_id"] for event in offered}) == len(offered)


def test_each_contact_is_offered_once_then_answered_or_abandoned_once(contacts: dict[str, list[Event]]) -> None:
    end = START + HOURS * 3600
    for contact_id, events in contacts.items():
        kinds = [event["type"] for event in events]
        assert kinds[0] == "contact.offered", contact_id
        assert kinds.count("contact.offered") == 1, contact_id
        outcomes = kinds.count("contact.answered") + kinds.count("contact.abandoned")
        assert outcomes <= 1, contact_id
        if parse_time(events[0]["time"]) < end - SETTLED_S:
            assert outcomes == 1, contact_id


def test_wait_is_the_time_from_offer_to_outcome(contacts: dict[str, list[Event]]) -> None:
    checked = 0
    for events in contacts.values():
        offered_at = parse_time(events[0]["time"])
        for event in events[1:]:
            if event["type"] in ("contact.answered", "contact.abandoned"):
                outcome_at = parse_time(event["time"])
                assert outcome_at >= offered_at
                assert event["wait_s"] == pytest.approx(outcome_at - offered_at, abs=0.01)
                checked += 1
    assert checked > 1_000


def test_answered_contacts_end_then_wrap_up_with_the_same_agent(contacts: dict[str, list[Event]]) -> None:
    lifecycle = ["contact.offered", "contact.answered", "contact.ended", "contact.wrapup_ended"]
    end = START + HOURS * 3600
    for contact_id, events in contacts.items():
        kinds = [event["type"] for event in events]
        if "contact.answered" not in kinds:
            assert kinds in (["contact.offered"], ["contact.offered", "contact.abandoned"]), contact_id
            continue
        assert kinds == lifecycle[: len(kinds)], contact_id
        if parse_time(events[0]["time"]) < end - SETTLED_S:
            assert kinds == lifecycle, contact_id
        assert len({event["agent_id"] for event in events[1:]}) == 1, contact_id


def test_durations_match_the_gaps_between_steps(contacts: dict[str, list[Event]]) -> None:
    for events in contacts.values():
        if len(events) < 4:
            continue
        _, answered, ended, wrapped = (parse_time(event["time"]) for event in events)
        assert ended - answered == pytest.approx(events[2]["talk_s"] + events[2]["hold_s"], abs=0.01)
        assert wrapped - ended == pytest.approx(events[3]["acw_s"], abs=0.01)
        assert 10 <= events[3]["acw_s"] <= 90
        assert events[2]["hold_s"] == 0 or 10 <= events[2]["hold_s"] <= 120


def test_an_agent_handles_one_contact_at_a_time(stream: list[Event]) -> None:
    busy: dict[str, str] = {}
    for event in stream:
        agent = str(event.get("agent_id"))
        if event["type"] == "contact.answered":
            assert agent not in busy, agent
            busy[agent] = event["contact_id"]
        elif event["type"] == "contact.wrapup_ended":
            assert busy.pop(agent) == event["contact_id"]


def test_agent_ids_name_their_home_queue_and_channel(stream: list[Event]) -> None:
    """Contacts go to agents of their own channel, most to their own queue's, some to agents whose
    second queue it is."""
    answered = _of_type(stream, "contact.answered")
    home: Counter[bool] = Counter()
    for event in answered:
        match = re.fullmatch(rf"(\w+)-{event['channel']}-a\d{{2,}}", event["agent_id"])
        assert match, event["agent_id"]
        home[match.group(1) == event["queue"]] += 1
    assert 0.6 <= home[True] / len(answered) < 1.0


@pytest.mark.parametrize("agents", [False, True])
def test_same_seed_replays_and_another_seed_differs(agents: bool) -> None:
    first = list(generate(START, 3600, seed=11, agents=agents))
    assert first == list(generate(START, 3600, seed=11, agents=agents))
    assert first != list(generate(START, 3600, seed=12, agents=agents))


def test_a_later_run_with_the_same_seed_gets_new_ids() -> None:
    """The worker deduplicates on event_id, so a restarted demo must not reuse the first run's ids."""
    first = list(generate(START, 600, seed=11))
    later = list(generate(START + 60, 600, seed=11))
    assert not {event["event_id"] for event in first} & {event["event_id"] for event in later}
    assert not {event["contact_id"] for event in first} & {event["contact_id"] for event in later}


def test_abandon_rate_is_plausible(stream: list[Event]) -> None:
    answered = len(_of_type(stream, "contact.answered"))
    abandoned = len(_of_type(stream, "contact.abandoned"))
    assert 0.01 <= abandoned / (answered + abandoned) <= 0.40


def test_every_default_queue_gets_traffic_on_both_channels(stream: list[Event]) -> None:
    seen = {(event["queue"], event["channel"]) for event in _of_type(stream, "contact.offered")}
    assert seen == {(queue.name, queue.channel) for queue in DEFAULT_QUEUES}
    assert {channel for _, channel in seen} == {"voice", "chat"}


def test_nights_are_much_quieter_than_late_mornings() -> None:
    midnight = START - 8 * 3600
    hours = Counter(
        int((parse_time(event["time"]) - midnight) // 3600)
        for event in generate(midnight, 24 * 3600, seed=5, load=DIURNAL_LOAD)
        if event["type"] == "contact.offered"
    )
    night = sum(hours[hour] for hour in range(1, 5))
    late_morning = sum(hours[hour] for hour in range(10, 14))
    assert 0.05 <= night / late_morning <= 0.2


def _shape(events: list[Event], start: float) -> list[tuple[str, str, str, float]]:
    """What a run's traffic is, without its ids and start: type, queue, channel and time since the start."""
    return [(e["type"], e.get("queue", ""), e.get("channel", ""), round(parse_time(e["time"]) - start, 3)) for e in events]


@pytest.mark.parametrize("hour", [3, 11])
def test_the_flat_default_draws_the_same_traffic_at_any_hour(hour: int) -> None:
    """What tests, benchmarks and the demo see must not depend on the hour they run at (03:00 = 11:00)."""
    noon = datetime(2024, 3, 5, 12, 0, tzinfo=timezone.utc).timestamp()
    at_hour = noon + (hour - 12) * 3600
    reference = _shape(list(generate(noon, 2 * 3600, seed=5)), noon)
    assert len(reference) > 1000
    assert _shape(list(generate(at_hour, 2 * 3600, seed=5)), at_hour) == reference


def test_a_load_profile_needs_24_shares_from_0_to_1() -> None:
    for load in [(1.0,) * 23, (0.5,) * 23 + (1.5,), (0.0,) * 24]:
        with pytest.raises(ValueError, match="24 hourly shares"):
            next(generate(START, 60, load=load))


def test_every_queue_of_the_api_benchmark_has_traffic_in_its_backfill() -> None:
    """The API benchmark waits for a /v1/kpis?window=15m row of each of its queues: the backfill it asks
    for (default seed, flat load) must hold an offer of every queue in its last 15 minutes, at any hour."""
    backfill_s = api_bench.BACKFILL_MINUTES * 60
    profiles = queue_profiles(api_bench.DEFAULT_QUEUES)
    events = generate(START, backfill_s, seed=SIMULATE_DEFAULTS["seed"], queues=profiles)
    recent = {
        e["queue"] for e in events if e["type"] == "contact.offered" and parse_time(e["time"]) >= START + backfill_s - 900
    }
    assert recent == {profile.name for profile in profiles}


def test_rate_scale_multiplies_the_arrivals() -> None:
    def offered(rate_scale: float) -> int:
        events = generate(START, 2 * 3600, seed=3, rate_scale=rate_scale)
        return sum(event["type"] == "contact.offered" for event in events)

    assert offered(0.0) == 0
    assert 1.7 <= offered(1.0) / offered(0.5) <= 2.3


def test_customers_are_sometimes_unknown_and_sometimes_repeat(stream: list[Event]) -> None:
    offered = _of_type(stream, "contact.offered")
    unknown = sum(event["customer_id"] is None for event in offered)
    assert 0.05 <= unknown / len(offered) <= 0.15
    last_seen: dict[str, float] = {}
    repeat_gaps = []
    for event in offered:
        customer, moment = event["customer_id"], parse_time(event["time"])
        if customer is None:
            continue
        assert re.fullmatch(r"cust-\d{6}", customer)
        if customer in last_seen:
            repeat_gaps.append(moment - last_seen[customer])
        last_seen[customer] = moment
    assert 0.05 <= len(repeat_gaps) / len(offered) <= 0.30
    assert statistics.median(repeat_gaps) < 4 * 3600


def test_about_a_fifth_of_handled_contacts_answer_a_survey_minutes_later(stream: list[Event]) -> None:
    wrapped = {event["contact_id"]: parse_time(event["time"]) for event in _of_type(stream, "contact.wrapup_ended")}
    surveys = _of_type(stream, "survey.submitted")
    assert 0.12 <= len(surveys) / len(wrapped) <= 0.30
    for survey in surveys:
        delay = parse_time(survey["time"]) - wrapped[survey["contact_id"]]
        assert 120 - 0.01 <= delay <= 1800 + 0.01
    anonymous = sum("queue" not in survey for survey in surveys)
    assert 0.3 <= anonymous / len(surveys) <= 0.7


def test_surveys_name_the_contacts_queue_channel_and_agent(stream: list[Event]) -> None:
    answered = {event["contact_id"]: event for event in _of_type(stream, "contact.answered")}
    for survey in _of_type(stream, "survey.submitted"):
        contact = answered[survey["contact_id"]]
        assert survey["customer_id"] == contact["customer_id"]
        for field in ("queue", "channel", "agent_id"):
            assert survey.get(field, contact[field]) == contact[field]


def test_long_waits_lower_the_scores() -> None:
    stream = list(generate(START, 24 * 3600, seed=9, rate_scale=1.3))
    waits = {event["contact_id"]: event["wait_s"] for event in _of_type(stream, "contact.answered")}
    short, long = [], []
    for survey in _of_type(stream, "survey.submitted"):
        if "csat" in survey:
            wait = waits[survey["contact_id"]]
            if wait < 10:
                short.append(survey["csat"])
            elif wait > 120:
                long.append(survey["csat"])
    assert len(long) >= 20
    assert statistics.mean(long) < statistics.mean(short) - 0.5


def test_an_unbounded_stream_keeps_going() -> None:
    events = list(itertools.islice(generate(START, None, seed=1, rate_scale=0.2), 2_000))
    assert len(events) == 2_000
    assert parse_time(events[-1]["time"]) > START


def test_a_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError):
        next(generate(START, -1.0))


def test_many_generated_queues_have_distinct_names_and_valid_traffic() -> None:
    profiles = queue_profiles(200)
    assert len(profiles) == 200
    assert len({profile.name for profile in profiles}) == 200
    assert profiles[:50] == queue_profiles(50)
    assert {profile.channel for profile in profiles} == {"voice", "chat"}
    events = list(generate(START, 600, seed=2, queues=profiles))
    assert len({event["queue"] for event in _of_type(events, "contact.offered")}) > 100
    for event in events:
        validate(event, _topic(event))


def test_few_queues_means_the_default_set() -> None:
    assert queue_profiles(1) == DEFAULT_QUEUES
    assert queue_profiles(len(DEFAULT_QUEUES)) == DEFAULT_QUEUES


def test_a_queue_without_agents_loses_every_caller() -> None:
    """Not even agents of another queue of its channel serve it as their second queue."""
    unstaffed = QueueProfile("after-hours", "voice", calls_per_hour=100, agents=0, mean_talk_s=60, mean_patience_s=30)
    staffed = QueueProfile("day", "voice", calls_per_hour=10, agents=10, mean_talk_s=60, mean_patience_s=30)
    events = [e for e in generate(START, 3600, seed=4, queues=[unstaffed, staffed]) if e["queue"] == "after-hours"]
    kinds = Counter(event["type"] for event in events)
    assert kinds["contact.answered"] == 0
    assert kinds["contact.abandoned"] >= kinds["contact.offered"] - 5 > 0


# The agent layer: agents in shifts, aux, missed offers, and the events saying so.

AGENT_LAYER_CONTACT_TYPES = ("contact.ringing", "contact.missed")
# Login goes to available; an aux follows another when the second fell due during the first.
ALLOWED = {
    ("logged_out", "available"),
    ("available", "on_contact"), ("available", "aux"), ("available", "logged_out"),
    ("on_contact", "after_contact_work"),
    ("after_contact_work", "available"), ("after_contact_work", "aux"), ("after_contact_work", "logged_out"),
    ("aux", "available"), ("aux", "aux"), ("aux", "logged_out"),
}  # fmt: skip
STAFFED = ("available", "on_contact", "after_contact_work", "aux")
SMALL_QUEUES = DEFAULT_QUEUES[4:]  # sales and retention: a whole day of their agents stays quick
DAY_HOURS = 26


@pytest.fixture(scope="module")
def layered() -> list[Event]:
    return list(generate(START, HOURS * 3600, seed=7, agents=True))


@pytest.fixture(scope="module")
def small_day() -> list[Event]:
    return list(generate(START, DAY_HOURS * 3600, seed=8, queues=SMALL_QUEUES, agents=True))


def _agent_events(events: list[Event]) -> dict[str, list[Event]]:
    """Each agent's state events in the order the contract defines: event time, then event id."""
    by_agent: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event["type"] == "agent.state_changed":
            by_agent[event["agent_id"]].append(event)
    for timeline in by_agent.values():
        timeline.sort(key=lambda event: (parse_time(event["time"]), event["event_id"]))
    return by_agent


def _seconds_by_state(events: list[Event], low: float, high: float, end: float) -> dict[str, float]:
    """Seconds each state holds in [low, high), over all agents: a segment runs from one state event of
    an agent to its next (the last one to ``end``, where the stream stops)."""
    seconds: dict[str, float] = defaultdict(float)
    for timeline in _agent_events(events).values():
        times = [parse_time(event["time"]) for event in timeline] + [end]
        for event, begin, until in zip(timeline, times, times[1:]):
            seconds[event["state"]] += max(0.0, min(until, high) - max(begin, low))
    return seconds


def _states_at(events: list[Event], moments: list[float]) -> list[Counter[str]]:
    """How many agents are in each state (aux split by reason as ``aux:reason``) at each moment."""
    counts: list[Counter[str]] = [Counter() for _ in moments]
    for timeline in _agent_events(events).values():
        times = [parse_time(event["time"]) for event in timeline]
        for index, moment in enumerate(moments):
            latest = [event for event, at in zip(timeline, times) if at <= moment]
            if latest:
                state = latest[-1]["state"]
                counts[index][state] += 1
                if state == "aux":
                    counts[index][f"aux:{latest[-1]['reason']}"] += 1
    return counts


def test_the_agent_layer_leaves_the_contact_events_as_they_are(stream: list[Event], layered: list[Event]) -> None:
    """The agent model always runs; the flag only says whether its events are emitted."""
    kinds = Counter(event["type"] for event in layered)
    assert kinds["agent.state_changed"] > 10_000 and kinds["contact.missed"] > 50
    own = [e for e in layered if e["type"] not in AGENT_LAYER_CONTACT_TYPES and e["type"] not in AGENT_TYPES]
    assert own == stream


def test_agent_layer_events_satisfy_the_contract_and_go_to_their_topics(layered: list[Event]) -> None:
    base = {"event_id", "type", "time", "agent_id", "state"}
    fields = {
        "available": [base, base | {"agent_name", "queues", "channel"}],
        "on_contact": [base | {"contact_id", "queue"}],
        "after_contact_work": [base],
        "aux": [base | {"reason"}],
        "logged_out": [base],
    }
    checked: Counter[str] = Counter()
    for event in layered:
        if event["type"] in AGENT_TYPES:
            assert topic_of(event) == topics.AGENTS
            assert record_key(event) == event["agent_id"].encode()
            (decoded,) = decode_record(orjson.dumps(event), topics.AGENTS).items
            assert isinstance(decoded, AgentEvent) and decoded.state == event["state"]
            assert set(event) in fields[event["state"]]
        elif event["type"] in AGENT_LAYER_CONTACT_TYPES:
            topic = topics.topic_for_channel(event["channel"])
            assert topic_of(event) == topic
            (decoded,) = decode_record(orjson.dumps(event), topic).items
            assert isinstance(decoded, ContactEvent) and decoded.agent_id == event["agent_id"]
        else:
            continue
        checked[event["type"]] += 1
    assert set(checked) == {"agent.state_changed", *AGENT_LAYER_CONTACT_TYPES}


def test_agent_layer_ids_are_unique_and_sort_in_the_order_of_events(layered: list[Event]) -> None:
    """Two state events of an agent can share a millisecond: the contract orders them by event id."""
    ids = [e["event_id"] for e in layered if e["type"] in AGENT_TYPES or e["type"] in AGENT_LAYER_CONTACT_TYPES]
    assert len(set(ids)) == len(ids) == len({e["event_id"] for e in layered} & set(ids))
    assert ids == sorted(ids)


@pytest.mark.parametrize("fixture", ["layered", "small_day"])
def test_each_agents_states_follow_the_allowed_transitions(fixture: str, request: pytest.FixtureRequest) -> None:
    events: list[Event] = request.getfixturevalue(fixture)
    in_stream_order: dict[str, list[str]] = defaultdict(list)
    for event in events:
        if event["type"] == "agent.state_changed":
            in_stream_order[event["agent_id"]].append(event["event_id"])
    for agent_id, timeline in _agent_events(events).items():
        assert [event["event_id"] for event in timeline] == in_stream_order[agent_id]
        first = timeline[0]
        assert first["state"] == "available" and {"agent_name", "queues", "channel"} <= first.keys(), agent_id
        states = ["logged_out"] + [event["state"] for event in timeline]
        wrong = [pair for pair in zip(states, states[1:]) if pair not in ALLOWED]
        assert not wrong, (agent_id, wrong)
        for event in timeline[1:]:
            assert ("queues" in event) == (event["state"] == "available" and "agent_name" in event)


def test_agents_take_contacts_only_when_available_and_say_so_at_once(layered: list[Event]) -> None:
    """contact.answered finds its agent available and the agent on_contact with it at the same time;
    contact.ended puts the agent in after-contact work, and only its wrap-up ends that."""
    state: dict[str, str] = {}
    serves: dict[str, tuple[str, set[str]]] = {}
    expected: dict[str, tuple[str, str, dict[str, Any]]] = {}  # agent -> (time, state, fields) its next event must have
    answers = 0
    for event in layered:
        kind = event["type"]
        if kind == "agent.state_changed":
            agent = event["agent_id"]
            if "queues" in event:
                serves[agent] = (event["channel"], set(event["queues"]))
            if agent in expected:
                moment, wanted, extra = expected.pop(agent)
                assert (event["time"], event["state"]) == (moment, wanted), event
                assert {name: event.get(name) for name in extra} == extra, event
            else:
                assert event["state"] not in ("on_contact", "after_contact_work"), event
            state[agent] = event["state"]
        elif kind == "contact.answered":
            agent = event["agent_id"]
            assert state[agent] == "available", event
            channel, queues = serves[agent]
            assert event["channel"] == channel and event["queue"] in queues, event
            expected[agent] = (event["time"], "on_contact", {"contact_id": event["contact_id"], "queue": event["queue"]})
            answers += 1
        elif kind == "contact.ended":
            assert state[event["agent_id"]] == "on_contact", event
            expected[event["agent_id"]] = (event["time"], "after_contact_work", {})
        elif kind == "contact.wrapup_ended":
            assert state[event["agent_id"]] == "after_contact_work", event
            assert event["agent_id"] not in expected
    assert answers > 5_000


def test_an_offer_now_and_then_rings_unanswered_and_goes_to_another_agent(layered: list[Event]) -> None:
    by_contact: dict[str, list[Event]] = defaultdict(list)
    state: dict[str, str] = {}
    for event in layered:
        if event["type"] == "agent.state_changed":
            state[event["agent_id"]] = event["state"]
        elif event["type"] != "survey.submitted":
            if event["type"] == "contact.ringing":
                assert state[event["agent_id"]] == "available", event
            by_contact[event["contact_id"]].append(event)
    missed = 0
    for contact_id, events in by_contact.items():
        kinds = [event["type"] for event in events]
        rang = [event for event in events if event["type"] == "contact.ringing"]
        misses = [event for event in events if event["type"] == "contact.missed"]
        assert [e["agent_id"] for e in rang[: len(misses)]] == [e["agent_id"] for e in misses], contact_id
        if len(rang) > len(misses):  # the stream stopped while it rang
            assert len(rang) == len(misses) + 1 and parse_time(rang[-1]["time"]) >= START + HOURS * 3600 - 20
        for ring, miss in zip(rang, misses):
            assert parse_time(miss["time"]) - parse_time(ring["time"]) == pytest.approx(20.0, abs=0.002)
            assert kinds.index("contact.offered") < events.index(ring) < events.index(miss)
        answered = [event["agent_id"] for event in events if event["type"] == "contact.answered"]
        assert not set(answered) & {event["agent_id"] for event in misses}, contact_id
        if misses:  # nothing ends a contact while it rings
            assert not {"contact.answered", "contact.abandoned"} & set(kinds[: kinds.index("contact.missed")])
        missed += len(misses)
    assert 0.005 <= missed / len(_of_type(layered, "contact.offered")) <= 0.05


def test_some_agents_serve_a_second_queue_of_their_channel(layered: list[Event]) -> None:
    profiles = {(queue.name, queue.channel) for queue in DEFAULT_QUEUES}
    logins = [e for e in layered if e["type"] == "agent.state_changed" and "queues" in e]
    for login in logins:
        home = re.fullmatch(rf"(\w+)-{login['channel']}-a\d{{2,}}", login["agent_id"])
        assert home and login["queues"][0] == home.group(1), login
        assert len(set(login["queues"])) == len(login["queues"]) <= 2
        assert all((queue, login["channel"]) in profiles for queue in login["queues"]), login
    assert 0.1 <= sum(len(login["queues"]) == 2 for login in logins) / len(logins) <= 0.3


def test_at_any_time_a_few_agents_are_in_aux_for_a_reason(layered: list[Event]) -> None:
    aux = [e for e in layered if e["type"] == "agent.state_changed" and e["state"] == "aux"]
    assert {event["reason"] for event in aux} == {"break", "lunch", "meeting", "training"}
    moments = [START + 2 * 3600 + minute * 60 for minute in range((HOURS - 2) * 60)]
    for moment, counts in zip(moments, _states_at(layered, moments)):
        staffed = sum(counts[state] for state in STAFFED)
        assert 3 <= counts["aux"] <= 0.35 * staffed, (moment, counts)


def test_occupancy_and_aux_share_over_an_hour_are_plausible(layered: list[Event]) -> None:
    low = START + 2 * 3600
    seconds = _seconds_by_state(layered, low, low + 3600, START + HOURS * 3600)
    staffed = sum(seconds[state] for state in STAFFED)
    occupancy = (seconds["on_contact"] + seconds["after_contact_work"]) / (staffed - seconds["aux"])
    assert 0.5 <= occupancy <= 0.95
    assert 0.05 <= seconds["aux"] / staffed <= 0.3
    seats = sum(queue.agents for queue in DEFAULT_QUEUES)
    assert seats <= staffed / 3600 <= seats * 1.1


def _spells(events: list[Event]) -> dict[str, list[tuple[float, float | None]]]:
    """Each agent's logged-in spells: (login, logout or None when the stream ends first)."""
    spells: dict[str, list[tuple[float, float | None]]] = {}
    for agent_id, timeline in _agent_events(events).items():
        own: list[tuple[float, float | None]] = []
        for event in timeline:
            if "queues" in event:
                own.append((parse_time(event["time"]), None))
            elif event["state"] == "logged_out":
                own[-1] = (own[-1][0], parse_time(event["time"]))
        spells[agent_id] = own
    return spells


def test_agents_work_8_hour_shifts_at_the_same_time_every_day(small_day: list[Event]) -> None:
    """A shift lasts 8 hours, longer only by the contact the agent is finishing; a person comes back 24 hours
    after the start of their last shift; everyone on duty logs in when the stream starts."""
    end = START + DAY_HOURS * 3600
    people = sum(3 * queue.agents for queue in SMALL_QUEUES)
    spells = _spells(small_day)
    assert len(spells) == people
    for agent_id, own in spells.items():
        for (login, logout), later in zip(own, own[1:]):
            if login > START:
                assert later[0] - login == pytest.approx(24 * 3600, abs=0.002), agent_id
            else:  # on duty at the start, their shift had begun before it
                assert 16 * 3600 <= later[0] - login <= 24 * 3600, agent_id
        for login, logout in own:
            if logout is None:
                assert login + 8 * 3600 > end - 90 * 60, agent_id
            elif login > START:
                assert 8 * 3600 - 0.002 <= logout - login <= 8 * 3600 + 90 * 60, agent_id
            else:
                assert logout - login <= 8 * 3600 + 90 * 60, agent_id
    at_start = sum(login == START for own in spells.values() for login, _ in own)
    assert at_start == sum(queue.agents for queue in SMALL_QUEUES)


def test_shift_changes_are_staggered_and_every_seat_stays_staffed(small_day: list[Event]) -> None:
    logins = Counter(
        (event["agent_id"].rsplit("-", 1)[0], int((parse_time(event["time"]) - START) // 60))
        for event in small_day
        if event["type"] == "agent.state_changed" and "queues" in event and parse_time(event["time"]) > START
    )
    assert logins and max(logins.values()) <= 2
    moments = [START + minute * 60 for minute in range(DAY_HOURS * 60)]
    for queue in SMALL_QUEUES:
        own = [e for e in small_day if e["type"] == "agent.state_changed" and e["agent_id"].startswith(f"{queue.name}-")]
        for moment, counts in zip(moments, _states_at(own, moments)):
            staffed = sum(counts[state] for state in STAFFED)
            assert queue.agents <= staffed <= queue.agents + 3, (queue.name, moment, counts)


def test_a_whole_shift_holds_two_breaks_a_lunch_and_sometimes_a_meeting_or_training(small_day: list[Event]) -> None:
    whole = 0
    for agent_id, timeline in _agent_events(small_day).items():
        for login, logout in _spells(small_day)[agent_id]:
            if login == START or logout is None:
                continue
            whole += 1
            shift = [e for e in timeline if login <= parse_time(e["time"]) <= logout]
            reasons = Counter(event["reason"] for event in shift if event["state"] == "aux")
            assert reasons["break"] == 2 and reasons["lunch"] == 1, (agent_id, reasons)
            assert reasons["meeting"] + reasons["training"] <= 1, (agent_id, reasons)
            aux_s = _seconds_by_state(shift, login, logout, logout)["aux"]
            assert 60 * 60 - 0.01 <= aux_s <= 120 * 60 + 0.01, (agent_id, aux_s)
    assert whole > 50


# The CX layer: tickets, accounts, chat messages and survey comments.

CX_HOURS = 6
STREAM_END_CX = START + CX_HOURS * 3600
CX_TYPES = {
    "ticket.created", "ticket.first_response", "ticket.resolved", "ticket.reopened",
    "customer.joined", "customer.churned", "customer.purchase", "chat.message",
}  # fmt: skip


@pytest.fixture(scope="module")
def cx_stream() -> list[Event]:
    return list(generate(START, CX_HOURS * 3600, seed=7, cx=True))


@pytest.fixture(scope="module")
def vader() -> Callable[[str], float]:
    """The scorer the sentiment consumer uses: an independent judge of the texts' tone."""
    analyzer = pytest.importorskip("vaderSentiment.vaderSentiment").SentimentIntensityAnalyzer()
    return lambda text: float(analyzer.polarity_scores(text)["compound"])


def _tickets(stream: list[Event]) -> dict[str, list[Event]]:
    by_ticket: dict[str, list[Event]] = defaultdict(list)
    for event in stream:
        if event["type"].startswith("ticket."):
            by_ticket[event["ticket_id"]].append(event)
    return by_ticket


def test_the_cx_layer_is_off_unless_asked_for(stream: list[Event]) -> None:
    assert {event["type"] for event in stream} <= {
        "contact.offered", "contact.answered", "contact.abandoned", "contact.ended", "contact.wrapup_ended",
        "survey.submitted",
    }  # fmt: skip
    assert not any("comment" in event for event in stream)


def test_cx_events_carry_exactly_the_fields_of_the_contract(cx_stream: list[Event]) -> None:
    ticket = {"event_id", "type", "time", "ticket_id"}
    account = {"event_id", "type", "time", "customer_id"}
    message = {"event_id", "type", "time", "contact_id", "customer_id", "queue", "channel", "sender", "text"}
    fields = {
        "ticket.created": ticket | {"queue", "channel", "category", "complaint"},
        "ticket.first_response": ticket, "ticket.resolved": ticket, "ticket.reopened": ticket,
        "customer.joined": account, "customer.churned": account, "customer.purchase": account | {"amount", "currency"},
        "chat.message": message,
    }  # fmt: skip
    seen = Counter(event["type"] for event in cx_stream)
    assert all(seen[kind] for kind in CX_TYPES), seen
    for event in cx_stream:
        if event["type"] in fields:
            expected = fields[event["type"]]
            assert expected - {"customer_id"} <= event.keys() <= expected | {"customer_id"}, event
            assert isinstance(event["event_id"], str) and event["event_id"]
            parse_time(event["time"])
        if event["type"] == "ticket.created":
            assert isinstance(event["complaint"], bool)
        if event["type"] == "customer.purchase":
            assert event["amount"] >= 0 and event["currency"] == "EUR"
        if event["type"] == "chat.message":
            assert event["sender"] in ("customer", "agent") and 0 < len(event["text"]) <= 4000
        if event["type"] == "survey.submitted" and "comment" in event:
            assert 0 < len(event["comment"]) <= 4000


def test_with_the_cx_layer_the_contacts_are_the_same_a_tenth_of_their_customers_account_holders(
    stream: list[Event], cx_stream: list[Event]
) -> None:
    def without_customer(event: Event) -> Event:
        return {name: value for name, value in event.items() if name not in ("customer_id", "comment")}

    own = [event for event in cx_stream if event["type"] not in CX_TYPES]
    assert [without_customer(event) for event in own] == [without_customer(event) for event in stream]
    joined = {event["customer_id"] for event in cx_stream if event["type"] == "customer.joined"}
    known = [event["customer_id"] for event in own if event["type"] == "contact.offered" and event["customer_id"]]
    holders = [customer for customer in known if customer in joined]
    guests = [customer for customer in known if customer not in joined]
    assert all(re.fullmatch(r"guest-\d{6}", customer) for customer in guests)
    # fresh callers: 10% holders; repeats (15% of contacts) call as who they are
    assert 0.07 <= len(holders) / len(known) <= 0.13
    assert len(set(holders)) > 0.8 * len(holders)


def test_the_cx_layer_replays_for_a_seed_and_differs_for_another() -> None:
    first = list(generate(START, 1800, seed=11, cx=True))
    assert first == list(generate(START, 1800, seed=11, cx=True))
    assert first != list(generate(START, 1800, seed=12, cx=True))


def test_history_before_the_start_comes_first_then_time_never_goes_back(cx_stream: list[Event]) -> None:
    times = [parse_time(event["time"]) for event in cx_stream]
    opening = next(index for index, moment in enumerate(times) if moment >= START)
    assert opening > 10_000
    assert times[:opening] == sorted(times[:opening])
    assert all(b >= a for a, b in zip(times[opening:], times[opening + 1 :]))
    assert {event["type"] for event in cx_stream[:opening]} <= {
        "customer.joined", "ticket.created", "ticket.first_response", "ticket.resolved", "ticket.reopened",
    }  # fmt: skip
    ids = [event["event_id"] for event in cx_stream]
    assert len(ids) == len(set(ids))


def test_the_base_joined_before_the_start_and_grows_churns_and_buys(cx_stream: list[Event]) -> None:
    joined: dict[str, float] = {}
    churned: dict[str, float] = {}
    purchases: list[float] = []
    for event in cx_stream:
        customer, moment = event.get("customer_id"), parse_time(event["time"])
        if event["type"] == "customer.joined":
            assert customer not in joined
            joined[customer] = moment
        elif event["type"] == "customer.churned":
            assert customer in joined and customer not in churned and joined[customer] < moment
            churned[customer] = moment
        elif event["type"] == "customer.purchase":
            assert customer in joined and customer not in churned
            purchases.append(event["amount"])
    base = [customer for customer, moment in joined.items() if moment < START]
    assert len(base) == 20_000
    assert all(START - 3 * 365 * 86400 <= moment <= START - 86400 for moment in joined.values() if moment < START)
    assert len(joined) > len(base) and churned
    # 4 purchases a year per customer: 20,000 x 4 x 6 / 8,760 = 55 expected in 6 hours (sd 7.4).
    assert 30 <= len(purchases) <= 80
    assert 80 <= statistics.mean(purchases) <= 120


def test_churn_rises_after_an_abandoned_contact_or_a_negative_chat() -> None:
    day = list(generate(START, 24 * 3600, seed=5, cx=True))
    active = {e["customer_id"] for e in day if e["type"] == "customer.joined" and parse_time(e["time"]) < START}
    bad: dict[str, float] = {}
    answered_wait = {e["contact_id"]: e["wait_s"] for e in day if e["type"] == "contact.answered"}
    for event in day:
        customer = event.get("customer_id")
        if customer not in active or customer in bad:
            continue
        if event["type"] == "contact.abandoned" or (
            event["type"] == "contact.ended" and event["channel"] == "chat" and answered_wait[event["contact_id"]] >= 120
        ):
            bad[customer] = parse_time(event["time"])
    churned_after_bad = churned_other = 0
    for event in day:
        if event["type"] == "customer.churned":
            customer = event["customer_id"]
            if customer in bad and parse_time(event["time"]) > bad[customer]:
                churned_after_bad += 1
            elif customer not in bad:
                churned_other += 1
    # Without the effect, about 148 x 0.08% = 0.1 churns would follow a bad contact in the day (seed 5: 4).
    assert len(bad) > 100
    after_bad = churned_after_bad / len(bad)
    otherwise = churned_other / (len(active) - len(bad))
    assert after_bad > 5 * otherwise, (churned_after_bad, len(bad), churned_other)


def test_tickets_come_by_email_web_form_and_social_in_categories_with_some_complaints(cx_stream: list[Event]) -> None:
    created = [event for event in cx_stream if event["type"] == "ticket.created"]
    channels = Counter(event["channel"] for event in created)
    categories = Counter(event["category"] for event in created)
    assert set(channels) == {"email", "web_form", "social"}
    assert channels["email"] > channels["web_form"] > channels["social"]
    assert set(categories) == {"billing", "technical", "account", "delivery"}
    assert {event["queue"] for event in created} <= {profile.name for profile in DEFAULT_QUEUES}
    complaints = sum(event["complaint"] for event in created)
    # 5% of ~3,500 tickets: binomial sd ~13, so 3% to 7% is far outside chance.
    assert 0.03 <= complaints / len(created) <= 0.07
    unknown = sum("customer_id" not in event for event in created)
    assert 0.05 <= unknown / len(created) <= 0.15


def test_tickets_are_answered_within_hours_resolved_within_a_day_or_two_and_some_reopen(cx_stream: list[Event]) -> None:
    first_response, resolution, reopened, whole = [], [], 0, 0
    for steps in _tickets(cx_stream).values():
        kinds = [event["type"] for event in steps]
        if kinds[0] != "ticket.created":
            pytest.fail(f"a ticket begins with {kinds[0]}")
        assert kinds.count("ticket.created") == 1 and kinds.count("ticket.first_response") <= 1
        assert all(event.get("customer_id") == steps[0].get("customer_id") for event in steps)
        created = parse_time(steps[0]["time"])
        times = [parse_time(event["time"]) for event in steps]
        assert times == sorted(times)
        if "ticket.first_response" in kinds:
            first_response.append(times[kinds.index("ticket.first_response")] - created)
        if "ticket.resolved" in kinds:
            whole += 1
            resolution.append(times[kinds.index("ticket.resolved")] - created)
            assert kinds.index("ticket.first_response") < kinds.index("ticket.resolved")
        if "ticket.reopened" in kinds:
            reopened += 1
            assert kinds[kinds.index("ticket.reopened") - 1] == "ticket.resolved"
    assert 0.5 * 3600 <= statistics.median(first_response) <= 4 * 3600
    assert 8 * 3600 <= statistics.median(resolution) <= 48 * 3600
    # 8% reopen, up to two days after their resolution: the stream's end cuts off a good part of them.
    assert 0.015 <= reopened / whole <= 0.12


def test_a_backlog_of_open_tickets_exists_at_the_start(cx_stream: list[Event]) -> None:
    open_at_start = 0
    for steps in _tickets(cx_stream).values():
        before = [event["type"] for event in steps if parse_time(event["time"]) < START]
        if before and before[-1] in ("ticket.created", "ticket.first_response", "ticket.reopened"):
            open_at_start += 1
    assert open_at_start > 100


def test_chats_carry_messages_whose_tone_follows_the_wait(
    cx_stream: list[Event], vader: Callable[[str], float]
) -> None:
    contacts = {e["contact_id"]: e for e in cx_stream if e["type"] in ("contact.answered", "contact.abandoned")}
    ended = {e["contact_id"]: parse_time(e["time"]) for e in cx_stream if e["type"] == "contact.ended"}
    messages: dict[str, list[Event]] = defaultdict(list)
    for event in cx_stream:
        if event["type"] == "chat.message":
            messages[event["contact_id"]].append(event)
    tones: dict[str, list[float]] = defaultdict(list)
    for contact_id, said in messages.items():
        contact = contacts[contact_id]
        assert contact["channel"] == "chat"
        assert all(m["customer_id"] == contact["customer_id"] and m["queue"] == contact["queue"] for m in said)
        if contact["type"] == "contact.abandoned":
            assert [m["sender"] for m in said] == ["customer"] and vader(said[0]["text"]) <= -0.05
            continue
        senders = [m["sender"] for m in said]
        if ended.get(contact_id, math.inf) < STREAM_END_CX - 60:
            assert senders == ["customer", "agent", "customer"]
        else:
            assert senders == ["customer", "agent", "customer"][: len(senders)]
            continue
        assert parse_time(said[-1]["time"]) <= max(ended[contact_id], parse_time(contact["time"]) + 21) + 0.001
        wait = contact["wait_s"]
        band = "short" if wait < 30 else "long" if wait >= 120 else "middle"
        tones[band].append(vader(said[-1]["text"]))
        if band == "long":
            assert vader(said[0]["text"]) <= -0.05
        else:
            assert abs(vader(said[0]["text"])) < 0.05
    assert all(score >= 0.05 for score in tones["short"]) and tones["short"]
    assert all(score <= -0.05 for score in tones["long"]) and tones["long"]
    assert all(abs(score) < 0.05 for score in tones["middle"])
    answered_chats = [c for c in contacts.values() if c["channel"] == "chat" and c["type"] == "contact.answered"]
    assert len(messages) >= len(answered_chats)


def test_some_survey_comments_in_the_tone_of_their_scores(cx_stream: list[Event], vader: Callable[[str], float]) -> None:
    surveys = [event for event in cx_stream if event["type"] == "survey.submitted"]
    commented = [survey for survey in surveys if "comment" in survey]
    assert 0.25 <= len(commented) / len(surveys) <= 0.55
    for survey in commented:
        if "csat" in survey:
            score = vader(survey["comment"])
            if survey["csat"] >= 4:
                assert score >= 0.05
            elif survey["csat"] <= 2:
                assert score <= -0.05
            else:
                assert abs(score) < 0.05


def test_cx_events_satisfy_their_schemas_and_go_to_their_topics(cx_stream: list[Event]) -> None:
    wanted = {"ticket": topics.TICKETS, "customer": topics.ACCOUNTS, "chat": topics.CHATS}
    seen: Counter[str] = Counter()
    for event in cx_stream:
        family = event["type"].split(".")[0]
        if family in wanted:
            assert topic_of(event) == wanted[family]
            validate(event, wanted[family])
            assert record_key(event) == (event.get("customer_id") or event.get("ticket_id") or event["contact_id"]).encode()
            seen[family] += 1
        elif "comment" in event:
            validate(event, topics.SURVEYS)
            seen["comment"] += 1
    assert seen["ticket"] > 1_000 and seen["customer"] > 10_000 and seen["chat"] > 1_000 and seen["comment"] > 100
