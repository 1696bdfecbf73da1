"""Exactness on real processes: the served numbers equal the reference calculation on the same events
after a worker is SIGKILLed and restarted, with two workers sharing the partitions, and with events
duplicated and out of order; and worker memory stays bounded as days of event time pass."""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from service.settings import load_settings
from tests import reference
from tests.integration.cluster import Cluster
from tests.integration.stack import eventually
from tests.traffic import arrival_order, assert_matches, reference_rules, simulated

pytestmark = pytest.mark.integration

DAY = "2026-03-10"
START = datetime.fromisoformat(f"{DAY}T06:00:00+00:00").timestamp()
CONFIG = """\
kpi:
  grace_minutes: 60
defaults:
  short_abandon_seconds: 5
queues:
  billing:
    service_level_seconds: 30
  sales:
    service_level_formula: abandons_within_count_as_met
"""


def config_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "cxpulse.yaml"
    path.write_text(CONFIG + extra)
    return path


def day_groups(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["queue"], row["channel"]): row for row in rows}


async def assert_history_matches(cluster: Cluster, events: list[dict[str, Any]], config: Path) -> None:
    """The day and every hour of it, for every queue, channel and roll-up."""
    rules = reference_rules(load_settings(config, environ={}))
    day = await cluster.get("/v1/history", {"from": DAY, "to": DAY, "interval": "1d"})
    start = int(datetime.fromisoformat(f"{DAY}T00:00:00+00:00").timestamp())
    expected = reference.compute(events, start, start + 86400, rules)
    assert_matches(day_groups(day["items"]), expected, f"day {DAY}")
    hours = await cluster.get("/v1/history", {"from": DAY, "to": DAY, "interval": "60m"})
    by_hour: dict[str, list[dict[str, Any]]] = {}
    for row in hours["items"]:
        by_hour.setdefault(row["start"], []).append(row)
    checked = 0
    for hour_start, rows in sorted(by_hour.items()):
        begin = int(datetime.fromisoformat(hour_start.replace("Z", "+00:00")).timestamp())
        if not START - 3600 <= begin <= START + 4 * 3600:
            continue
        assert_matches(day_groups(rows), reference.compute(events, begin, begin + 3600, rules), f"hour {hour_start}")
        checked += 1
    assert checked >= 4


@pytest.mark.parametrize("moment", ["after-commit", "before-commit"])
async def test_sigkill_and_restart_neither_lose_nor_double_count(tmp_path: Path, moment: str) -> None:
    """Killed once the worker has committed offsets (the restart re-reads from the resume point),
    or right after it started counting (nothing committed: everything is redelivered)."""
    config = config_file(tmp_path)
    events = simulated(seed=21, start=START, hours=3, rate_scale=2.0)
    arrivals = arrival_order(events, seed=21)
    cut = len(arrivals) * 6 // 10
    cluster = Cluster(f"sigkill-{moment}", config)
    await cluster.start(workers=1)
    try:
        await cluster.publish(arrivals[:cut])

        async def committed() -> int | None:
            return await cluster.committed() or None

        async def counting() -> int | None:
            return await cluster.processed() or None

        if moment == "after-commit":
            await eventually(committed, 120, "the worker committing source offsets")
        else:
            await eventually(counting, 120, "the worker counting")
        await cluster.kill("worker-0", signal.SIGKILL)
        # At-least-once redelivery: a producer retries a slice it had already sent.
        await cluster.publish(arrivals[cut // 2 : cut] + arrivals[cut:])
        await cluster.start_worker("worker-0")
        await cluster.wait_counted()
        await assert_history_matches(cluster, events, config)
        if moment == "after-commit":
            assert await cluster.worker_metric("worker-0", "cxpulse_events_reread_total") > 0
    finally:
        await cluster.stop()


async def test_two_workers_give_the_numbers_of_one(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    events = simulated(seed=22, start=START, hours=3, rate_scale=2.0)
    arrivals = arrival_order(events, seed=22)
    cluster = Cluster("two-workers", config, partitions=4)
    await cluster.start(workers=2)
    try:
        await cluster.publish(arrivals)
        await cluster.wait_counted()
        await assert_history_matches(cluster, events, config)

        async def both_own_partitions() -> bool:
            owned = [await cluster.worker_metric(w, "cxpulse_worker_partitions") for w in ("worker-0", "worker-1")]
            return all(count > 0 for count in owned) and sum(owned) == 4

        await eventually(both_own_partitions, 60, "both workers owning partitions")
    finally:
        await cluster.stop()


async def test_worker_memory_stays_bounded_as_days_pass(tmp_path: Path) -> None:
    """Buckets, contacts and customers held by the worker level off once the grace period, the contact
    horizon and the repeat window have passed, also after a restart."""
    config = config_file(tmp_path, "worker:\n  contact_horizon_minutes: 120\n")
    days_start = datetime(2026, 4, 1, tzinfo=timezone.utc).timestamp()
    cluster = Cluster("memory", config, partitions=2)
    await cluster.start(workers=1)

    async def gauges() -> tuple[float, float]:
        return (
            await cluster.worker_metric("worker-0", "cxpulse_worker_buckets"),
            await cluster.worker_metric("worker-0", "cxpulse_worker_contacts_tracked"),
        )

    async def settled() -> tuple[float, float]:
        """Once everything is counted, the gauges (refreshed by the worker's 5 s close cycle) must
        read the same twice 6 s apart: a whole close cycle changed nothing."""
        await cluster.wait_counted()
        last = await gauges()
        while True:
            await asyncio.sleep(6)
            now = await gauges()
            if now == last:
                return now
            last = now

    try:
        await cluster.publish(simulated(seed=31, start=days_start, hours=48, rate_scale=0.3))
        after_two_days = await settled()
        await cluster.publish(simulated(seed=32, start=days_start + 2 * 86400, hours=120, rate_scale=0.3))
        after_seven_days = await settled()
        assert after_seven_days[0] <= after_two_days[0] * 1.3 + 50, (after_two_days, after_seven_days)
        assert after_seven_days[1] <= after_two_days[1] * 1.3 + 50, (after_two_days, after_seven_days)
        await cluster.kill("worker-0", signal.SIGKILL)
        await cluster.start_worker("worker-0")
        await cluster.publish(simulated(seed=33, start=days_start + 7 * 86400, hours=2, rate_scale=0.3))
        after_restart = await settled()
        assert after_restart[0] <= after_two_days[0] * 1.3 + 50, (after_two_days, after_restart)
        assert after_restart[1] <= after_two_days[1] * 1.3 + 50, (after_two_days, after_restart)
    finally:
        await cluster.stop()
