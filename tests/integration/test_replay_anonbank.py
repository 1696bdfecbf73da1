"""A month of real calls (the 1999 bank log in ../shared) replayed through `cxpulse run`: the daily
history per queue and overall must equal a calculation straight from the raw file.

The calculation here reads the file on its own terms (whitespace-split columns, each event on its
own local date), sharing nothing with adapters/recorded.py or the KPI code.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.integration.stack import ARTIFACTS, Stack

pytestmark = pytest.mark.integration

LOG = Path(__file__).resolve().parents[3] / "shared" / "data" / "anonbank" / "january.txt"
SL_SECONDS = 20


def seconds(text: str) -> int:
    hours, minutes, secs = (int(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + secs


def expected_days() -> dict[tuple[str, str], Counter[str]]:
    """Per (queue or *, local date): offered, answered, abandoned, answered within 20 s, wait sum."""
    days: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    with LOG.open() as lines:
        next(lines)
        for line in lines:
            f = line.split()
            queue, yymmdd, entry, q_start, q_exit, q_time, outcome, ser_start = f[4], f[5], f[6], f[9], f[10], int(f[11]), f[12], f[13]
            arrival = date(1999, int(yymmdd[2:4]), int(yymmdd[4:6]))

            def local_date(clock: str) -> str:
                after_midnight = seconds(clock) < seconds(entry) - 12 * 3600
                return str(arrival + timedelta(days=after_midnight))

            queued = q_start != "0:00:00"
            if outcome == "AGENT":
                answered_at = ser_start if ser_start != "0:00:00" else (q_exit if queued else f[7])
                wait = q_time if queued else 0
                for key in (queue, "*"):
                    days[(key, local_date(q_start if queued else answered_at))]["offered"] += 1
                    answered = days[(key, local_date(answered_at))]
                    answered["answered"] += 1
                    answered["within"] += wait <= SL_SECONDS
                    answered["wait"] += wait
            elif outcome == "HANG" and queued:
                for key in (queue, "*"):
                    days[(key, local_date(q_start))]["offered"] += 1
                    days[(key, local_date(q_exit))]["abandoned"] += 1
    return days


async def test_daily_history_equals_the_raw_log(tmp_path: Path) -> None:
    if not LOG.exists():
        pytest.skip(f"{LOG} not present: the real-traffic replay needs ../shared/data/anonbank/january.txt")
    config = tmp_path / "cxpulse.yaml"
    config.write_text(
        "defaults:\n  timezone: Asia/Jerusalem\n  short_abandon_seconds: 0\n  service_level_seconds: 20\n"
    )
    stack = Stack("anonbank", config=config)
    await stack.start()
    try:
        replay = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "service.cli", "replay", str(LOG), "--format", "anonbank", "--wait",
            "--api", stack.api, "--wait-timeout", "300",
            env=stack.environment(), stderr=open(ARTIFACTS / "anonbank-replay.log", "wb"),
        )
        assert await asyncio.wait_for(replay.wait(), 400) == 0, "replay failed; see test-artifacts/anonbank-replay.log"
        params = {"from": "1999-01-01", "to": "1999-01-31", "interval": "1d"}
        per_queue = (await stack.get_json("/v1/history", {**params, "channel": "voice"}))["items"]
        overall = (await stack.get_json("/v1/history", {**params, "queue": "*", "channel": "*"}))["items"]
    finally:
        await stack.stop()

    expected = expected_days()
    compared: set[tuple[str, str]] = set()
    for row in per_queue + overall:
        counts = expected.get((row["queue"], row["date"]), Counter())
        left = counts["answered"] + counts["abandoned"]
        assert (row["offered"], row["answered"], row["abandoned"]) == (
            counts["offered"], counts["answered"], counts["abandoned"]
        ), (row["queue"], row["date"])
        assert row["abandon_rate"] == (pytest.approx(counts["abandoned"] / left) if left else None)
        assert row["asa_s"] == (pytest.approx(counts["wait"] / counts["answered"]) if counts["answered"] else None)
        assert row["service_level"] == (pytest.approx(counts["within"] / left) if left else None)
        if counts:
            compared.add((row["queue"], row["date"]))
    assert compared == set(expected), "every (queue, day) of the log has a history row"
