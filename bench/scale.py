"""``cxpulse bench scale``: the throughput pass with 1, 2 and 4 worker processes sharing 8 partitions.

Each worker count gets a cluster of its own (broker, topics with ``--partitions`` partitions, API) and
the same backlog, one event per record; the workers are started together in one consumer group and
timed, as in ``cxpulse bench pipeline``, from the first counted record to all counted (GET /v1/status),
then the served counts are compared with the ceiling's and the published ones. Beside each rate: how
many events each worker folded and how many partition assignments it went through (more than one is
a rebalance inside the measured stretch).

Each worker folds only its own partitions, so workers add speed only when each has a core to itself:
on a machine with fewer free cores than workers this table shows the cost of spreading the work
(group coordination, rebalances, processes competing for the same cores), not the speed-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.cluster import Cluster, run_on
from bench.pipeline import machine
from bench.tables import Row, number, table
from bench.throughput import SERVICE_SETTINGS, PassSpec, pass_failures, run_pass

NAME = "scale"
DEFAULT_EVENTS = 300_000
DEFAULT_WORKERS = "1,2,4"
DEFAULT_PARTITIONS = 8
DEFAULT_QUEUES = 200
DEFAULT_SEED = 7
DEFAULT_TIMEOUT_S = 900.0
EVENTS_PER_RECORD = 1
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "scale-latest.json"
HEADER = ["workers", "events/s, first count to all counted", "vs 1 worker", "first count after start",
          "events folded per worker", "assignments per worker", "final counts"]  # fmt: skip

SUMMARY = f"""\
{DEFAULT_EVENTS:,} simulated events, one per record, on {DEFAULT_PARTITIONS} partitions, folded by 1, 2 and 4
worker processes in turn: events/s of each from the first count to all counted, final counts checked;
on a machine with fewer cores than workers it shows the overhead of scaling out, not the speed-up."""
DESCRIPTION = (__doc__ or "").partition("\n\n")[2] + "\nPrints one table and writes JSON to --output."


def worker_counts(text: str) -> list[int]:
    """``1,2,4`` -> [1, 2, 4]: positive and distinct, in the order given."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of worker counts") from None
    if not counts or any(count < 1 for count in counts) or len(set(counts)) != len(counts):
        raise argparse.ArgumentTypeError(f"{text!r}: give distinct worker counts of at least 1, e.g. 1,2,4")
    return counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events",
        type=int,
        default=DEFAULT_EVENTS,
        help="events published for each worker count (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=worker_counts,
        default=worker_counts(DEFAULT_WORKERS),
        help=f"worker counts to measure, comma-separated (default: {DEFAULT_WORKERS})",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=DEFAULT_PARTITIONS,
        help="partitions of every topic (CXPULSE_KAFKA__PARTITIONS); at least the largest worker count (default: %(default)s)",
    )
    parser.add_argument("--queues", type=int, default=DEFAULT_QUEUES, help="simulated queues (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="simulation seed (default: %(default)s)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds the workers may take to count what was published (default: %(default)s)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="JSON result file (default: bench/results/scale-latest.json)",
    )


def run(args: argparse.Namespace) -> int:
    if args.partitions < max(args.workers):
        raise SystemExit(
            f"--partitions {args.partitions} leaves workers without a partition: give at least {max(args.workers)}"
        )
    return asyncio.run(bench(args))


def spec(args: argparse.Namespace, workers: int) -> PassSpec:
    return PassSpec(args.events, EVENTS_PER_RECORD, args.queues, args.seed, args.timeout, workers)


async def one_count(args: argparse.Namespace, workers: int) -> tuple[dict[str, Any] | None, list[str]]:
    """One worker count on a cluster of its own; the pass (None if it broke off) and its failures."""
    settings = {**SERVICE_SETTINGS, "CXPULSE_KAFKA__PARTITIONS": str(args.partitions)}
    cluster = Cluster(f"scale-{workers}", args.config, settings)
    print(f"cxpulse bench scale: {workers} worker(s) on {args.partitions} partitions (service logs in "
          f"{cluster.workdir})", flush=True)  # fmt: skip
    found: dict[str, Any] | None = None

    async def timed(running: Cluster) -> list[str]:
        nonlocal found
        found = await run_pass(running, spec(args, workers))
        return pass_failures(found, args.timeout)

    failures = await run_on(cluster, f"{workers} worker(s)", timed)
    return found, failures


def speed_ups(runs: list[dict[str, Any]]) -> dict[int, float | None]:
    """Each worker count's events/s over one worker's, when a one-worker run has a rate."""
    one = next((run["pipeline"]["events_per_s"] for run in runs if run["workers"] == 1), None)
    return {
        run["workers"]: None
        if not one or run["pipeline"]["events_per_s"] is None
        else run["pipeline"]["events_per_s"] / one
        for run in runs
    }


def shares(per_worker: list[dict[str, Any]]) -> str:
    """Each worker's share of the events folded, in start order."""
    total = sum(worker["events_folded"] for worker in per_worker)
    return " / ".join(f"{worker['events_folded'] / total:.0%}" if total else "n/a" for worker in per_worker)


def row(run: dict[str, Any], speed_up: float | None) -> Row:
    pipe = run["pipeline"]
    exact = run.get("exactness")
    counts = (
        "not all counted" if exact is None else ("equal" if exact["exact"] else f"{exact['mismatches']} differences")
    )
    return [
        str(run["workers"]),
        number(pipe["events_per_s"]),
        number(speed_up, 2, "x"),
        number(pipe["startup_s"], 1, " s"),
        shares(pipe["per_worker"]),
        " / ".join(str(worker["assignments"]) for worker in pipe["per_worker"]),
        counts,
    ]


def notes(result: dict[str, Any]) -> list[str]:
    cpus = result["machine"]["cpu_count"]
    most = max(result["parameters"]["workers"])
    found = [f"{cpus} CPUs shared by the broker, the API, this bench and the workers: "
             + ("fewer cores than workers plus the broker and the API, so this table shows the overhead of "
                "scaling out, not the speed-up a core per worker would give."
                if cpus is None or cpus < most + 2 else "each worker can have a core of its own.")]  # fmt: skip
    if any(worker["assignments"] > 1 for run in result["runs"] for worker in run["pipeline"]["per_worker"]):
        found.append("a worker went through more than one partition assignment: rebalance pauses are inside "
                     "the measured stretch.")  # fmt: skip
    return found


def rows(result: dict[str, Any]) -> list[Row]:
    ups = speed_ups(result["runs"])
    return [row(run, ups[run["workers"]]) for run in result["runs"]]


async def bench(args: argparse.Namespace) -> int:
    started = time.monotonic()
    parameters = {
        "events": args.events, "events_per_record": EVENTS_PER_RECORD, "workers": args.workers,
        "partitions": args.partitions, "queues": args.queues, "seed": args.seed, "timeout_s": args.timeout,
        "service_settings": {**SERVICE_SETTINGS, "CXPULSE_CONFIG": args.config},
    }  # fmt: skip
    result: dict[str, Any] = {"suite": NAME, "machine": machine(), "parameters": parameters, "runs": []}
    failures: list[str] = []
    for workers in args.workers:
        found, failed = await one_count(args, workers)
        if found is not None:
            result["runs"].append(found)
        failures += failed
    result["machine"]["load_average_at_end"] = os.getloadavg()
    result["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result["run_seconds"] = round(time.monotonic() - started, 1)
    result["speed_up_over_one_worker"] = {str(count): up for count, up in speed_ups(result["runs"]).items()}
    result["failures"] = failures
    result["notes"] = notes(result)
    print(f"cxpulse scale-out benchmark: {args.events:,} events, one per record, {args.partitions} partitions")
    print(table(rows(result), HEADER))
    print("\n".join([*(f"note: {note}" for note in result["notes"]), *(f"FAILED: {failure}" for failure in failures)]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output} ({result['run_seconds']:.0f} s)")
    return 1 if failures else 0
