"""Tests of the oracle itself (tests/reference.py) against numbers worked out by hand.

The oracle checks the production code, so it must be checked against something independent of
both: small scenarios whose expected values are derived in the comments from
docs/kpi-definitions.md. Times are given as seconds after T0 = 2026-03-01T00:00:00Z.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.reference import QueueRules, compute, parse_time

T0_DT = datetime(2026, 3, 1, tzinfo=timezone.utc)
T0 = T0_DT.timestamp()
DAY = 86_400
ALL_KEYS = {
    "offered", "answered", "abandoned", "short_abandoned", "handled", "surveys", "abandon_rate",
    "asa_s", "avg_abandon_wait_s", "max_wait_s", "wait_p90_s", "service_level",
    "service_level_numerator", "service_level_denominator", "aht_s", "csat", "csat_mean", "nps",
    "ces_mean", "fcr_survey", "repeat_contact_rate", "fcr_repeat", "messages_scored", "sentiment_mean",
    "sentiment_negative_share",
}  # fmt: skip

_ids = itertools.count(1)


def at(seconds: float) -> str:
    """RFC 3339 time `seconds` after T0 (timedelta keeps microseconds exact)."""
    return (T0_DT + timedelta(seconds=seconds)).isoformat()


def ev(kind: str, contact: str, seconds: float, queue: str = "billing", channel: str = "voice", **extra: Any) -> dict:
    """A contact.* event; the customer defaults to None so repeat detection stays out of the way."""
    event = {
        "event_id": f"e{next(_ids)}",
        "type": f"contact.{kind}",
        "time": at(seconds),
        "contact_id": contact,
        "customer_id": None,
        "queue": queue,
        "channel": channel,
    }
    event.update(extra)
    return event


def survey(contact: str, seconds: float, **extra: Any) -> dict:
    """A survey.submitted event; queue/channel only when passed, as real surveys may lack them."""
    return {"event_id": f"e{next(_ids)}", "type": "survey.submitted", "time": at(seconds), "contact_id": contact, **extra}


def run(events: list[dict], start: float = 0, end: float = DAY, rules: dict[str, QueueRules] | None = None) -> dict:
    """compute() over [T0 + start, T0 + end) with per-queue rules (defaults for unlisted queues)."""
    rules = rules or {}
    return compute(events, T0 + start, T0 + end, lambda queue: rules.get(queue, QueueRules()))


BV = ("billing", "voice")
ALL = ("*", "*")


# --- parse_time ---------------------------------------------------------------------------------


def test_parse_time_honours_offsets_and_fractions() -> None:
    expected = datetime(2026, 3, 1, 10, 0, 5, tzinfo=timezone.utc).timestamp()
    assert parse_time("2026-03-01T10:00:05+00:00") == expected
    assert parse_time("2026-03-01T11:00:05+01:00") == expected
    assert parse_time("2026-03-01T10:00:05Z") == expected
    assert parse_time("2026-03-01t10:00:05z") == expected
    assert parse_time("2026-03-01T10:00:05.250+00:00") == expected + 0.25


def test_parse_time_rejects_a_time_without_offset() -> None:
    with pytest.raises(ValueError):
        parse_time("2026-03-01T10:00:05")


# --- counts and abandonment ---------------------------------------------------------------------


def test_abandon_rate() -> None:
    # 5 offered; answered c1..c3; c4 abandons after 40 s (counts), c5 after 2 s (short, < 5).
    # abandon_rate = abandoned / (answered + abandoned) = 1 / (3 + 1) = 0.25.
    events = [ev("offered", f"c{i}", 0) for i in range(1, 6)]
    events += [ev("answered", f"c{i}", 10 * i, wait_s=10.0 * i) for i in range(1, 4)]
    events += [ev("abandoned", "c4", 40, wait_s=40.0), ev("abandoned", "c5", 2, wait_s=2.0)]
    row = run(events)[BV]
    assert (row["offered"], row["answered"], row["abandoned"], row["short_abandoned"]) == (5, 3, 1, 1)
    assert row["abandon_rate"] == 0.25


def test_short_abandon_threshold_is_strict() -> None:
    # Threshold 5: 4.9 < 5 is short; 5.0 is not; an unknown wait (no wait_s, no offered) is not.
    # abandoned = 2, short = 1; the mean abandon wait uses only known waits: 5.0.
    events = [
        ev("abandoned", "c1", 10, wait_s=4.9),
        ev("abandoned", "c2", 10, wait_s=5.0),
        ev("abandoned", "c3", 10),
    ]
    row = run(events)[BV]
    assert (row["abandoned"], row["short_abandoned"]) == (2, 1)
    assert row["avg_abandon_wait_s"] == 5.0
    # Threshold 0 turns the exclusion off: 3 abandoned, mean of (4.9, 5.0) = 4.95.
    row = run(events, rules={"billing": QueueRules(short_abandon_seconds=0)})[BV]
    assert (row["abandoned"], row["short_abandoned"]) == (3, 0)
    assert row["avg_abandon_wait_s"] == pytest.approx(4.95)


def test_short_abandon_uses_a_derived_wait() -> None:
    # Offered at 100, abandoned at 103 without wait_s: wait 3 < 5, short.
    row = run([ev("offered", "c1", 100), ev("abandoned", "c1", 103)])[BV]
    assert (row["abandoned"], row["short_abandoned"], row["abandon_rate"]) == (0, 1, None)


# --- waits --------------------------------------------------------------------------------------


def test_asa_with_a_derived_wait() -> None:
    # c1: offered at 100, answered at 130 without wait_s -> wait 30. c2: wait_s 10.
    # asa = (30 + 10) / 2 = 20; max = 30.
    events = [ev("offered", "c1", 100), ev("answered", "c1", 130), ev("answered", "c2", 140, wait_s=10.0)]
    row = run(events)[BV]
    assert row["asa_s"] == 20.0
    assert row["max_wait_s"] == 30.0


def test_answered_arriving_before_its_offered() -> None:
    # Same contact as above, input reversed: the wait is still 130 - 100 = 30.
    row = run([ev("answered", "c1", 130), ev("offered", "c1", 100)])[BV]
    assert (row["offered"], row["answered"], row["asa_s"]) == (1, 1, 30.0)


def test_derived_wait_rounds_to_the_millisecond_and_is_never_negative() -> None:
    # c1: 12.3455 s -> 12345.5 ms -> 12.346 s (half up). c2: answered 1 s *before* offered -> 0.
    # asa = (12.346 + 0) / 2 = 6.173.
    events = [
        ev("offered", "c1", 0),
        ev("answered", "c1", 12.3455),
        ev("offered", "c2", 50),
        ev("answered", "c2", 49),
    ]
    row = run(events)[BV]
    assert row["max_wait_s"] == 12.346
    assert row["asa_s"] == pytest.approx(6.173)


def test_wait_uses_an_offered_before_the_window() -> None:
    # Offered at -30 (outside), answered at 0 (inside): offered 0, answered 1, wait 30.
    row = run([ev("offered", "c1", -30), ev("answered", "c1", 0)])[BV]
    assert (row["offered"], row["answered"], row["asa_s"]) == (0, 1, 30.0)


def test_answer_with_unknown_wait_counts_but_has_no_wait() -> None:
    # Neither wait_s nor an offered event: answered 1, asa null, service level 0 / 1.
    row = run([ev("answered", "c1", 10)])[BV]
    assert (row["answered"], row["asa_s"], row["max_wait_s"], row["wait_p90_s"]) == (1, None, None, None)
    assert (row["service_level_numerator"], row["service_level_denominator"]) == (0, 1)


# --- service level ------------------------------------------------------------------------------

# T = 20. Answered waits 10, 20 (== T, met), 25, unknown; abandoned waits 15, 30, unknown;
# one short abandon (3 s) that is in no count but short_abandoned.
# answered = 4, abandoned = 3.
SL_EVENTS = [
    ev("answered", "a1", 10, wait_s=10.0),
    ev("answered", "a2", 20, wait_s=20.0),
    ev("answered", "a3", 25, wait_s=25.0),
    ev("answered", "a4", 30),
    ev("abandoned", "b1", 15, wait_s=15.0),
    ev("abandoned", "b2", 30, wait_s=30.0),
    ev("abandoned", "b3", 30),
    ev("abandoned", "b4", 3, wait_s=3.0),
]


@pytest.mark.parametrize(
    ("formula", "numerator", "denominator"),
    [
        # answered with wait <= 20: a1, a2 -> 2; answered + abandoned = 4 + 3 = 7.
        ("answered_plus_abandoned", 2, 7),
        # 2 over answered only = 4.
        ("answered", 2, 4),
        # 2 answered met + b1 (15 <= 20) = 3; denominator 7.
        ("abandons_within_count_as_met", 3, 7),
    ],
)
def test_service_level_formulas(formula: str, numerator: int, denominator: int) -> None:
    row = run(SL_EVENTS, rules={"billing": QueueRules(service_level_formula=formula)})[BV]
    assert (row["service_level_numerator"], row["service_level_denominator"]) == (numerator, denominator)
    assert row["service_level"] == pytest.approx(numerator / denominator)
    assert row["abandon_rate"] == pytest.approx(3 / 7)  # independent of the formula


def test_service_level_threshold_is_per_queue() -> None:
    # T = 30 instead of 20: a1, a2, a3 met -> 3 / 7.
    row = run(SL_EVENTS, rules={"billing": QueueRules(service_level_seconds=30)})[BV]
    assert (row["service_level_numerator"], row["service_level_denominator"]) == (3, 7)


def test_unknown_formula_is_an_error() -> None:
    with pytest.raises(ValueError):
        run(SL_EVENTS, rules={"billing": QueueRules(service_level_formula="nonsense")})


# --- p90 and max --------------------------------------------------------------------------------


def answered_with_waits(waits: list[float]) -> list[dict]:
    return [ev("answered", f"p{i}", 100, wait_s=w) for i, w in enumerate(waits)]


def test_p90_of_one_to_ten() -> None:
    # n = 10, rank ceil(9) = 9 -> the 9th smallest, 9.
    row = run(answered_with_waits([float(w) for w in range(10, 0, -1)]))[BV]
    assert (row["wait_p90_s"], row["max_wait_s"]) == (9.0, 10.0)


def test_p90_rounds_decimals_up_to_the_second() -> None:
    # 0.5, 1.5, ..., 9.5 round up to 1..10 -> rank 9 -> 9; max is the raw 9.5.
    row = run(answered_with_waits([w + 0.5 for w in range(10)]))[BV]
    assert (row["wait_p90_s"], row["max_wait_s"]) == (9.0, 9.5)


@pytest.mark.parametrize(
    ("wait", "binned"),
    [
        (0.0, 0.0),  # 0 stays 0
        (0.001, 1.0),
        (300.0, 300.0),  # last 1-s bin
        (300.2, 310.0),  # beyond 300: 10-s bins
        (350.0, 350.0),
        (355.0, 360.0),
        (1800.0, 1800.0),
        (1801.0, 1860.0),  # beyond 1,800: 60-s bins
        (7200.0, 7200.0),
        (7201.0, 7800.0),  # beyond 7,200: 600-s bins
    ],
)
def test_p90_bins(wait: float, binned: float) -> None:
    # A single wait: n = 1, rank 1 -> the wait's own bin.
    row = run(answered_with_waits([wait]))[BV]
    assert (row["wait_p90_s"], row["max_wait_s"]) == (binned, wait)


def test_p90_and_max_include_abandons_but_not_short_ones() -> None:
    # Answered 10..80 (8 waits) + abandoned 100 = 9 waits; rank ceil(8.1) = 9 -> 100.
    # Were the short abandon (1 s) included, n = 10, rank 9 would give 80.
    events = answered_with_waits([10.0 * i for i in range(1, 9)])
    events += [ev("abandoned", "x1", 100, wait_s=100.0), ev("abandoned", "x2", 100, wait_s=1.0)]
    row = run(events)[BV]
    assert (row["wait_p90_s"], row["max_wait_s"]) == (100.0, 100.0)
    assert row["asa_s"] == 45.0  # (10 + ... + 80) / 8 = 360 / 8


# --- handling -----------------------------------------------------------------------------------

# c1: answered 0, ended 100 (talk 100 derived), hold 20, wrapup 130 (acw 30 derived).
# c2: ended 200 with talk_s 50, no hold; wrapup 210 with acw_s 15.
# c3: ended 300, no talk_s and no answered (talk unknown), wrapup 310 (acw 10 derived).
AHT_EVENTS = [
    ev("answered", "c1", 0, wait_s=1.0),
    ev("ended", "c1", 100, hold_s=20.0),
    ev("wrapup_ended", "c1", 130),
    ev("ended", "c2", 200, talk_s=50.0),
    ev("wrapup_ended", "c2", 210, acw_s=15.0),
    ev("ended", "c3", 300),
    ev("wrapup_ended", "c3", 310),
]


def test_aht_with_derived_talk_and_acw() -> None:
    # (100 + 20 + 30) + (50 + 15) + (0 + 10) = 225 over 3 handled = 75.
    row = run(AHT_EVENTS)[BV]
    assert (row["handled"], row["aht_s"]) == (3, 75.0)


def test_aht_books_acw_at_the_wrapup_time() -> None:
    # [0, 120): c1's ended is inside, its wrapup (130) outside: (100 + 20) / 1 = 120.
    row = run(AHT_EVENTS, start=0, end=120)[BV]
    assert (row["handled"], row["aht_s"]) == (1, 120.0)
    # [120, 150): only c1's wrapup: no handled contact, so null despite 30 s of acw.
    row = run(AHT_EVENTS, start=120, end=150)[BV]
    assert (row["handled"], row["aht_s"]) == (0, None)


# --- surveys ------------------------------------------------------------------------------------


def test_survey_kpis() -> None:
    # csat 5, 4, 3, 1 -> 2 of 4 are 4-5 = 0.5; mean 13 / 4 = 3.25.
    # nps 10, 9, 8, 6, 0 -> 100 x (2 - 2) / 5 = 0.  ces 2, 5 -> 3.5.  resolved T, F -> 0.5.
    where = {"queue": "billing", "channel": "voice"}
    events = [
        survey("c1", 10, csat=5, nps=10, ces=2, resolved=True, **where),
        survey("c2", 10, csat=4, nps=9, ces=5, resolved=False, **where),
        survey("c3", 10, csat=3, nps=8, **where),
        survey("c4", 10, csat=1, nps=6, resolved=None, **where),
        survey("c5", 10, nps=0, **where),
    ]
    row = run(events)[BV]
    assert row["surveys"] == 5
    assert (row["csat"], row["csat_mean"], row["nps"], row["ces_mean"], row["fcr_survey"]) == (0.5, 3.25, 0.0, 3.5, 0.5)


def test_nps_promoters_only_partly() -> None:
    # 10, 10, 7 -> 100 x (2 - 0) / 3 = 66.67; no ces/resolved answers -> null.
    events = [survey(f"c{i}", 10, nps=n, queue="billing", channel="voice") for i, n in enumerate((10, 10, 7))]
    row = run(events)[BV]
    assert row["nps"] == pytest.approx(200 / 3)
    assert (row["csat"], row["ces_mean"], row["fcr_survey"]) == (None, None, None)


def test_survey_without_queue_takes_its_contacts() -> None:
    # c1 was offered in sales/chat before the window; its queue-less survey books there.
    # c9 is never seen: its survey books to unknown/unknown.
    events = [ev("offered", "c1", -100, queue="sales", channel="chat"), survey("c1", 50, csat=5), survey("c9", 60, csat=2)]
    result = run(events)
    assert (result["sales", "chat"]["surveys"], result["sales", "chat"]["csat"]) == (1, 1.0)
    assert (result["unknown", "unknown"]["surveys"], result["unknown", "unknown"]["csat"]) == (1, 0.0)
    assert result[ALL]["surveys"] == 2


def test_sentiment_kpis_count_scores_like_surveys_and_ignore_messages() -> None:
    # sales/chat: 0.6 positive, -0.4 negative, 0.0 neutral (one in the event's own queue, two from the
    # contact), the message itself nothing; c9 never seen: unknown. Mean (0.6 - 0.4 + 0) / 3 = 0.0667,
    # negative share 1/3.
    def sentiment(contact: str, seconds: float, score: float, label: str, **extra: Any) -> dict:
        return {"event_id": f"e{next(_ids)}", "type": "chat.sentiment", "time": at(seconds), "contact_id": contact,
                "message_event_id": "m", "score": score, "label": label, **extra}  # fmt: skip

    message = {"event_id": "m1", "type": "chat.message", "time": at(20), "contact_id": "c1", "sender": "customer", "text": "hi"}
    events = [
        ev("offered", "c1", 10, queue="sales", channel="chat"), message,
        sentiment("c1", 20, 0.6, "positive"), sentiment("c1", 30, -0.4, "negative", queue="sales", channel="chat"),
        sentiment("c1", 40, 0.0, "neutral"), sentiment("c9", 50, -0.9, "negative"),
    ]  # fmt: skip
    result = run(events)
    row = result["sales", "chat"]
    assert (row["messages_scored"], row["offered"]) == (3, 1)
    assert row["sentiment_mean"] == pytest.approx(0.2 / 3) and row["sentiment_negative_share"] == pytest.approx(1 / 3)
    assert (result["unknown", "unknown"]["messages_scored"], result["unknown", "unknown"]["sentiment_negative_share"]) == (1, 1.0)


# --- repeat contacts ----------------------------------------------------------------------------


def repeat_events() -> list[dict]:
    """u1: 0 and 6.9 days (repeat); u2: 0 and 7.1 days (not); an unknown customer at 6.95 days."""
    return [
        ev("offered", "c1", 0, customer_id="u1"),
        ev("offered", "c2", 6.9 * DAY, customer_id="u1"),
        ev("offered", "c3", 0, customer_id="u2"),
        ev("offered", "c4", 7.1 * DAY, customer_id="u2"),
        ev("offered", "c5", 6.95 * DAY),
    ]


def test_repeat_contacts() -> None:
    # Known-customer contacts c1..c4 = 4, repeats c2 = 1 -> 0.25; fcr_repeat 0.75. c5 is only offered.
    row = run(repeat_events(), end=8 * DAY)[BV]
    assert row["offered"] == 5
    assert (row["repeat_contact_rate"], row["fcr_repeat"]) == (0.25, 0.75)


def test_repeat_previous_contact_before_the_window_counts() -> None:
    # Window [1 day, 8 days): c2 (repeat of c1 at day 0) and c4 (not) -> 1 / 2.
    row = run(repeat_events(), start=DAY, end=8 * DAY)[BV]
    assert row["offered"] == 3
    assert (row["repeat_contact_rate"], row["fcr_repeat"]) == (0.5, 0.5)


def test_repeat_exactly_at_the_limit_and_per_later_queue() -> None:
    # u1: c1 sales day 0, c2 billing day 7 exactly (billing: 7 days, "at most") -> repeat.
    # u2: c3 billing day 0, c4 sales day 5 (sales: 3 days) -> not a repeat.
    # billing: c2 (repeat), c3 -> 0.5; sales: c1, c4 -> 0.0; all: 1 / 4.
    events = [
        ev("offered", "c1", 0, queue="sales", customer_id="u1"),
        ev("offered", "c2", 7 * DAY, customer_id="u1"),
        ev("offered", "c3", 0, customer_id="u2"),
        ev("offered", "c4", 5 * DAY, queue="sales", customer_id="u2"),
    ]
    result = run(events, end=8 * DAY, rules={"sales": QueueRules(repeat_contact_days=3)})
    assert result[BV]["repeat_contact_rate"] == 0.5
    assert result["sales", "voice"]["repeat_contact_rate"] == 0.0
    assert result[ALL]["repeat_contact_rate"] == 0.25


def test_repeat_tie_goes_to_the_smaller_contact_id() -> None:
    # Same customer, same time: "ca" < "cb", so cb (billing) is the repeat, ca (sales) is not.
    events = [
        ev("offered", "cb", 3600, customer_id="u1"),
        ev("offered", "ca", 3600, queue="sales", customer_id="u1"),
    ]
    result = run(events)
    assert result[BV]["repeat_contact_rate"] == 1.0
    assert result["sales", "voice"]["repeat_contact_rate"] == 0.0


# --- duplicates, empty windows, rows ------------------------------------------------------------


def test_duplicates_count_once_in_any_order() -> None:
    # offered + abandoned (30 s), each delivered twice and shuffled: offered 1, abandoned 1.
    offered, abandoned = ev("offered", "c1", 0), ev("abandoned", "c1", 30)
    events = [offered, abandoned, dict(offered), dict(abandoned)]
    random.Random(7).shuffle(events)
    row = run(events)[BV]
    assert (row["offered"], row["abandoned"], row["avg_abandon_wait_s"], row["abandon_rate"]) == (1, 1, 30.0, 1.0)


def test_empty_window_has_zero_counts_and_null_ratios() -> None:
    # Everything happens on day 0; the window is day 2.
    events = SL_EVENTS + AHT_EVENTS + repeat_events() + [survey("c1", 10, csat=5)]
    result = run(events, start=2 * DAY, end=3 * DAY)
    assert set(result) == {BV, ("billing", "*"), ("*", "voice"), ALL}
    for row in result.values():
        assert set(row) == ALL_KEYS
        counts = {k: v for k, v in row.items() if isinstance(v, int)}
        assert counts == dict.fromkeys(
            ["offered", "answered", "abandoned", "short_abandoned", "handled", "surveys",
             "service_level_numerator", "service_level_denominator", "messages_scored"], 0)  # fmt: skip
        assert all(v is None for k, v in row.items() if k not in counts)


def test_no_events_gives_only_the_grand_total() -> None:
    result = run([])
    assert list(result) == [ALL]
    assert result[ALL]["offered"] == 0 and result[ALL]["service_level"] is None


# --- roll-ups -----------------------------------------------------------------------------------


def test_rollups_add_each_queues_own_service_level() -> None:
    # billing (T 20, answered_plus_abandoned): voice waits 10, 30 -> 1/2; chat wait 30 -> 0/1.
    # sales (T 60, formula "answered"): voice answered 30 -> 1/1, abandoned 100 not in it.
    events = [
        ev("answered", "b1", 10, wait_s=10.0),
        ev("answered", "b2", 10, wait_s=30.0),
        ev("answered", "b3", 10, channel="chat", wait_s=30.0),
        ev("answered", "s1", 10, queue="sales", wait_s=30.0),
        ev("abandoned", "s2", 10, queue="sales", wait_s=100.0),
    ]
    result = run(events, rules={"sales": QueueRules(service_level_seconds=60, service_level_formula="answered")})

    def sl(key: tuple[str, str]) -> tuple[int, int]:
        return result[key]["service_level_numerator"], result[key]["service_level_denominator"]

    assert sl(BV) == (1, 2) and sl(("billing", "chat")) == (0, 1) and sl(("sales", "voice")) == (1, 1)
    assert sl(("billing", "*")) == (1, 3)
    assert sl(("sales", "*")) == (1, 1)
    assert sl(("*", "voice")) == (2, 3)  # 1/2 + 1/1
    assert sl(("*", "chat")) == (0, 1)
    assert sl(ALL) == (2, 4) and result[ALL]["service_level"] == 0.5

    total = result[ALL]
    assert (total["answered"], total["abandoned"], total["abandon_rate"]) == (4, 1, 0.2)  # 1 / (4 + 1)
    assert total["asa_s"] == 25.0  # (10 + 30 + 30 + 30) / 4
    # All 5 waits 10, 30, 30, 30, 100: rank ceil(4.5) = 5 -> 100. billing: 10, 30, 30 -> rank 3 -> 30.
    assert (total["wait_p90_s"], total["max_wait_s"]) == (100.0, 100.0)
    assert (result["billing", "*"]["wait_p90_s"], result["billing", "*"]["max_wait_s"]) == (30.0, 30.0)
    assert result["*", "voice"]["max_wait_s"] == 100.0
