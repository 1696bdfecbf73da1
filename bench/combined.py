"""``cxpulse bench`` without a suite: every suite with its defaults, then one file and one table of headlines.

Each suite still writes its own ``<suite>-latest.json``; ``latest.json`` holds all of them from this run
(a suite that failed before writing its file is there as its exit code, never as an older file's
figures), so the figures the issues ask for are read from one place.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import pipeline, scale
from bench.suites import SUITES
from bench.tables import Row, number, table

OUTPUT = Path(__file__).resolve().parent / "results" / "latest.json"


def api_rows(result: dict[str, Any]) -> list[list[str]]:
    """The serving issue's figures: polled GET /v1/kpis rate and latency, and SSE clients held."""
    found = []
    for variant, label in (("plain", "GET /v1/kpis"), ("if_none_match", "GET /v1/kpis with If-None-Match")):
        run = result["kpis"][variant]
        latency = run["latency_s"] or {}
        found.append([f"{label}, {result['parameters']['clients']} clients",
                      f"{run['requests_per_s']:,.0f}/s, p50 {1000 * latency.get('p50', float('nan')):.0f} ms, "
                      f"p99 {1000 * latency.get('p99', float('nan')):.0f} ms, {run['errors']} errors", "", ""])  # fmt: skip
    found.append(["SSE clients held by one API process", f"{result['sse']['max_clients']:,}", "", ""])
    return found


def scale_rows(result: dict[str, Any]) -> list[Row]:
    """The scale-out figures as headline rows: events/s per worker count, and how it compares with one."""
    ups = scale.speed_ups(result["runs"])
    partitions = result["parameters"]["partitions"]
    return [
        [f"scale-out: {run['workers']} worker(s), {partitions} partitions, 1 event/record",
         f"{number(run['pipeline']['events_per_s'])} events/s"
         + ("" if ups[run["workers"]] is None else f" (x{ups[run['workers']]:.2f} of one worker)"), "", ""]
        for run in result["runs"]
    ]  # fmt: skip


def headline_rows(results: dict[str, Any]) -> list[Row]:
    found: list[Row] = []
    if isinstance(results.get("pipeline"), dict) and "targets" in results["pipeline"]:
        found += pipeline.rows(results["pipeline"])
    if isinstance(results.get("scale"), dict) and "runs" in results["scale"]:
        found += scale_rows(results["scale"])
    if isinstance(results.get("api"), dict) and "kpis" in results["api"]:
        found += api_rows(results["api"])
    return found


def run_all(config: str | None) -> int:
    """Run every suite in order with its defaults; write latest.json; the worst exit code."""
    started = time.time()
    results: dict[str, Any] = {}
    codes: dict[str, int] = {}
    for suite in SUITES:
        args: argparse.Namespace = suite.defaults()
        args.config = config
        codes[suite.name] = suite.run(args)
        output: Path = args.output
        fresh = output.exists() and output.stat().st_mtime >= started
        results[suite.name] = (
            json.loads(output.read_text()) if fresh else {"error": f"exit code {codes[suite.name]}, no result"}
        )
    combined = {
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "exit_codes": codes,
        "suites": results,
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(combined, indent=2) + "\n")
    print(f"\ncxpulse bench: every suite ({', '.join(codes)}), {os.cpu_count()} CPUs")
    print(table(headline_rows(results)))
    print(f"wrote {OUTPUT}")
    return max(codes.values())
