"""An Asterisk queue_log through the real service: `cxpulse ingest asterisk` publishing to the embedded
broker of `cxpulse run`, the worker counting, the API's daily history compared with totals worked out
by hand from the fixture, and the fixture's unreadable line found in cx.deadletter. Then a followed log
rotated by rename and the reader stopped and restarted from its position file: nothing lost, nothing
counted twice.

The fixture (tests/fixtures/asterisk/queue_log, 122 lines, 2026-01-15 from 09:00 UTC) holds these calls:

sales (20 calls, one every 3 minutes), outcome(wait s, talk s):
  answered  (5,180) (12,240) (30,300) (8,120) (15,200) (45,360) (3,90) (20,150) (25,210) (10,270) (7,130) (60,310)
  answered and blind-transferred (9,45)
  abandoned (35) (50) (90) (15); exit with timeout (300), with key (40), empty (10): abandoned by default
support (16 calls, one every 4 minutes):
  answered  (2,100) (4,200) (6,300) (8,400) (10,500) (12,600) (14,100) (16,200) (18,300) (70,400)
  answered and attended-transferred (22,80); answered, still talking at the end of the file (3)
  abandoned (5) (25) (65) (120)
plus agent events (ADDMEMBER, PAUSE, UNPAUSE), six RINGNOANSWER, QUEUESTART, and at line 61 a run of NUL
bytes such as an unclean shutdown leaves.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from streams import deadletter
from tests.integration.stack import ARTIFACTS, Stack, eventually

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "queue_log"
NUL_LINE = 61

# Worked out from the table above. Service level: answered within 20 s over answered + abandoned.
SALES = {
    "offered": 20, "answered": 13, "abandoned": 7, "handled": 13,
    # 5+12+30+8+15+45+3+20+25+10+7+60 = 240, plus 9 = 249
    "asa_s": 249 / 13,
    # 35+50+90+15 = 190, plus 300+40+10 = 540
    "avg_abandon_wait_s": 540 / 7,
    "abandon_rate": 7 / 20,
    # within 20 s: 5, 12, 8, 15, 3, 20, 10, 7, 9
    "service_level": 9 / 20,
    # 180+240+300+120+200+360+90+150+210+270+130+310 = 2560, plus 45 = 2605
    "aht_s": 2605 / 13,
    "max_wait_s": 300,
}  # fmt: skip
SUPPORT = {
    "offered": 16, "answered": 12, "abandoned": 4, "handled": 11,
    # 2+4+6+8+10+12+14+16+18+70 = 160, plus 22 and 3 = 185
    "asa_s": 185 / 12,
    "avg_abandon_wait_s": (5 + 25 + 65 + 120) / 4,
    "abandon_rate": 4 / 16,
    # within 20 s: 2, 4, 6, 8, 10, 12, 14, 16, 18 and 3
    "service_level": 10 / 16,
    # 100+200+300+400+500+600+100+200+300+400 = 3100, plus 80 = 3180
    "aht_s": 3180 / 11,
    "max_wait_s": 120,
}  # fmt: skip
CONFIG = "defaults:\n  timezone: UTC\n  short_abandon_seconds: 0\n  service_level_seconds: 20\n"

T1 = 1768554000  # 2026-01-16T09:00:00Z, the followed log's day


async def history_row(stack: Stack, queue: str, day: str) -> dict[str, Any] | None:
    params = {"from": day, "to": day, "interval": "1d", "queue": queue, "channel": "voice"}
    items = (await stack.get_json("/v1/history", params))["items"]
    return items[0] if items else None


async def row_with(stack: Stack, queue: str, day: str, **wanted: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        row = await history_row(stack, queue, day)
        return row if row and all(row[k] == v for k, v in wanted.items()) else None

    return await eventually(probe, 120, f"{queue} on {day} with {wanted}")


async def ingest(stack: Stack, log: Path, position: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service.cli", "ingest", "asterisk", str(log), "--position-file", str(position), *extra,
        env=stack.environment(), stderr=open(ARTIFACTS / f"asterisk-ingest-{log.name}.log", "ab"),
    )  # fmt: skip


def append(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write("".join(line + "\n" for line in lines))


async def dead_letters(stack: Stack, wanted: bytes) -> dict[str, str]:
    consumer = AIOKafkaConsumer("cx.deadletter", bootstrap_servers=stack.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        letters: dict[bytes, dict[str, str]] = {}

        async def found() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    letters[record.value] = deadletter.describe(record.headers)
            return wanted in letters

        await eventually(found, 60, "the unreadable line in cx.deadletter")
        return letters[wanted]
    finally:
        await consumer.stop()


async def test_a_queue_log_replayed_and_followed_through_the_service(tmp_path: Path) -> None:
    config = tmp_path / "cxpulse.yaml"
    config.write_text(CONFIG)
    stack = Stack("asterisk", config=config)
    await stack.start()
    try:
        log = tmp_path / "queue_log"
        shutil.copy(FIXTURE, log)
        once = await ingest(stack, log, tmp_path / "once.position")
        assert await asyncio.wait_for(once.wait(), 120) == 0, "see test-artifacts/asterisk-ingest-queue_log.log"
        sales = await row_with(stack, "sales", "2026-01-15", offered=20, handled=13)
        support = await row_with(stack, "support", "2026-01-15", offered=16, handled=11)
        letter = await dead_letters(stack, b"\x00" * 37)

        followed = tmp_path / "followed_log"
        position = tmp_path / "followed.position"
        append(
            followed,
            f"{T1}|f1|followed|NONE|ENTERQUEUE||0700001|1",
            f"{T1 + 10}|f1|followed|PJSIP/301|CONNECT|10|f1-peer|2",
            f"{T1 + 20}|f2|followed|NONE|ENTERQUEUE||0700002|1",
        )
        reader = await ingest(stack, followed, position, "--follow", "--poll-interval", "0.1")
        await row_with(stack, "followed", "2026-01-16", offered=2, answered=1)
        followed.rename(tmp_path / "followed_log.1")
        append(tmp_path / "followed_log.1", f"{T1 + 50}|f2|followed|NONE|ABANDON|1|1|30")  # before the writer reopens
        append(
            followed,
            f"{T1 + 130}|f1|followed|PJSIP/301|COMPLETECALLER|10|120|1",
            f"{T1 + 140}|f3|followed|NONE|ENTERQUEUE||0700003|1",
        )
        await row_with(stack, "followed", "2026-01-16", offered=3, answered=1, abandoned=1, handled=1)
        reader.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(reader.wait(), 60) == 0
        append(
            followed,
            f"{T1 + 150}|f3|followed|PJSIP/302|CONNECT|10|f3-peer|2",
            f"{T1 + 250}|f3|followed|PJSIP/302|COMPLETEAGENT|10|100|1",
        )
        again = await ingest(stack, followed, position, "--follow", "--poll-interval", "0.1")
        after_restart = await row_with(stack, "followed", "2026-01-16", answered=2, handled=2)
        again.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(again.wait(), 60) == 0
    finally:
        await stack.stop()

    for row, wanted in ((sales, SALES), (support, SUPPORT)):
        for kpi, value in wanted.items():
            assert row[kpi] == pytest.approx(value), (row["queue"], kpi)
    assert letter[deadletter.KIND] == "nul"
    assert letter[deadletter.SOURCE_LINE] == str(NUL_LINE)
    assert letter[deadletter.SOURCE_FILE] == str(log)
    # Three calls, each counted once across the rotation and the restart: f1 (10 s, 120 s), f2 abandoned
    # after 30 s, f3 (10 s, 100 s).
    assert (after_restart["offered"], after_restart["abandoned"]) == (3, 1)
    assert after_restart["asa_s"] == pytest.approx(10)
    assert after_restart["aht_s"] == pytest.approx((120 + 100) / 2)
    assert after_restart["avg_abandon_wait_s"] == pytest.approx(30)
