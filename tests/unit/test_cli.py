import subprocess
from pathlib import Path
import sys

import pytest

from service.cli import build_parser, main

COMMANDS = ["run", "broker", "topics", "worker", "sentiment", "api", "simulate", "replay", "alerts", "catalog", "dashboard", "token", "bench", "ingest"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert len(capsys.readouterr().out.split()) > 20


def test_top_level_help_lists_every_command() -> None:
    parser, commands = build_parser()
    assert sorted(commands) == sorted(COMMANDS)
    text = parser.format_help()
    assert all(command in text for command in COMMANDS)


def test_bad_configuration_stops_with_the_key_named() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "topics"],
        env={"CXPULSE_API__PORT": "not-a-port", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "api.port" in done.stderr


def test_token_prints_a_token_and_the_digest_line_for_it(capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib

    assert main(["token", "floor-2-tv"]) == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    token = lines[1]
    assert lines[3] == f"floor-2-tv: {hashlib.sha256(token.encode()).hexdigest()}"
    assert len(token) >= 40


def test_alerts_render_writes_the_committed_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(__file__).resolve().parents[2]
    code = main(["alerts", "render", "--thresholds", str(root / "deploy/alerts/thresholds.yaml"), "--output", str(tmp_path)])
    assert code == 0
    for committed in (root / "deploy/prometheus/rules").glob("*.yml"):
        assert (tmp_path / committed.name).read_text() == committed.read_text()


def test_dashboard_render_writes_the_committed_dashboard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(__file__).resolve().parents[2]
    output = tmp_path / "dashboard.json"
    thresholds = str(root / "deploy/alerts/thresholds.yaml")
    assert main(["dashboard", "render", "--thresholds", thresholds, "--output", str(output)]) == 0
    assert output.read_text() == (root / "deploy/grafana/dashboards/cxpulse-overview.json").read_text()


def test_alerts_render_refuses_a_bad_thresholds_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "thresholds.yaml"
    bad.write_text("kpis:\n  abandon_rate: {direction: sideways, warning: 0.1}\n")
    assert main(["alerts", "render", "--thresholds", str(bad), "--output", str(tmp_path / "out")]) == 2
    assert "kpis.abandon_rate.direction" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["--config", "cx.yaml", "run"], ["run", "--config", "cx.yaml"], ["bench", "pipeline", "--config", "cx.yaml"]],
)
def test_config_is_accepted_before_or_after_the_command(argv: list[str]) -> None:
    parser, _ = build_parser()
    assert parser.parse_args(argv).config == "cx.yaml"


def test_config_given_before_the_command_survives_it() -> None:
    parser, _ = build_parser()
    assert parser.parse_args(["--config", "cx.yaml", "topics"]).config == "cx.yaml"
    assert parser.parse_args(["topics"]).config is None


@pytest.mark.parametrize(
    ("given", "used"),
    [("kafka://10.0.0.5:9092", "10.0.0.5:9092"), ("k1:9092,k2:9093", "k1:9092,k2:9093"), ("kafka://k1:1;kafka://k2:2", "k1:1,k2:2")],
)
def test_broker_takes_host_port_lists_and_kafka_urls(given: str, used: str) -> None:
    parser, _ = build_parser()
    assert parser.parse_args(["run", "--broker", given]).broker == used


@pytest.mark.parametrize("given", ["http://k1:9092", "k1", "k1:0", "k1:9092,", "kafka://"])
def test_broker_refuses_anything_else_naming_the_value(given: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["run", "--broker", given])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "argument --broker" in err and "is not a Kafka address" in err and "host:port" in err


@pytest.mark.parametrize(("extra", "passed"), [([], False), (["--no-cx"], True)])
def test_run_passes_no_cx_on_to_the_simulator_it_starts(extra: list[str], passed: bool) -> None:
    from service.cli import _simulation_argv

    parser, _ = build_parser()
    simulate_args = _simulation_argv(parser.parse_args(["run", "--simulate", *extra]))
    assert ("--no-cx" in simulate_args) is passed
    assert parser.parse_args(["simulate", *simulate_args]).no_cx is passed
