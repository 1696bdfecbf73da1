"""The thresholds file: validation with named problems, the most specific rule winning, volume gates,
statuses on rows, and the committed Prometheus rules being exactly what the file renders."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.view import add_statuses
from kpis.thresholds import Level, Thresholds, ThresholdsFile
from kpis.windows import Window
from service import alert_rules
from service.settings import ConfigError, load_thresholds

ROOT = Path(__file__).resolve().parents[2]
THRESHOLDS = ROOT / "deploy" / "alerts" / "thresholds.yaml"
RULES = ROOT / "deploy" / "prometheus" / "rules"


def thresholds(document: dict[str, Any]) -> Thresholds:
    return Thresholds(ThresholdsFile.model_validate(document))


ABANDON = {
    "kpis": {
        "abandon_rate": {
            "direction": "above",
            "warning": 0.05,
            "critical": 0.10,
            "min_volume": 20,
            "overrides": [
                {"queue": "vip", "warning": 0.02, "critical": 0.04, "min_volume": 5},
                {"channel": "chat", "critical": 0.2},
                {"queue": "vip", "channel": "chat", "critical": 0.5},
            ],
        },
        "service_level": {"direction": "below", "warning": 0.8, "critical": 0.7},
    }
}


def row(queue: str, channel: str, answered: int, abandoned: int, **values: Any) -> dict[str, Any]:
    rate = abandoned / (answered + abandoned) if answered + abandoned else None
    return {"queue": queue, "channel": channel, "answered": answered, "abandoned": abandoned, "abandon_rate": rate} | values


def test_the_most_specific_rule_wins() -> None:
    judged = thresholds(ABANDON)
    assert judged.rule_for("abandon_rate", "vip", "chat").critical == 0.5
    assert judged.rule_for("abandon_rate", "vip", "voice").critical == 0.04
    assert judged.rule_for("abandon_rate", "sales", "chat").critical == 0.2
    assert judged.rule_for("abandon_rate", "sales", "chat").warning == 0.05, "an override inherits what it leaves out"
    assert judged.rule_for("abandon_rate", "sales", "voice").critical == 0.10


def test_status_follows_direction_and_is_null_below_the_minimum_volume() -> None:
    judged = thresholds(ABANDON)

    def status(r: dict[str, Any]) -> dict[str, str | None]:
        return judged.status(lambda window: r, r["queue"], r["channel"])

    assert status(row("sales", "voice", 18, 2, service_level=0.9))["abandon_rate"] == "warning"  # 10% is not above 10%
    assert status(row("sales", "voice", 17, 3, service_level=0.9))["abandon_rate"] == "critical"  # 15%
    assert status(row("sales", "voice", 19, 1, service_level=0.9))["abandon_rate"] == "ok"  # 5% is not above 5%
    assert status(row("sales", "voice", 1, 2, service_level=0.9))["abandon_rate"] is None  # 2 of 3: below 20 contacts
    assert status(row("vip", "voice", 4, 1, service_level=0.9))["abandon_rate"] == "critical"  # 20% of 5, vip gate is 5
    assert status(row("sales", "voice", 30, 0, service_level=0.75))["service_level"] == "warning"
    assert status(row("sales", "voice", 30, 0, service_level=None))["service_level"] is None


def test_roll_up_rows_carry_the_worst_status_of_their_pairs() -> None:
    judged = thresholds(ABANDON)
    rows: dict[Window, dict[Any, dict[str, Any]]] = {window: {} for window in Window}
    for r in (row("sales", "voice", 17, 3), row("sales", "chat", 20, 0), row("sales", "*", 37, 3), row("*", "*", 37, 3)):
        rows[Window.M15][(r["queue"], r["channel"], "15m")] = r
        rows[Window.M60][(r["queue"], r["channel"], "60m")] = dict(r)
    add_statuses(rows, judged)
    assert rows[Window.M15][("sales", "chat", "15m")]["status"]["abandon_rate"] == "ok"
    assert rows[Window.M15][("sales", "*", "15m")]["status"]["abandon_rate"] == "critical"
    assert rows[Window.M60][("*", "*", "60m")]["status"]["abandon_rate"] == "critical"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"kpis": {"abandon": {"direction": "above", "warning": 1}}}, "unknown KPI abandon"),
        ({"kpis": {"abandon_rate": {"direction": "up", "warning": 1}}}, "kpis.abandon_rate.direction"),
        ({"kpis": {"abandon_rate": {"direction": "above"}}}, "set warning, critical or both"),
        ({"kpis": {"abandon_rate": {"direction": "above", "warning": 0.2, "critical": 0.1}}}, "critical must be at or above warning"),
        ({"kpis": {"service_level": {"direction": "below", "warning": 0.7, "critical": 0.8}}}, "critical must be at or below warning"),
        ({"kpis": {"abandon_rate": {"direction": "above", "warning": 0.1, "for": "2 minutes"}}}, "not a duration"),
        ({"kpis": {"abandon_rate": {"direction": "above", "warning": 0.1, "window": "today"}}}, "rolling window"),
        ({"kpis": {"abandon_rate": {"direction": "above", "warning": 0.1, "overrides": [{"warning": 0.2}]}}}, "names a queue"),
        ({"kpis": {"abandon_rate": {"direction": "above", "warning": 0.1, "min_volume": -1}}}, "min_volume"),
        ({"pipeline": {"opening_hours_utc": [20, 8]}}, "opening_hours_utc"),
        ({"kpi": {}}, "kpi: Extra inputs are not permitted"),
        ({"agent_states": {"break": {"warning": 60}}}, "unknown agent state break; time in state is judged for available, "),
        ({"agent_states": {"logged_out": {"warning": 60}}}, "unknown agent state logged_out"),
        ({"agent_states": {"aux": {}}}, "agent_states.aux: set warning, critical or both"),
        ({"agent_states": {"aux": {"warning": 600, "critical": 300}}}, r"agent_states.aux: critical \(300 s\) must be at or above warning \(600 s\)"),
        ({"agent_states": {"aux": {"warning": 0}}}, "agent_states.aux.warning: Input should be greater than 0"),
        ({"agent_states": {"aux": {"warning": "15m"}}}, "agent_states.aux.warning: Input should be a valid number"),
        (
            {"agent_states": {"aux": {"warning": 900, "critical": 1200, "reasons": {"lunch": {"warning": 3600}}}}},
            r"agent_states.aux.reasons.lunch: critical \(1200 s\) must be at or above warning \(3600 s\)",
        ),
        ({"agent_states": {"aux": {"warning": 900, "reasons": {"lunch": {"limit": 1}}}}}, "agent_states.aux.reasons.lunch.limit: Extra inputs"),
        ({"staffing": {"unattended_for": "a minute"}}, "staffing.unattended_for: .*not a duration"),
        ({"staffing": {"staffed_within": "1d"}}, "staffing.staffed_within: .*not a duration"),
        ({"sentiment_jump": {"margin": 1.5}}, "sentiment_jump.margin: Input should be less than 1"),
        ({"sentiment_jump": {"baseline": "1d"}}, "sentiment_jump.baseline: .*not a duration"),
        ({"sentiment_jump": {"min_volume": 0}}, "sentiment_jump.min_volume: Input should be greater than or equal to 1"),
    ],
)
def test_a_bad_thresholds_file_is_refused_with_the_key_named(tmp_path: Path, document: dict[str, Any], message: str) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match=f"thresholds file {path}: .*{message}"):
        load_thresholds(path)


def test_time_in_state_is_judged_per_state_and_aux_reason() -> None:
    judged = thresholds(
        {
            "agent_states": {
                "on_contact": {"warning": 900, "critical": 1200},
                "after_contact_work": {"critical": 300},
                "aux": {"warning": 900, "critical": 1200, "reasons": {"lunch": {"warning": 2700, "critical": 3600}, "meeting": {"critical": 5400}}},
            }
        }
    ).agent_states
    assert judged.status("on_contact", None, 900) is Level.OK, "900 s is not above 900 s"
    assert judged.status("on_contact", None, 900.5) is Level.WARNING
    assert judged.status("on_contact", None, 1201) is Level.CRITICAL
    assert judged.status("after_contact_work", None, 299) is Level.OK, "no warning limit: ok up to critical"
    assert judged.status("after_contact_work", None, 301) is Level.CRITICAL
    assert judged.status("aux", "break", 1000) is Level.WARNING, "a reason without limits of its own takes the state's"
    assert judged.status("aux", None, 1000) is Level.WARNING
    assert judged.status("aux", "lunch", 1000) is Level.OK
    assert judged.status("aux", "lunch", 3000) is Level.WARNING
    assert judged.status("aux", "meeting", 1000) is Level.WARNING, "the meeting entry inherits warning 900"
    assert judged.status("aux", "meeting", 5000) is Level.WARNING
    assert judged.status("aux", "meeting", 5401) is Level.CRITICAL
    assert judged.status("available", None, 86400) is None, "a state without limits is not judged"
    assert judged.status("logged_out", None, 86400) is None
    assert judged.as_dict() == {
        "on_contact": {"warning": 900, "critical": 1200, "reasons": {}},
        "after_contact_work": {"warning": None, "critical": 300, "reasons": {}},
        "aux": {
            "warning": 900, "critical": 1200,
            "reasons": {"lunch": {"warning": 2700, "critical": 3600}, "meeting": {"warning": 900, "critical": 5400}},
        },
    }  # fmt: skip


def test_without_agent_states_no_agent_is_judged() -> None:
    judged = thresholds({"kpis": {}})
    assert judged.agent_states.status("on_contact", None, 10**6) is None
    assert judged.agent_states.as_dict() == {}
    assert (judged.staffing.unattended_for, judged.staffing.staffed_within) == ("1m", "24h")


def test_the_staffing_rule_judges_each_queue_and_channel_with_the_file_s_durations() -> None:
    document = {"staffing": {"unattended_for": "2m", "staffed_within": "8h", "team": "wfm", "runbook": "https://rb/staffing"}}
    (rule,) = alert_rules.agent_rules(thresholds(document))["groups"][0]["rules"]
    assert rule["alert"] == "CxpulseContactsWaitingNoAgent"
    assert rule["for"] == "2m"
    assert rule["labels"] == {"severity": "critical", "team": "wfm"}
    assert rule["annotations"]["runbook_url"] == "https://rb/staffing"
    assert rule["expr"] == (
        "cxpulse_waiting_contacts > 0\n"
        "  unless on (queue, channel) cxpulse_available_agents > 0\n"
        "  and on (queue, channel) max_over_time(cxpulse_staffed_agents[8h]) > 0"
    )


def test_the_committed_rules_are_what_the_thresholds_file_renders() -> None:
    rendered = alert_rules.render(load_thresholds(THRESHOLDS))
    committed = {path.name: path.read_text() for path in RULES.glob("*.yml")}
    assert committed == rendered, "deploy/prometheus/rules is stale: run `cxpulse alerts render`"


def test_an_override_is_left_out_of_the_less_specific_rules() -> None:
    rules = alert_rules.kpi_rules(thresholds(ABANDON))["groups"][0]["rules"]
    by_scope = {(r["labels"]["scope"], r["labels"]["severity"]): r["expr"] for r in rules if r["labels"]["kpi"] == "abandon_rate"}
    default = by_scope[("default", "critical")]
    assert 'unless on (queue, channel) cxpulse_waiting_contacts{queue="vip"}' in default
    assert 'cxpulse_waiting_contacts{channel="chat"}' in default
    channel_only = by_scope[("channel=chat", "critical")]
    assert 'cxpulse_waiting_contacts{queue="vip"}' in channel_only, "a queue override beats a channel override"
    assert "unless" not in by_scope[("queue=vip,channel=chat", "critical")]


def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run(["promtool", "check", "rules", *sorted(RULES.glob("*.yml"))], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
