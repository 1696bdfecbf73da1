"""The demo simulator must produce traffic the worker accepts and whose KPIs look like a real center."""

from __future__ import annotations

import itertools
import re
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timezone
from typing import Any

import pytest

from adapters.simulator import DEFAULT_QUEUES, DIURNAL_LOAD, QueueProfile, generate, queue_profiles
from bench import api as api_bench
from service.cli import SIMULATE_DEFAULTS
from streams import topics
from streams.contract import parse_time, validate

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
        agent = event.get("agent_id")
        if event["type"] == "contact.answered":
            assert agent not in busy, agent
            busy[agent] = event["contact_id"]
        elif event["type"] == "contact.wrapup_ended":
            assert busy.pop(agent) == event["contact_id"]


def test_agent_ids_name_their_queue_and_channel(stream: list[Event]) -> None:
    for event in _of_type(stream, "contact.answered"):
        assert re.fullmatch(rf"{event['queue']}-{event['channel']}-a\d{{2,}}", event["agent_id"])


def test_same_seed_replays_and_another_seed_differs() -> None:
    first = list(generate(START, 3600, seed=11))
    assert first == list(generate(START, 3600, seed=11))
    assert first != list(generate(START, 3600, seed=12))


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
    unstaffed = QueueProfile("after-hours", "voice", calls_per_hour=100, agents=0, mean_talk_s=60, mean_patience_s=30)
    kinds = Counter(event["type"] for event in generate(START, 3600, seed=4, queues=[unstaffed]))
    assert kinds["contact.answered"] == 0
    assert kinds["contact.abandoned"] >= kinds["contact.offered"] - 5 > 0
