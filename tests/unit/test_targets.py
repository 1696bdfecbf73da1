"""The targets file and the straight line from baseline to target: validation with the key named,
the most specific target winning, and on-track, met and gap on numbers worked out by hand."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from kpis.targets import Target, Targets, TargetsFile, elapsed, expected, judge, trend
from kpis.windows import Window
from service.settings import ConfigError, load_settings, load_targets

ROOT = Path(__file__).resolve().parents[2]

# 2026-01-01 to 2026-04-11 is 100 days (31 in January, 28 in February, 31 in March, then 10), so a
# day's share of the way is its day count over 100: 2026-02-20 is day 50, 2026-03-12 is day 70.
START, DUE = date(2026, 1, 1), date(2026, 4, 11)
DAY_50, DAY_70 = date(2026, 2, 20), date(2026, 3, 12)


def entry(kpi: str, target: float, baseline: float, **more: Any) -> Target:
    return Target.model_validate({"kpi": kpi, "target": target, "baseline": baseline, "start": START, "due": DUE, **more})


SERVICE_LEVEL = entry("service_level", 0.80, 0.70)  # higher is better
AHT = entry("aht_s", 360, 420)  # lower is better


def test_the_calendar_facts_the_numbers_rest_on() -> None:
    assert (DUE - START).days == 100 and (DAY_50 - START).days == 50 and (DAY_70 - START).days == 70


@pytest.mark.parametrize(
    ("day", "service_level", "aht"),
    [
        (date(2025, 12, 1), 0.70, 420),  # before the start: the baseline
        (START, 0.70, 420),
        (DAY_50, 0.75, 390),  # halfway: 0.70 + 0.10 * 50/100, 420 - 60 * 50/100
        (DAY_70, 0.77, 378),  # 0.70 + 0.10 * 0.7, 420 - 60 * 0.7
        (DUE, 0.80, 360),
        (date(2026, 6, 1), 0.80, 360),  # after the due date: the target itself
    ],
)
def test_the_expected_value_runs_straight_from_baseline_to_target(day: date, service_level: float, aht: float) -> None:
    assert expected(SERVICE_LEVEL, day) == service_level
    assert expected(AHT, day) == aht


def test_higher_is_better_on_track_met_and_gap() -> None:
    behind = judge(SERVICE_LEVEL, 0.74, DAY_50)
    assert (behind.expected, behind.gap, behind.on_track, behind.met) == (0.75, -0.06, False, False)
    exactly = judge(SERVICE_LEVEL, 0.75, DAY_50)
    assert (exactly.gap, exactly.on_track, exactly.met) == (-0.05, True, False), "as good as expected is on track"
    ahead = judge(SERVICE_LEVEL, 0.81, DAY_50)
    assert (ahead.gap, ahead.on_track, ahead.met) == (0.01, True, True)
    late = judge(SERVICE_LEVEL, 0.79, date(2026, 5, 1))
    assert (late.expected, late.gap, late.on_track, late.met) == (0.80, -0.01, False, False)


def test_binary_noise_does_not_put_an_exact_actual_behind() -> None:
    # Day 75 (2026-03-17) of 100 from 0.65 to 0.80: 0.65 + 0.15 * 0.75 = 0.7625 exactly, on paper.
    assert (date(2026, 3, 17) - START).days == 75
    judged = judge(entry("service_level", 0.80, 0.65), 0.7625, date(2026, 3, 17))
    assert (judged.expected, judged.on_track) == (0.7625, True)


def test_lower_is_better_on_track_met_and_gap() -> None:
    slow = judge(AHT, 395, DAY_50)  # expected 390 s: 395 s is worse
    assert (slow.expected, slow.gap, slow.on_track, slow.met) == (390, 35, False, False)
    fine = judge(AHT, 385, DAY_50)
    assert (fine.gap, fine.on_track, fine.met) == (25, True, False)
    done = judge(AHT, 350, DAY_50)
    assert (done.gap, done.on_track, done.met) == (-10, True, True)
    early = judge(AHT, 400, date(2025, 12, 15))  # before the start the bar is the baseline, 420 s
    assert (early.expected, early.on_track, early.met) == (420, True, False)
    overdue = judge(AHT, 370, date(2026, 7, 1))
    assert (overdue.expected, overdue.on_track, overdue.met) == (360, False, False)


def test_without_an_actual_only_the_expected_value_is_known() -> None:
    judged = judge(SERVICE_LEVEL, None, DAY_70)
    assert (judged.actual, judged.expected, judged.gap, judged.on_track, judged.met) == (None, 0.77, None, None, None)


def test_a_target_equal_to_its_baseline_holds_the_line_and_one_due_on_its_start_day_steps() -> None:
    hold = entry("abandon_rate", 0.05, 0.05)
    assert {expected(hold, day) for day in (date(2025, 1, 1), DAY_50, date(2027, 1, 1))} == {0.05}
    step = entry("csat", 0.85, 0.75, due=START)
    assert (expected(step, date(2025, 12, 31)), expected(step, START), expected(step, DAY_50)) == (0.75, 0.85, 0.85)
    assert (elapsed(step, date(2025, 12, 31)), elapsed(step, START)) == (0.0, 1.0)


def test_the_trend_is_the_least_squares_slope_and_its_direction_judged_by_better() -> None:
    # x = 0, 2, 3 (day 1 has no value), y = 0.70, 0.72, 0.73: mean x 5/3, mean y 0.71666..;
    # sum dx*dy = (-5/3)(-1/60) + (1/3)(1/300) + (4/3)(1/75) = 7/150, sum dx^2 = 14/3: slope 0.01.
    rising = trend([0.70, None, 0.72, 0.73], "higher")
    assert (rising.slope_per_day, rising.toward_target) == (0.01, True)
    assert trend([0.70, None, 0.72, 0.73], "lower").toward_target is False
    falling = trend([400, 390, 380, None], "lower")
    assert (falling.slope_per_day, falling.toward_target) == (-10, True)
    flat = trend([0.8, 0.8], "higher")
    assert (flat.slope_per_day, flat.toward_target) == (0, False)
    lonely = trend([None, 0.8, None], "higher")
    assert (lonely.slope_per_day, lonely.toward_target) == (None, None)


def targets(*entries: dict[str, Any]) -> Targets:
    dated = [{"start": START, "due": DUE, "baseline": 0.5, **e} for e in entries]
    return Targets(TargetsFile.model_validate({"targets": dated}))


def test_the_most_specific_target_wins_and_roll_ups_are_matched_like_names() -> None:
    chosen = targets(
        {"kpi": "service_level", "target": 0.80},
        {"kpi": "service_level", "channel": "chat", "target": 0.75},
        {"kpi": "service_level", "queue": "vip", "target": 0.90},
        {"kpi": "service_level", "queue": "vip", "channel": "chat", "target": 0.95},
        {"kpi": "abandon_rate", "queue": "vip", "target": 0.02},
    )

    def picked(queue: str, channel: str) -> dict[str, float]:
        return {t.kpi: t.target for t in chosen.for_row(queue, channel)}

    assert picked("vip", "chat") == {"service_level": 0.95, "abandon_rate": 0.02}
    assert picked("vip", "voice") == {"service_level": 0.90, "abandon_rate": 0.02}
    assert picked("vip", "*") == {"service_level": 0.90, "abandon_rate": 0.02}
    assert picked("sales", "chat") == {"service_level": 0.75}
    assert picked("*", "chat") == {"service_level": 0.75}
    assert picked("sales", "voice") == {"service_level": 0.80}
    assert picked("*", "*") == {"service_level": 0.80}


def test_a_rows_marks_are_judged_on_the_targets_window() -> None:
    chosen = targets(
        {"kpi": "service_level", "target": 0.80, "baseline": 0.70, "benchmark": 0.8},
        {"kpi": "asa_s", "target": 20, "baseline": 40, "window": "60m"},
    )
    rows = {Window.TODAY: {"service_level": 0.78, "asa_s": 50}, Window.M60: {"service_level": 0.5, "asa_s": 25.0}}
    marks = chosen.marks(rows.get, "sales", "voice", DAY_50)
    assert marks == {
        "service_level": {
            "target": 0.80, "expected": 0.75, "actual": 0.78, "gap": -0.02, "on_track": True, "met": False,
            "window": "today", "due": "2026-04-11", "benchmark": 0.8,
        },
        "asa_s": {  # 40 s down to 20 s: 30 s expected halfway; 25 s in the last hour is ahead
            "target": 20, "expected": 30, "actual": 25, "gap": 5, "on_track": True, "met": False,
            "window": "60m", "due": "2026-04-11", "benchmark": None,
        },
    }  # fmt: skip
    assert chosen.marks(lambda window: None, "sales", "voice", DAY_50)["service_level"]["on_track"] is None


VALID = {"kpi": "service_level", "target": 0.8, "baseline": 0.7, "start": "2026-01-01", "due": "2026-03-31"}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([VALID | {"kpi": "abandon"}], r"targets\.0\.kpi: Value error, unknown KPI abandon; targets can be set on .*service_level"),
        ([VALID | {"kpi": "offered"}], r"targets\.0\.kpi: Value error, offered is a count, neither better high nor low: it takes no target"),
        ([VALID | {"start": "2026-04-01"}], r"targets\.0\.due: Value error, due 2026-03-31 is before start 2026-04-01"),
        (
            [VALID | {"queue": "billing"}, VALID | {"channel": "chat"}, VALID | {"queue": "billing", "target": 0.9}],
            r"targets\.2: a second target for kpi service_level, queue billing, channel any \(the first is targets\.0\)",
        ),
        ([VALID, VALID | {"target": 0.9}], r"targets\.1: a second target for kpi service_level, queue any, channel any"),
        ([VALID | {"target": 80}], r"targets\.0\.target: Value error, service_level is a ratio from 0 to 1 \(80% is 0\.8\), not 80"),
        ([VALID | {"kpi": "aht_s", "target": -1, "baseline": 400}], r"targets\.0\.target: .*never negative"),
        ([{k: v for k, v in VALID.items() if k != "due"}], r"targets\.0\.due: Field required"),
        ([VALID | {"deadline": "2026-03-31"}], r"targets\.0\.deadline: Extra inputs are not permitted"),
        ([VALID | {"window": "week"}], r"targets\.0\.window: Input should be"),
        ([VALID | {"queue": "*"}], r"targets\.0\.queue: Value error, leave the key out to cover every one"),
        ([VALID | {"due": "end of March"}], r"targets\.0\.due: Input should be a valid date"),
    ],
)
def test_a_bad_targets_file_is_refused_with_the_key_named(tmp_path: Path, entries: list[dict[str, Any]], message: str) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump({"targets": entries}))
    with pytest.raises(ConfigError, match=f"targets file {path}: {message}"):
        load_targets(path)


def test_a_misspelt_top_level_key_and_an_unreadable_file_are_named(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text("target:\n  - kpi: csat\n")
    with pytest.raises(ConfigError, match=f"targets file {path}: target: Extra inputs are not permitted"):
        load_targets(path)
    with pytest.raises(ConfigError, match=f"targets file {tmp_path / 'absent.yaml'}: No such file"):
        load_targets(tmp_path / "absent.yaml")


def test_the_same_kpi_may_have_targets_per_queue_and_channel_and_an_empty_file_has_none(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump({"targets": [VALID, VALID | {"queue": "billing"}, VALID | {"channel": "chat"}]}))
    assert len(load_targets(path).entries) == 3
    path.write_text("")
    assert load_targets(path).entries == ()


def test_the_targets_file_is_checked_at_start_up_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump({"targets": [VALID | {"kpi": "handled"}]}))
    with pytest.raises(ConfigError, match=rf"targets file {path}: targets\.0\.kpi: .*handled is a count"):
        load_settings(environ={"CXPULSE_TARGETS__FILE": str(path)})
    path.write_text(yaml.safe_dump({"targets": [VALID]}))
    assert load_settings(environ={"CXPULSE_TARGETS__FILE": str(path)}).targets.file == path


def test_the_shipped_targets_file_is_the_example_settings_one_and_valid() -> None:
    settings = load_settings(ROOT / "deploy" / "cxpulse.example.yaml", environ={})
    assert settings.targets.file is not None and settings.targets.file.resolve() == ROOT / "deploy" / "targets.yaml"
    shipped = load_targets(ROOT / "deploy" / "targets.yaml")
    (level,) = [t for t in shipped.entries if t.kpi == "service_level" and t.queue is None and t.channel is None]
    assert (level.target, level.baseline, level.due) == (0.80, 0.70, date(2026, 12, 31))
    assert {"service_level", "abandon_rate", "csat", "aht_s"} <= {t.kpi for t in shipped.entries}
