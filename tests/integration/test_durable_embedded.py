"""The durable embedded mode on real processes: ``cxpulse run`` stopped (Ctrl-C) or killed outright and
started again on the same data directory serves the numbers it served before; a worker killed under
it is restarted and counts on, exactly."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.journal import read_frames
from streams.topics import SOURCE_TOPICS
from tests.events import contact_event
from tests.integration.stack import Stack, alive, descendants, eventually, produce

pytestmark = pytest.mark.integration

# A whole past day inside the kept history (35 days), its events long closed by the time the test
# ends: its numbers then live only in the snapshot topics, which is what a restart must bring back.
DAY = (datetime.now(timezone.utc) - timedelta(days=2)).date()
DAY_START = datetime(DAY.year, DAY.month, DAY.day, tzinfo=timezone.utc).timestamp()
VOLATILE = {"start", "end", "waiting_now", "longest_waiting_s"}


def events(prefix: str, now: float) -> list[dict[str, Any]]:
    """Worked out by hand below: per (queue, channel) what offered, answered, abandoned and ASA are."""
    billing, sales, live = f"{prefix}-billing", f"{prefix}-sales", f"{prefix}-live"
    ten = DAY_START + 10 * 3600
    return [
        contact_event("offered", f"{prefix}-c1", ten, billing),
        contact_event("answered", f"{prefix}-c1", ten + 30, billing),  # waited 30 s (from the offer)
        contact_event("offered", f"{prefix}-c2", ten + 60, billing),
        contact_event("answered", f"{prefix}-c2", ten + 70, billing, wait_s=10),
        contact_event("offered", f"{prefix}-c3", ten + 120, billing),
        contact_event("abandoned", f"{prefix}-c3", ten + 165, billing, wait_s=45),
        contact_event("offered", f"{prefix}-c4", ten + 3600, sales, channel="chat"),
        contact_event("answered", f"{prefix}-c4", ten + 3620, sales, channel="chat"),  # waited 20 s
        contact_event("offered", f"{prefix}-n1", now - 120, live),
        contact_event("answered", f"{prefix}-n1", now - 90, live),  # waited 30 s
        contact_event("offered", f"{prefix}-n2", now - 100, live),
        contact_event("abandoned", f"{prefix}-n2", now - 40, live, wait_s=60),
    ]


EXPECTED_DAY = {  # (queue suffix, channel): offered, answered, abandoned, abandon rate, ASA
    ("billing", "voice"): (3, 2, 1, 1 / 3, 20.0),
    ("sales", "chat"): (1, 1, 0, 0.0, 20.0),
}
EXPECTED_LIVE = (2, 1, 1, 0.5, 30.0)


def records(batch: list[dict[str, Any]]) -> list[tuple[str, bytes | None, bytes]]:
    return [
        ("cx.calls" if e["channel"] == "voice" else "cx.chats", e["customer_id"].encode(), json.dumps(e).encode())
        for e in batch
    ]


def figures(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["offered"], row["answered"], row["abandoned"], row["abandon_rate"], row["asa_s"]


async def served(stack: Stack, prefix: str) -> dict[str, Any]:
    """What the API serves for the test's queues: the day (whole and by 15 minutes) and the live hour."""
    result: dict[str, Any] = {}
    for interval in ("1d", "15m"):
        rows = []
        for queue in (f"{prefix}-billing", f"{prefix}-sales"):
            params = {"from": DAY.isoformat(), "to": DAY.isoformat(), "interval": interval, "queue": queue}
            rows += (await stack.get_json("/v1/history", params))["items"]
        result[interval] = sorted(json.dumps({k: v for k, v in row.items() if k not in VOLATILE}, sort_keys=True) for row in rows)
    live = await stack.get_json("/v1/kpis", {"queue": f"{prefix}-live", "channel": "voice", "window": "60m"})
    result["live"] = [{k: v for k, v in row.items() if k not in VOLATILE | {"status", "target"}} for row in live["items"]]
    return result


def matches_hand_calculation(result: dict[str, Any], prefix: str) -> bool:
    day = {(row["queue"], row["channel"]): row for row in map(json.loads, result["1d"])}
    for (suffix, channel), expected in EXPECTED_DAY.items():
        row = day.get((f"{prefix}-{suffix}", channel))
        if row is None or figures(row) != pytest.approx(expected):
            return False
    return len(result["live"]) == 1 and figures(result["live"][0]) == pytest.approx(EXPECTED_LIVE)


async def counted(stack: Stack, prefix: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        result = await served(stack, prefix)
        return result if matches_hand_calculation(result, prefix) else None

    return await eventually(probe, 120, f"the events of {prefix} counted as worked out by hand")


def journaled_source_records(data_dir: Path) -> int:
    """Source records already written to the journal (read-only: the running recorder appends)."""
    total = 0
    for topic in SOURCE_TOPICS:
        for path in (data_dir / "journal" / topic).glob("*.log"):
            with open(path, "rb") as stream:
                total += sum(1 for _ in read_frames(stream))
    return total


async def ready(stack: Stack) -> bool:
    try:
        return (await stack.get("/readyz")).status_code == 200
    except httpx.TransportError:
        return False


async def test_ctrl_c_and_start_again_serves_the_same_numbers(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = Stack("durable-stop", data_dir=data_dir)
    await first.start()
    try:
        await produce(first.bootstrap, records(events("stop", time.time())))
        before = await counted(first, "stop")
    finally:
        assert await first.stop(signal.SIGINT) == 0
    log = (first.log_path).read_text()
    assert "journal written" in log

    again = Stack("durable-stop", data_dir=data_dir)
    await again.start()
    try:
        await eventually(lambda: ready(again), 60, "the restarted API reading the restored snapshot topics")
        # Served at once from the restored topics, not counted again: equal to before the stop.
        assert await served(again, "stop") == before
        restored = [json.loads(line) for line in again.log_path.read_text().splitlines() if "restored the embedded" in line]
        assert restored and restored[0]["records"] > 0 and restored[0]["topics"]["cx.calls"] >= 8, restored
    finally:
        await again.stop(signal.SIGINT)


async def test_killing_the_whole_run_loses_nothing_journaled(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = Stack("durable-kill", data_dir=data_dir)
    await first.start()
    assert first.process is not None
    batch = events("kill", time.time())
    try:
        await produce(first.bootstrap, records(batch))
        before = await counted(first, "kill")

        async def journaled() -> bool:
            return journaled_source_records(data_dir) == len(batch)

        # The journal's bound: what was published before its last sync (every second) is on disk.
        await eventually(journaled, 30, "every published record in the journal")
    finally:
        everything = [first.process.pid, *descendants(first.process.pid)]
        for pid in everything:
            os.kill(pid, signal.SIGKILL)
        await first.process.wait()

    async def all_gone() -> bool:
        return not [pid for pid in everything if alive(pid)]

    await eventually(all_gone, 30, "every process of the killed run gone")
    again = Stack("durable-kill", data_dir=data_dir)
    await again.start()
    try:
        # Counted once, whatever the killed run had or had not written of its state and snapshots.
        assert await counted(again, "kill") == before
    finally:
        await again.stop(signal.SIGINT)


def is_worker(cmdline: bytes) -> bool:
    """The folding worker, not the standby the supervisor keeps beside it (``worker --standby``)."""
    argv = cmdline.split(b"\0")
    return b"worker" in argv and b"--standby" not in argv


async def test_a_killed_worker_is_restarted_and_counts_on_exactly(tmp_path: Path) -> None:
    stack = Stack("durable-worker")
    await stack.start()
    assert stack.process is not None
    try:
        now = time.time()
        batch = events("worker", now)
        await produce(stack.bootstrap, records(batch[:6]))  # half of the day's billing contacts

        async def some_counted() -> bool:
            day = (await served(stack, "worker"))["1d"]
            return any(json.loads(row)["offered"] for row in day)

        await eventually(some_counted, 120, "the first events counted")
        workers = [pid for pid in descendants(stack.process.pid) if is_worker(Path(f"/proc/{pid}/cmdline").read_bytes())]
        assert len(workers) == 1, workers
        killed_at = time.monotonic()
        os.kill(workers[0], signal.SIGKILL)
        await produce(stack.bootstrap, records(batch[4:]))  # two of them again: redelivered, not counted twice
        await counted(stack, "worker")
        # A figure for the log, not a claim: it depends on the machine (the README gives the measured one).
        print(f"worker SIGKILL to events published after it counted: {time.monotonic() - killed_at:.1f} s")
        assert "worker exited, restarting it" in stack.log_path.read_text()
    finally:
        await stack.stop(signal.SIGINT)
