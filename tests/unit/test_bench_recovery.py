"""The recovery bench's reading of a takeover from the service log, on a log excerpt written by hand."""

from __future__ import annotations

import json

from bench.recovery import parse_line, phases


def line(at_s: float, msg: str, **extra: object) -> str:
    whole, millis = divmod(round(at_s * 1000), 1000)
    minutes, seconds = divmod(whole, 60)
    return json.dumps({"ts": f"1970-01-01T00:{minutes:02d}:{seconds:02d}.{millis:03d}Z", "level": "info", "msg": msg, **extra})


def test_a_log_line_gets_its_time_as_epoch_seconds_and_other_lines_are_skipped() -> None:
    entry = parse_line(line(100.07, "started", child="worker", pid=7))
    assert entry is not None and entry["at"] == 100.07 and entry["pid"] == 7
    assert parse_line("\x1b[2m2026-12-02T16:11:47.979003Z\x1b[0m INFO serve") is None
    assert parse_line('{"no": "ts"}') is None


def test_each_phase_is_the_first_match_after_the_one_before() -> None:
    log = [
        line(100.05, "worker exited, restarting it", child="worker", pid=41),  # another worker's death
        line(100.07, "worker exited, restarting it", child="worker", pid=42),
        line(100.08, "standby worker took over", child="worker", pid=50),
        line(100.10, "Joined group 'g' (generation 2) with member_id m"),  # before anything joined: not ours
        line(100.20, "[^Worker]: Starting..."),
        line(101.20, "(Re-)joining group g"),
        line(103.20, "Joined group 'g' (generation 3) with member_id n"),
        line(103.21, "Executing _on_partitions_assigned"),
        line(103.25, "[^Worker]: Ready"),
        "broker noise",
    ]
    entries = [entry for entry in map(parse_line, log) if entry is not None]
    found = phases(entries, killed=42, killed_at=100.0)
    # By hand: seconds after the kill at 100.0; no partition was rebuilt in this excerpt.
    expected = {
        "noticed": 0.07, "replacement started": 0.08, "Faust starting": 0.2, "JoinGroup sent": 1.2,
        "joined": 3.2, "assigned": 3.21, "worker ready": 3.25,
    }  # fmt: skip
    assert {name: round(value, 3) for name, value in found.items() if value is not None} == expected
    assert found["partition state rebuilt"] is None
