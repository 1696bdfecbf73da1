"""``cxpulse bench scorecard``: a simulated month of tickets and accounts through the worker's boards.

The simulator's CX layer (``generate(..., agents=False, cx=True)``) makes tickets and account events
beside the contacts; only the tickets and accounts are kept, decoded as the worker decodes them, and
fed in event-time order to one ``TicketBoard`` and one ``AccountBoard`` (no broker: the figure is the
fold's own cost and memory), taking their changes every 2,000 events as a worker's writes would. At the
end of each simulated week: tickets and customers held and this process's resident memory, so the
horizons (``tickets.horizon_days``, the boards' lateness line) show as levels rather than growth.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import orjson

from adapters.simulator import generate
from bench.pipeline import machine
from bench.procfs import rss_megabytes
from kpis.accounts import AccountBoard
from kpis.event import AccountEvent, TicketEvent
from kpis.tickets import DEFAULT_KEEP_DAYS, TicketBoard
from streams import topics
from streams.contract import decode_record

NAME = "scorecard"
DEFAULT_DAYS = 30
DEFAULT_RATE_SCALE = 0.5
TAKE_EVERY = 2_000
START = 1_798_761_600.0  # 2027-01-01T00:00:00Z: a fixed month, whatever the day the bench runs
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_OUTPUT = RESULTS / "scorecard-latest.json"
SUMMARY = "a simulated month of tickets and accounts through the worker's boards: events/s, entities held, memory by week"
DESCRIPTION = __doc__ or SUMMARY


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="simulated days (default: %(default)s)")
    parser.add_argument(
        "--rate-scale", type=float, default=DEFAULT_RATE_SCALE,
        help="the simulator's traffic scale; its tickets are a tenth of its contacts (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=7, help="simulator seed (default: %(default)s)")
    parser.add_argument(
        "--tickets-horizon-days", type=float, default=DEFAULT_KEEP_DAYS,
        help="days a ticket stays in state after its last event, tickets.horizon_days (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file (default: %(default)s)")


def _events(days: int, rate_scale: float, seed: int) -> list[TicketEvent | AccountEvent]:
    wanted = {"ticket": topics.TICKETS, "customer": topics.ACCOUNTS}
    events: list[TicketEvent | AccountEvent] = []
    for event in generate(START, days * 86400.0, seed=seed, rate_scale=rate_scale, cx=True):
        topic = wanted.get(event["type"].split(".", 1)[0])
        if topic is None:
            continue
        (item,) = decode_record(orjson.dumps(event), topic).items
        assert isinstance(item, (TicketEvent, AccountEvent))
        events.append(item)
    events.sort(key=lambda e: e.time)
    return events


def measure(days: int, rate_scale: float, seed: int, tickets_horizon_days: float = DEFAULT_KEEP_DAYS) -> dict[str, Any]:
    events = _events(days, rate_scale, seed)
    tickets, accounts = TicketBoard(tickets_horizon_days), AccountBoard()
    weeks: list[dict[str, Any]] = []
    next_week = START + 7 * 86400
    folding = 0.0
    for index, event in enumerate(events):
        if event.time >= next_week:
            weeks.append({"day": round((next_week - START) / 86400), "tickets_held": tickets.tracked,
                          "customers_held": accounts.tracked, "rss_mb": round(rss_megabytes(os.getpid()), 1)})  # fmt: skip
            next_week += 7 * 86400
        started = time.perf_counter()
        if isinstance(event, TicketEvent):
            tickets.apply(event)
        else:
            accounts.apply(event)
        if index % TAKE_EVERY == 0:
            tickets.take_changes()
            accounts.take_changes()
        folding += time.perf_counter() - started
    tickets.take_changes()
    accounts.take_changes()
    return {
        "machine": machine(),
        "parameters": {"days": days, "rate_scale": rate_scale, "seed": seed, "start": START, "tickets_horizon_days": tickets_horizon_days},
        "events": len(events),
        "ticket_events": sum(isinstance(e, TicketEvent) for e in events),
        "account_events": sum(isinstance(e, AccountEvent) for e in events),
        "events_per_s": round(len(events) / folding) if folding else None,
        "weeks": weeks,
        "end": {"tickets_held": tickets.tracked, "customers_held": accounts.tracked, "rss_mb": round(rss_megabytes(os.getpid()), 1)},
    }


def run(args: argparse.Namespace) -> int:
    result = measure(args.days, args.rate_scale, args.seed, args.tickets_horizon_days)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"cxpulse bench scorecard: {result['events']:,} ticket and account events over {args.days} simulated days, "
          f"{result['events_per_s']:,} events/s folded")  # fmt: skip
    for week in [*result["weeks"], {"day": "end", **result["end"]}]:
        print(f"  day {week['day']}: tickets held {week['tickets_held']:,}, customers held {week['customers_held']:,}, RSS {week['rss_mb']} MB")
    print(f"  results in {args.output}")
    return 0
