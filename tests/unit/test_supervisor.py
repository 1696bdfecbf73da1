"""What ``cxpulse run`` hands a replacement worker: its environment, and the standby's go signal."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service.settings import load_settings
from service.supervisor import EMBEDDED_SESSION_TIMEOUT_S, STANDBY, WORKER, Supervisor

SESSION = "CXPULSE_WORKER__SESSION_TIMEOUT_SECONDS"


def test_a_worker_of_the_embedded_broker_gets_the_short_session_timeout_unless_one_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SESSION, raising=False)
    embedded = Supervisor(load_settings(None, environ={}), None)
    assert embedded.environment(WORKER)[SESSION] == str(EMBEDDED_SESSION_TIMEOUT_S)
    assert embedded.environment(STANDBY)[SESSION] == str(EMBEDDED_SESSION_TIMEOUT_S)
    assert SESSION not in embedded.environment("api")
    configured = Supervisor(load_settings(None, environ={SESSION: "12"}), None)
    assert SESSION not in configured.environment(WORKER)
    kafka = Supervisor(load_settings(None, environ={"CXPULSE_BROKER": "kafka.example:9092"}), None)
    assert SESSION not in kafka.environment(WORKER)


def test_the_standby_takes_over_when_told_on_its_stdin() -> None:
    supervisor = Supervisor(load_settings(None, environ={}), None)
    # A stand-in standby: exits 0 only if the first line it reads is the go signal.
    standby = supervisor.spawn(STANDBY, [sys.executable, "-c", "import sys; sys.exit(0 if sys.stdin.readline() else 3)"],
                               stdin=subprocess.PIPE)  # fmt: skip
    dead = supervisor.spawn(WORKER, [sys.executable, "-c", "pass"])
    dead.wait(30)
    supervisor.replace_worker()
    assert supervisor.children == [(WORKER, standby)]
    assert standby.wait(30) == 0
    assert supervisor.standby_due is not None
