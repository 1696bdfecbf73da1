"""The committed alert rules under promtool's unit tests (deploy/prometheus/tests/*.yml), and the
Alertmanager config under amtool: valid, routed as documented, inhibiting warnings under criticals."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules"
PROMTOOL_TESTS = ROOT / "deploy" / "prometheus" / "tests"
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def tool(name: str) -> str:
    path = shutil.which(name) or f"/usr/bin/{name}"
    if not Path(path).exists():
        pytest.fail(f"{name} is missing: run deploy/system-packages.sh")
    return path


def run(*command: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], check=False, capture_output=True, text=True, cwd=cwd, timeout=120)


def test_there_are_promtool_tests_for_both_rule_files() -> None:
    tested = {rule_file for path in PROMTOOL_TESTS.glob("*.yml") for rule_file in yaml.safe_load(path.read_text())["rule_files"]}
    assert tested == {f"../rules/{path.name}" for path in RULES.glob("*.yml")}


@pytest.mark.parametrize("test_file", sorted(PROMTOOL_TESTS.glob("*.yml")), ids=lambda path: path.name)
def test_promtool_unit_tests_pass(test_file: Path) -> None:
    result = run(tool("promtool"), "test", "rules", test_file.relative_to(ROOT))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_checks_the_rules() -> None:
    result = run(tool("promtool"), "check", "rules", *sorted(path.relative_to(ROOT) for path in RULES.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def _rules() -> list[dict[str, Any]]:
    return [rule for path in sorted(RULES.glob("*.yml")) for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def _expected_firing() -> set[tuple[str, str, str]]:
    found = set()
    for path in PROMTOOL_TESTS.glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                for alert in check.get("exp_alerts") or []:
                    labels = alert["exp_labels"]
                    found.add((check["alertname"], labels["severity"], labels.get("scope", "")))
    return found


def test_every_rule_is_expected_to_fire_in_some_promtool_test() -> None:
    """A rule added to the thresholds file (a KPI, an override, a severity) needs a promtool test."""
    rules = {(r["alert"], r["labels"]["severity"], r["labels"].get("scope", "")) for r in _rules()}
    untested = sorted(rules - _expected_firing())
    assert not untested, f"no promtool test expects these (alert, severity, scope) to fire: {untested}"


def test_a_wrong_expectation_fails_promtool(tmp_path: Path) -> None:
    """The promtool tests compare labels and annotations exactly: a threshold off by one digit fails."""
    source = (PROMTOOL_TESTS / "kpis.yml").read_text()
    assert source.count("threshold: '0.1'\n") >= 1
    mutated = source.replace("threshold: '0.1'\n", "threshold: '0.11'\n", 1)
    mutated = mutated.replace("../rules/cxpulse-kpis.yml", str(RULES / "cxpulse-kpis.yml"))
    (tmp_path / "kpis.yml").write_text(mutated)
    result = run(tool("promtool"), "test", "rules", tmp_path / "kpis.yml", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "FAILED" in output, output
    assert 'threshold="0.11"' in output and 'threshold="0.1"' in output, output


def test_amtool_accepts_the_alertmanager_config() -> None:
    result = run(tool("amtool"), "check-config", ALERTMANAGER.relative_to(ROOT))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"alertname": "CxpulseAbandonRateHigh", "severity": "critical", "team": "contact-center", "queue": "billing"}, "cx-oncall"),
        ({"alertname": "CxpulseAbandonRateHigh", "severity": "warning", "team": "contact-center", "queue": "billing"}, "cx-chat"),
        ({"alertname": "CxpulseCsatLow", "severity": "critical", "team": "quality", "queue": "billing"}, "cx-oncall"),
        ({"alertname": "CxpulseScrapeFailing", "severity": "critical", "team": "platform"}, "platform-oncall"),
        ({"alertname": "CxpulseProcessingLag", "severity": "warning", "team": "platform"}, "platform-chat"),
        ({"alertname": "SomethingElse"}, "cx-chat"),
    ],
)
def test_alerts_are_routed_by_team_and_severity(labels: dict[str, str], receiver: str) -> None:
    pairs = [f"{name}={value}" for name, value in labels.items()]
    result = run(tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER}", f"--verify.receivers={receiver}", *pairs)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alertmanager_config_groups_inhibits_and_resolves_as_documented() -> None:
    config = yaml.safe_load(ALERTMANAGER.read_text())
    route = config["route"]
    assert route["group_by"] == ["alertname", "queue"]
    assert (route["group_wait"], route["group_interval"]) == ("30s", "5m")
    routes = [*route["routes"], *(child for parent in route["routes"] for child in parent.get("routes", []))]
    repeats = {r["receiver"]: r["repeat_interval"] for r in routes if "repeat_interval" in r}
    assert repeats == {"platform-oncall": "4h", "platform-chat": "12h", "cx-oncall": "4h", "cx-chat": "12h"}
    assert config["inhibit_rules"] == [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["alertname", "kpi", "queue", "channel"],
        }
    ]
    for receiver in config["receivers"]:
        for webhook in receiver["webhook_configs"]:
            assert webhook["send_resolved"] is True, receiver["name"]
