"""Bounded state: the worker's memory at the end of each of 14 days of event time.

Fourteen simulated days are published one day at a time into a fresh worker; after each day is counted
and the worker has gone idle (its close cycle, which drops buckets past the grace period, has run),
the worker's resident memory and its own gauges of what it holds (open buckets, contacts,
customers) are read. The worker keeps each customer's offers for the repeat-contact window (7 days by
default, kpis/rules.py), so from day 1 to day 7 its state grows by design: that is the window filling,
not a leak. The figures that judge boundedness are day 8 (the first day with the window full) against
day 14; memory that grows with history keeps climbing between them, and the gauges say which kind of
state does.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Iterator

from adapters.publisher import Publisher
from bench.cluster import Cluster
from bench.procfs import cpu_seconds
from bench.publishing import Ends, merge_ends, publish_all, wait_counted
from bench.sampling import RssSampler

DAYS = 14
# The first day whose end finds the default 7-day repeat window full, and the last day simulated.
WINDOW_FULL_DAY = 8
LAST_DAY = DAYS
# The worker closes buckets and refreshes its gauges every 5 s (streams/folding.py CLOSE_INTERVAL_S), and
# closing a day's buckets takes seconds of CPU after the day is counted: a day ends for the measurement
# once the worker has been idle for longer than one cycle, so the cycle after its last event has run.
QUIET_S = 6.0
IDLE_CPU_SHARE = 0.1
IDLE_SAMPLE_S = 0.5
STATUS_EVERY_S = 0.25
GAUGES = {
    "buckets": "cxpulse_worker_buckets",
    "contacts": "cxpulse_worker_contacts_tracked",
    "customers": "cxpulse_worker_customers_tracked",
}


def by_day(events: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Split a time-ordered stream into UTC days (the simulator writes UTC times: the date is the prefix)."""
    for _, day in itertools.groupby(events, key=lambda event: event["time"][:10]):
        yield list(day)


@dataclass(frozen=True)
class DayEnd:
    day: int
    date: str
    events: int
    rss_mb: float
    peak_rss_mb: float
    buckets: float
    contacts: float
    customers: float


async def wait_idle(pid: int, timeout_s: float) -> float:
    """Wait until the process has used under IDLE_CPU_SHARE of a core for QUIET_S; the seconds it took."""
    started = last_busy = time.monotonic()
    last_cpu = cpu_seconds(pid)
    while True:
        await asyncio.sleep(IDLE_SAMPLE_S)
        now, cpu = time.monotonic(), cpu_seconds(pid)
        if cpu - last_cpu > IDLE_CPU_SHARE * IDLE_SAMPLE_S:
            last_busy = now
        last_cpu = cpu
        if now - last_busy >= QUIET_S:
            return now - started
        if now - started > timeout_s:
            raise TimeoutError(f"the worker was still busy {timeout_s:.0f} s after the day was counted")


async def measure_days(
    cluster: Cluster, publisher: Publisher, days: Iterable[list[dict[str, Any]]], timeout_s: float
) -> list[DayEnd]:
    """Publish each day, wait until it is counted and a close cycle has run, then read memory and gauges."""
    sampler = RssSampler(cluster.worker_pid())
    sampler.start()
    ends: Ends = {}
    found: list[DayEnd] = []
    try:
        for number, events in enumerate(days, 1):
            sampler.reset_peak()
            merge_ends(ends, await publish_all(publisher, events))
            await wait_counted(cluster.processed, ends, timeout_s, STATUS_EVERY_S)
            await wait_idle(cluster.worker_pid(), timeout_s)
            gauges = await cluster.worker_metrics()
            rss = sampler.read()
            found.append(
                DayEnd(number, events[0]["time"][:10], len(events), rss, sampler.peak_mb,
                       *(gauges.get(name, float("nan")) for name in GAUGES.values()))
            )  # fmt: skip
            print(f"    day {number} ({found[-1].date}): {len(events):,} events, worker RSS {rss:.0f} MB, "
                  f"{found[-1].buckets:.0f} buckets, {found[-1].contacts:.0f} contacts, {found[-1].customers:.0f} customers", flush=True)  # fmt: skip
    finally:
        await sampler.stop()
    return found


def memory_figures(days: list[DayEnd]) -> dict[str, Any]:
    """Day 8 against day 14 (the figures the target is about), with every day for the trend."""
    if len(days) != DAYS:
        raise ValueError(f"the simulated stretch has {len(days)} days of events, not {DAYS}: raise --memory-rate-scale")
    full, last = days[WINDOW_FULL_DAY - 1], days[LAST_DAY - 1]
    return {
        "days": [asdict(day) for day in days],
        "day1_rss_mb": days[0].rss_mb,
        "day8_rss_mb": full.rss_mb,
        "day14_rss_mb": last.rss_mb,
        "day14_to_day8": last.rss_mb / full.rss_mb,
        "peak_rss_mb": max(day.peak_rss_mb for day in days),
    }
