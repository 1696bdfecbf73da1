"""The standby worker of ``cxpulse run`` on real processes: it takes over a SIGKILLed worker and counts
on exactly (a record redelivered across the takeover is not counted twice), and Ctrl-C stops it too."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from tests.events import contact_event
from tests.integration.stack import Stack, alive, descendants, eventually, produce

pytestmark = pytest.mark.integration


def log_entries(stack: Stack) -> list[dict[str, object]]:
    found = []
    for line in stack.log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            found.append(entry)
    return found


def argv(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


async def offered(stack: Stack, queue: str) -> int:
    response = await stack.get("/v1/kpis", {"queue": queue, "channel": "voice", "window": "60m"})
    items = response.json()["items"] if response.status_code == 200 else []
    return int(items[0]["offered"]) if items else 0


async def test_the_standby_takes_over_a_killed_worker_exactly_and_stops_with_the_run() -> None:
    stack = Stack("standby", ["--ephemeral"])
    await stack.start()
    assert stack.process is not None
    queue = f"standby-{uuid.uuid4().hex[:8]}"
    now = time.time()
    events = [contact_event("offered", f"{queue}-c{n}", now - 60 + n, queue) for n in range(5)]

    def records(batch: list[dict[str, object]]) -> list[tuple[str, bytes | None, bytes | None]]:
        return [("cx.calls", str(event["contact_id"]).encode(), json.dumps(event).encode()) for event in batch]

    try:
        async def standby_ready() -> int | None:
            ready = [e for e in log_entries(stack) if e.get("msg") == "standby worker ready to take over"]
            return int(str(ready[-1]["pid"])) if ready else None

        standby = await eventually(standby_ready, 120, "the supervisor's standby worker ready")
        assert b"--standby" in argv(standby)
        [worker] = [pid for pid in descendants(stack.process.pid) if b"worker" in argv(pid) and b"--standby" not in argv(pid)]
        await produce(stack.bootstrap, records(events[:3]))

        async def counted(target: int) -> int | None:
            count = await offered(stack, queue)
            return count if count >= target else None

        assert await eventually(lambda: counted(3), 120, "the first three offers counted") == 3
        os.kill(worker, signal.SIGKILL)
        await produce(stack.bootstrap, records(events[2:]))  # the third again: redelivered, not counted twice
        # By hand: five distinct offers, the third published twice.
        assert await eventually(lambda: counted(5), 120, "the offers after the kill counted") == 5
        takeovers = [e for e in log_entries(stack) if e.get("msg") == "standby worker took over"]
        assert [e["pid"] for e in takeovers] == [standby], takeovers
        assert alive(standby)
        started = descendants(stack.process.pid)
    finally:
        code = await stack.stop(signal.SIGINT)
    assert code == 0

    async def all_gone() -> bool:
        return not [pid for pid in started if alive(pid)]

    await eventually(all_gone, 30, f"every process of the run ({sorted(started)}) gone after Ctrl-C")
