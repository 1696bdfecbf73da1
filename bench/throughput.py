"""One throughput pass: publish a backlog, read it with the ceiling consumer, fold it with N workers, compare.

Shared by ``cxpulse bench pipeline`` (one worker, one and then many events per record) and ``cxpulse bench
scale`` (1, 2, 4 workers), so every figure of either is taken the same way on a cluster of its own:
1. N simulated events (calls, chats and surveys of the asked queues, a real day's shape from a fixed
   midnight) are published once, before any worker exists, ``events_per_record`` to a Kafka record.
2. A bare aiokafka consumer reads and aggregates them (the ceiling, timed from its first fetch).
3. The workers are started together with the API beside them and timed until GET /v1/status shows every
   acknowledged record counted. The rate is measured from the first counted record (so Python start-up
   and the consumer-group join, reported separately, are left out).
4. The served history is summed and compared, per queue and channel, with the ceiling's counts and the
   bench's own count of what it published.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from adapters.publisher import Publisher
from adapters.simulator import DIURNAL_LOAD, generate, queue_profiles
from bench import exactness
from bench.ceiling import Tally, consume
from bench.cluster import WORKER, Cluster
from bench.procfs import cpu_seconds
from bench.profile import Profiler
from bench.publishing import Ends, behind, publish_all
from bench.sampling import RssSampler

PROGRESS_EVERY_S = 0.2
# The backlog's events lie this many days back (history is kept 35 days behind the newest data), so they
# are all in the past when freshness probes arrive with event time now, however many events are asked for.
HISTORY_DAYS_BACK = 28
PROFILE_OUTPUT = Path(__file__).resolve().parent / "results" / "worker-profile.collapsed.txt"
# Every event is exactly comparable: no short abandons, whatever the queue's threshold would be.
SERVICE_SETTINGS = {"CXPULSE_DEFAULTS__SHORT_ABANDON_SECONDS": "0"}
# The workers' own account of the run: anything dead-lettered, late, duplicate or skipped explains a difference.
WORKER_COUNTERS = (
    "cxpulse_events_processed_total", "cxpulse_events_deadlettered_total", "cxpulse_events_late_total",
    "cxpulse_events_duplicate_total", "cxpulse_events_reread_total", "cxpulse_source_offset_gaps_total",
)  # fmt: skip


@dataclass(frozen=True)
class PassSpec:
    """What one pass publishes and how many workers fold it."""

    events: int
    events_per_record: int
    queues: int
    seed: int
    timeout: float
    workers: int = 1
    profile: bool = False


def midnight_utc(days_back: int) -> float:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today - timedelta(days=days_back)).timestamp()


class CpuWindow:
    """CPU seconds of the service's processes over a stretch of wall-clock time: who was busy."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.started = time.monotonic()
        self.cpu = {role: cpu_seconds(pid) for role, pid in pids.items()}

    def percent(self) -> dict[str, float]:
        wall = time.monotonic() - self.started
        return {
            f"{role}_cpu_percent": 100 * (cpu_seconds(pid) - self.cpu[role]) / wall for role, pid in self.pids.items()
        }


@dataclass
class Progress:
    """When the served numbers first moved and when they included every published record."""

    records: int
    first_at: float | None = None
    first_records: int = 0
    last_at: float = 0.0
    last_records: int = 0
    cpu: CpuWindow | None = None
    cpu_percent: dict[str, float] | None = None

    @property
    def done(self) -> bool:
        return self.last_records >= self.records

    def events_per_s(self, events: int) -> float | None:
        """Events counted after the first progress, over the time they took (records as the share of events)."""
        if self.first_at is None or self.last_at <= self.first_at:
            return None
        share = (self.last_records - self.first_records) / self.records
        return events * share / (self.last_at - self.first_at)


async def watch_progress(cluster: Cluster, ends: Ends, timeout_s: float, profiler: Profiler | None) -> Progress:
    """Poll /v1/status until every acknowledged record is counted (or the timeout). CPU use and the
    profiler start at the first progress, so they describe folding rather than start-up."""
    progress = Progress(sum(ends.values()))
    deadline = time.monotonic() + timeout_s
    while not progress.done and time.monotonic() < deadline:
        exited = cluster.exited_worker()
        if exited is not None:
            raise RuntimeError(f"a worker exited; see {cluster.log_path(exited)}")
        processed = await cluster.processed()
        progress.last_at = time.time()
        progress.last_records = progress.records - behind(ends, processed)
        if progress.first_at is None and progress.last_records > 0:
            progress.first_at, progress.first_records = progress.last_at, progress.last_records
            progress.cpu = CpuWindow({role: process.pid for role, process in cluster.processes.items()})
            if profiler is not None:
                await profiler.start()
        await asyncio.sleep(PROGRESS_EVERY_S)
    if progress.cpu is not None:
        progress.cpu_percent = progress.cpu.percent()
    return progress


def without_join(events: int, progress: Progress, total_s: float, milestones: dict[str, float]) -> float | None:
    """Events/s from the worker's start with the consumer-group join taken out (what the issue first named)."""
    join = group_join_s(milestones)
    return None if join is None else events * progress.last_records / progress.records / (total_s - join)


def group_join_s(milestones: dict[str, float]) -> float | None:
    """From Faust's consumer starting to the partitions being assigned: the consumer-group join."""
    if "worker_starting" not in milestones or "partitions_assigned" not in milestones:
        return None
    return milestones["partitions_assigned"] - milestones["worker_starting"]


async def per_worker(cluster: Cluster, samplers: dict[str, RssSampler]) -> list[dict[str, Any]]:
    """How the work was shared: what each worker folded, and the partition assignments it went through."""
    found = []
    for role in cluster.workers:
        metrics = await cluster.worker_metrics(role)
        found.append({
            "role": role,
            "events_folded": metrics.get("cxpulse_events_processed_total", 0.0),
            "assignments": cluster.assignments(role),
            "peak_rss_mb": samplers[role].peak_mb,
        })  # fmt: skip
    return found


async def fold(cluster: Cluster, spec: PassSpec, ends: Ends) -> dict[str, Any]:
    """Start the workers on the published backlog and time them until everything is counted."""
    pids, spawned_at = await cluster.start_workers(spec.workers)
    samplers = {role: RssSampler(pid) for role, pid in zip(cluster.workers, pids)}
    for sampler in samplers.values():
        sampler.start()
    profiler = Profiler(pids[0], PROFILE_OUTPUT) if spec.profile else None
    try:
        progress = await watch_progress(cluster, ends, spec.timeout, profiler)
    finally:
        for sampler in samplers.values():
            await sampler.stop()
    profile = await profiler.stop() if profiler is not None and progress.first_at is not None else None
    milestones = cluster.worker_milestones()
    total_s = progress.last_at - spawned_at
    group = await cluster.all_worker_metrics()
    return {
        "workers": spec.workers,
        "counted_all": progress.done,
        "records": progress.records,
        "records_counted": progress.last_records,
        "records_counted_at_first_count": progress.first_records,
        "events_per_s": progress.events_per_s(spec.events),
        "rate_measured_from": "the first counted record to all counted (GET /v1/status), excluding start-up",
        "seconds_first_counted_to_all": None if progress.first_at is None else progress.last_at - progress.first_at,
        "seconds_start_to_all": total_s,
        "events_per_s_from_start": spec.events * progress.last_records / progress.records / total_s,
        "events_per_s_from_start_without_group_join": without_join(spec.events, progress, total_s, milestones),
        "startup_s": None if progress.first_at is None else progress.first_at - spawned_at,
        "startup_steps_s": {name: moment - spawned_at for name, moment in milestones.items()},
        "startup_of": f"the first worker ({WORKER})",
        "group_join_s": group_join_s(milestones),
        "peak_rss_mb": max(sampler.peak_mb for sampler in samplers.values()),
        "cpu_percent_first_counted_to_all": progress.cpu_percent,
        "worker_counters": {name: value for name, value in group.items() if name in WORKER_COUNTERS},
        "per_worker": await per_worker(cluster, samplers),
        "profile": profile,
    }


async def served_counts(cluster: Cluster, first_time: str, last_time: str) -> dict[tuple[str, str], list[int]]:
    """The pipeline's counts per (queue, channel): /v1/history by day over every date the events touch
    (a day either side, for queues whose time zone moves an event across midnight)."""
    first = date.fromisoformat(first_time[:10]) - timedelta(days=1)
    last = date.fromisoformat(last_time[:10]) + timedelta(days=1)
    history = await cluster.get_json(f"/v1/history?from={first}&to={last}&interval=1d")
    return exactness.history_counts(history["items"])


@dataclass
class Seen:
    """The bench's own account of what it published: counts, and the event-time span for the history query."""

    tally: Tally
    first_time: str = ""
    last_time: str = ""

    def watch(self, events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for event in events:
            self.tally.add_event(event)
            self.first_time = self.first_time or event["time"]
            self.last_time = event["time"]
            yield event


async def publish_simulated(cluster: Cluster, spec: PassSpec) -> tuple[Seen, Ends, dict[str, Any]]:
    """Generate and publish the pass's events, counting them on the way; what was published."""
    started = time.perf_counter()
    stream = itertools.islice(
        # A real day's shape from a fixed midnight: the same events whatever the hour of the run.
        generate(
            midnight_utc(HISTORY_DAYS_BACK), None, seed=spec.seed, queues=queue_profiles(spec.queues),
            load=DIURNAL_LOAD,
        ),
        spec.events,
    )  # fmt: skip
    seen = Seen(Tally())
    async with Publisher(cluster.bootstrap, spec.events_per_record) as publisher:
        ends = await publish_all(publisher, seen.watch(stream))
    seconds = time.perf_counter() - started
    unattributed = seen.tally.resolve()
    if datetime.fromisoformat(seen.last_time).timestamp() >= time.time():
        raise ValueError(f"{spec.events:,} events reach past now: ask for fewer")
    records = sum(ends.values())
    published = {
        "events": seen.tally.events, "records": records, "seconds_generated_and_published": seconds,
        "first_event_time": seen.first_time, "last_event_time": seen.last_time,
        "records_by_partition": {f"{topic}/{partition}": end for (topic, partition), end in sorted(ends.items())},
        "totals": exactness.totals(seen.tally.counts),
        "surveys_without_a_published_contact": unattributed,
    }  # fmt: skip
    print(f"  generated and published {seen.tally.events:,} events ({seen.first_time} to {seen.last_time}) in "
          f"{records:,} records in {seconds:.1f} s", flush=True)  # fmt: skip
    return seen, ends, published


async def run_pass(cluster: Cluster, spec: PassSpec) -> dict[str, Any]:
    """Publish, run the ceiling, fold with the workers, compare counts (when everything was counted)."""
    seen, ends, published = await publish_simulated(cluster, spec)
    result: dict[str, Any] = {"events_per_record": spec.events_per_record, "workers": spec.workers}
    result["published"] = published
    ceiling = await consume(cluster.bootstrap, ends)
    result["ceiling"] = ceiling.figures()
    print(f"  ceiling (bare aiokafka consumer): {ceiling.tally.events:,} events in {ceiling.seconds:.1f} s, "
          f"{ceiling.tally.events / ceiling.seconds:,.0f} events/s", flush=True)  # fmt: skip
    print(f"  starting {spec.workers} worker(s) on the backlog", flush=True)
    pipeline = result["pipeline"] = await fold(cluster, spec, ends)
    rate = pipeline["events_per_s"]
    pipeline["ratio_to_ceiling"] = None if rate is None else rate / result["ceiling"]["events_per_s"]
    if not pipeline["counted_all"]:
        print(f"  the workers counted {pipeline['records_counted']:,} of {pipeline['records']:,} records in "
              f"{spec.timeout:.0f} s", flush=True)  # fmt: skip
        return result
    print(f"  pipeline: all counted {pipeline['seconds_start_to_all']:.1f} s after the workers started; "
          f"{rate:,.0f} events/s after the first count", flush=True)  # fmt: skip
    served = await served_counts(cluster, seen.first_time, seen.last_time)
    result["exactness"] = exactness.compare(
        {"published": seen.tally.counts, "ceiling": ceiling.tally.counts, "pipeline": served}
    )
    return result


def pass_failures(result: dict[str, Any], timeout_s: float) -> list[str]:
    """Why a pass failed: not everything counted in time, or counts that differ (with the first
    disagreements and what the workers say they set aside); empty when it did not."""
    label = f"{result['events_per_record']} event(s) per record, {result['workers']} worker(s)"
    if "exactness" not in result:
        return [f"{label}: the workers did not count every event within {timeout_s:.0f} s (--timeout)"]
    exact = result["exactness"]
    if exact["exact"]:
        return []
    counters = result["pipeline"]["worker_counters"]
    set_aside = ", ".join(f"{name} {counters[name]:,.0f}" for name in WORKER_COUNTERS[1:] if counters.get(name))
    return [f"{label}: the pipeline's final counts differ from the ceiling consumer's and the published events' in "
            f"{exact['mismatches']} places (workers: {set_aside or 'nothing dead-lettered, late or duplicate'}); first: "
            + "; ".join(str(m) for m in exact["first_mismatches"][:3])]  # fmt: skip
