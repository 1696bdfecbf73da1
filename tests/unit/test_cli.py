import subprocess
import sys

import pytest

from service.cli import build_parser, main

COMMANDS = ["run", "broker", "topics", "worker", "api", "simulate", "replay"]


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
