"""The Grafana dashboard against a real Prometheus scraping a real cxpulse with simulated traffic.

Every query of deploy/grafana/dashboards/cxpulse-overview.json (panel targets and template variables),
with the Grafana variables filled in the way Grafana fills them, must return data; every cxpulse metric
it names must exist. The provisioning files must agree with the dashboard, and the deployed
prometheus.yml must pass promtool (and is the config the test's Prometheus runs, with local targets).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kpis.catalog import JUDGED
from tests.events import at, contact_event
from tests.integration.prometheus import Prometheus, PrometheusError
from tests.integration.stack import Stack, eventually, produce

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_YML = REPO / "deploy/prometheus/prometheus.yml"
DASHBOARD = REPO / "deploy/grafana/dashboards/cxpulse-overview.json"
DATASOURCES = REPO / "deploy/grafana/provisioning/datasources/prometheus.yml"
PROVIDER = REPO / "deploy/grafana/provisioning/dashboards/cxpulse.yml"

# What Grafana puts in place of its variables: "All" of a multi-value variable is its allValue,
# $__rate_interval is at least 4 scrape intervals, $__range the dashboard's default time range.
GRAFANA_DEFAULTS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h", "__range_s": "3600"}
# Metrics that carry queue and channel labels: every selector of them must use the dashboard's filters.
FILTERED = re.compile(
    r"^cxpulse_(contacts_|handle_|survey_|resolution_|wait_seconds|window_|waiting_|longest_|agents_|[a-z_]+_agents$)"
)
SELECTOR = re.compile(r"\b(cxpulse_[a-z0-9_]+)(\{[^}]*\})?")
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]")
LABEL_VALUES = re.compile(r"^\s*label_values\((?:(.+),\s*)?(\w+)\)\s*$")


# Stat panels that roll the API's window gauges up over all queues, the /v1/kpis field of the roll-up
# row they must agree with, and how far apart they may be: traffic goes on between the scrape and the
# API call (counts by a few contacts), but a wrong weighting of means or ratios is off by far more.
ROLL_UP_STATS = {
    "Offered ($window)": ("offered", 0.03, 5),
    "Answered ($window)": ("answered", 0.03, 5),
    "Abandoned ($window)": ("abandoned", 0.03, 5),
    "Short abandons ($window)": ("short_abandoned", 0.03, 5),
    "Handled ($window)": ("handled", 0.03, 5),
    "Survey responses ($window)": ("surveys", 0.03, 5),
    "Contacts waiting": ("waiting_now", 0.05, 5),
    "Abandon rate ($window)": ("abandon_rate", 0, 0.01),
    "Service level ($window)": ("service_level", 0, 0.01),
    "Average speed of answer ($window)": ("asa_s", 0.03, 0),
    "Longest wait ($window)": ("max_wait_s", 0, 0),
    "Average handle time ($window)": ("aht_s", 0.03, 0),
    # Agent time grows every second on both sides (open segments count up to each one's clock).
    "Occupancy ($window)": ("occupancy", 0, 0.02),
    "Aux share ($window)": ("aux_share", 0, 0.02),
}


def load_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def walk_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from walk_panels(panel.get("panels", []))


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every Prometheus target, through rows and collapsed rows."""
    return [
        (panel["title"], target["expr"])
        for panel in walk_panels(dashboard["panels"])
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def variable_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            found.append((variable["name"], query["query"] if isinstance(query, dict) else query))
    return found


def variable_values(dashboard: dict[str, Any]) -> dict[str, list[str]]:
    """Values to try for each dashboard variable: All (its allValue) or every custom option."""
    values: dict[str, list[str]] = {}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "custom":
            values[variable["name"]] = [option.strip() for option in variable["query"].split(",")]
        else:
            assert variable.get("includeAll") and variable.get("allValue"), (
                f"${variable['name']} needs All with an allValue"
            )
            values[variable["name"]] = [variable["allValue"]]
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in values:
            raise KeyError(f"unknown Grafana variable ${name} in {expr}")
        return values[name]

    return VARIABLE.sub(replace, expr)


def expansions(expr: str, options: dict[str, list[str]]) -> list[str]:
    """The expr once per value of each custom variable it uses (every $window), else once."""
    used = {next(g for g in m.groups() if g) for m in VARIABLE.finditer(expr)}
    varying = [name for name in used if len(options.get(name, [])) > 1]
    assignments = [{name: values[0] for name, values in options.items()}]
    for name in varying:
        assignments = [{**a, name: value} for a in assignments for value in options[name]]
    return sorted({substitute(expr, {**GRAFANA_DEFAULTS, **a}) for a in assignments})


def provisioned_datasource() -> dict[str, Any]:
    sources = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert len(sources) == 1, sources
    return sources[0]


# -- static checks -------------------------------------------------------------------------------


def test_dashboard_refers_to_the_provisioned_data_source() -> None:
    dashboard = load_dashboard()
    source = provisioned_datasource()
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    references = [
        (panel.get("title"), reference)
        for panel in walk_panels(dashboard["panels"])
        for reference in [panel.get("datasource"), *[t.get("datasource") for t in panel.get("targets", [])]]
        if reference is not None
    ] + [(f"${v['name']}", v["datasource"]) for v in dashboard["templating"]["list"] if "datasource" in v]
    assert references
    wrong = [(title, ref) for title, ref in references if ref != {"type": "prometheus", "uid": source["uid"]}]
    assert not wrong, f"data source references other than uid {source['uid']!r}: {wrong}"
    untargeted = [p["title"] for p in walk_panels(dashboard["panels"]) if p["type"] != "row" and "datasource" not in p]
    assert not untargeted, f"panels without a data source: {untargeted}"
    provider = yaml.safe_load(PROVIDER.read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/var/lib/grafana/dashboards")


def test_dashboard_layout_and_filters() -> None:
    dashboard = load_dashboard()
    assert dashboard["schemaVersion"] >= 39 and dashboard["uid"]
    panels = list(walk_panels(dashboard["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    for panel in panels:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, (panel["title"], pos)
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        pos = panel["gridPos"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]
    assert {"row", "stat", "timeseries", "table"} <= {panel["type"] for panel in panels}
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["queue"]["multi"] and variables["channel"]["multi"]
    assert variables["window"]["query"].replace(" ", "") == "15m,30m,60m"
    queries = panel_queries(dashboard)
    assert len(queries) >= 40
    for title, expr in queries:
        for name, matchers in SELECTOR.findall(expr):
            if FILTERED.match(name):
                assert 'queue=~"$queue"' in matchers and 'channel=~"$channel"' in matchers, (title, expr)
            if name.startswith("cxpulse_window_"):
                assert 'window="$window"' in matchers, (title, expr)


def test_promtool_accepts_the_deployed_prometheus_config() -> None:
    result = subprocess.run(
        ["/usr/bin/promtool", "check", "config", str(PROMETHEUS_YML)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


# -- against real processes ------------------------------------------------------------------------


def local_config(api_port: int, worker_port: int, sentiment_port: int) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml (jobs, labels, relabelling, rule files) with local static
    targets in place of the compose service names, a 1 s scrape interval and no Alertmanager."""
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    for key in ("scrape_interval", "evaluation_interval"):
        config.setdefault("global", {})[key] = "1s"
    config["global"]["scrape_timeout"] = "1s"
    config["rule_files"] = [str(PROMETHEUS_YML.parent / path) for path in config.get("rule_files") or []]
    config.pop("alerting", None)
    local = {
        "cxpulse-api": f"127.0.0.1:{api_port}", "cxpulse-worker": f"127.0.0.1:{worker_port}",
        "cxpulse-sentiment": f"127.0.0.1:{sentiment_port}",
    }  # fmt: skip
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == set(local), f"prometheus.yml jobs {sorted(jobs)}, the dashboard expects {sorted(local)}"
    for name, job in jobs.items():
        job.pop("scrape_interval", None)
        job.pop("scrape_timeout", None)
        labels = [static.get("labels", {}) for static in job.get("static_configs", [])]
        for discovery in [key for key in job if key.endswith("_sd_configs") or key == "static_configs"]:
            del job[discovery]
        job["static_configs"] = [{"targets": [local[name]], "labels": {k: v for d in labels for k, v in d.items()}}]
    return config



def target_for_every_kpi(directory: Path) -> Path:
    """A targets file with one all-queues target per KPI that takes one, so every target line of the
    dashboard has a series to draw (the values only need to be valid in the KPI's unit)."""
    values = {"ratio": (0.7, 0.8), "seconds": (60.0, 30.0), "score": (3.0, 4.0), "count": (5.0, 2.0), "amount": (90.0, 100.0)}
    entries = [
        {"kpi": kpi.name, "baseline": values[kpi.unit][0], "target": values[kpi.unit][1],
         "start": "2026-01-01", "due": "2027-12-31"}
        for kpi in JUDGED
    ]  # fmt: skip
    (directory / "targets.yaml").write_text(yaml.safe_dump({"targets": entries}))
    config = directory / "cxpulse.yaml"
    # An hourly cost and a customer lifespan, so cost per contact and CLV have values to draw.
    config.write_text(yaml.safe_dump({
        "targets": {"file": str(directory / "targets.yaml")}, "defaults": {"hourly_cost": 30.0},
        "accounts": {"lifespan_years": 5.0},
    }))  # fmt: skip
    return config


@pytest.fixture(scope="module")
async def scraped(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Stack, Prometheus]]:
    """cxpulse with fast simulated traffic and a target on every KPI, scraped every second by Prometheus."""
    config = target_for_every_kpi(tmp_path_factory.mktemp("grafana"))
    stack = Stack("grafana", extra_args=["--simulate", "--queues", "6", "--rate-scale", "5"], config=config)
    await stack.start()
    try:
        prometheus = Prometheus("grafana-prometheus", config=local_config(stack.api_port, stack.metrics_port, stack.sentiment_metrics_port))
        await prometheus.start()
        try:
            yield stack, prometheus
        finally:
            assert await prometheus.stop() == 0, f"Prometheus did not stop cleanly, see {prometheus.log_path}"
    finally:
        await stack.stop()


async def publish_rare_events(stack: Stack) -> str:
    """What simulated traffic does not make for sure, or not in time: a dead letter, a duplicate, a late
    event, a contact left waiting, an abandon with its wait and a short one, a repeat contact, and a
    survey with every answer, agents in every state (the simulator sends no agent events). Random
    traffic may lack any of them for minutes (it did, at night, when the simulator followed the UTC
    hour), so the test makes them itself."""
    queue = f"grafana-{uuid.uuid4().hex[:6]}"
    now = time.time()
    waiting = contact_event("offered", "w1", now, queue)  # never answered: waiting now
    handled = [
        contact_event("offered", "s1", now - 60, queue),
        contact_event("answered", "s1", now - 50, queue, agent_id="a1"),
        contact_event("ended", "s1", now - 20, queue, agent_id="a1", talk_s=30, hold_s=0),
        contact_event("wrapup_ended", "s1", now - 10, queue, agent_id="a1", acw_s=10),
    ]
    abandons = [
        contact_event("offered", "ab1", now - 100, queue),
        contact_event("abandoned", "ab1", now - 60, queue, wait_s=40),
        contact_event("offered", "ab2", now - 30, queue),
        contact_event("abandoned", "ab2", now - 28, queue, wait_s=2),
        contact_event("offered", "rep1", now - 8, queue, customer_id="cust-s1"),
        contact_event("answered", "rep1", now - 6, queue, customer_id="cust-s1", agent_id="a1", wait_s=2),
    ]
    survey = {
        "event_id": f"survey-{queue}",
        "type": "survey.submitted",
        "time": at(now - 5),
        "contact_id": "s1",
        "customer_id": "cust-s1",
        "queue": queue,
        "channel": "voice",
        "csat": 5,
        "nps": 9,
        "ces": 2,
        "resolved": True,
    }
    purchase = {"event_id": f"{queue}-purchase", "type": "customer.purchase", "time": at(now - 30),
                "customer_id": "cust-000001", "amount": 120.0, "currency": "EUR"}  # fmt: skip

    def agent(agent_id: str, ago_s: float, state: str, **extra: Any) -> tuple[str, bytes, bytes]:
        event = {"event_id": f"{agent_id}-{state}", "type": "agent.state_changed", "time": at(now - ago_s),
                 "agent_id": agent_id, "state": state, "queues": [queue], **extra}  # fmt: skip
        return ("cx.agents", agent_id.encode(), json.dumps(event).encode())

    agents = [
        agent(f"{queue}-ag1", 900, "available"),
        agent(f"{queue}-ag2", 900, "available"),
        agent(f"{queue}-ag2", 600, "on_contact", contact_id="s1", queue=queue),
        agent(f"{queue}-ag3", 900, "aux", reason="break"),
        agent(f"{queue}-ag4", 60, "after_contact_work"),
    ]
    records = [
        *agents,
        ("cx.calls", b"k-broken", b'{"event_id": "broken", "type": "contact.offered"'),
        ("cx.calls", b"cust-w1", json.dumps(waiting).encode()),
        ("cx.calls", b"cust-w1", json.dumps(waiting).encode()),
        *[("cx.calls", b"cust-s1", json.dumps(event).encode()) for event in handled],
        *[("cx.calls", event["customer_id"].encode(), json.dumps(event).encode()) for event in abandons],
        ("cx.surveys", b"cust-s1", json.dumps(survey).encode()),
        # a purchase in every rolling window: with the configured lifespan, CLV has a value whatever
        # the simulated customers bought lately
        ("cx.accounts", b"cust-000001", json.dumps(purchase).encode()),
    ]
    await produce(stack.bootstrap, records)
    await publish_late_event(stack, queue)
    return queue


async def publish_late_event(stack: Stack, queue: str) -> None:
    """An event two days old. Late only once the worker has closed its partition's first buckets
    (closing is periodic), so the test sends another while none has been counted late yet."""
    contact = f"late-{uuid.uuid4().hex[:6]}"
    late = contact_event("offered", contact, time.time() - 2 * 86400, queue)
    await produce(stack.bootstrap, [("cx.calls", contact.encode(), json.dumps(late).encode())])


async def test_every_dashboard_query_returns_data(scraped: tuple[Stack, Prometheus]) -> None:
    stack, prometheus = scraped
    started = time.monotonic()
    probe_queue = await publish_rare_events(stack)
    targets = await eventually(prometheus.all_targets_up, 60, "the cxpulse targets up in Prometheus")
    assert {t["labels"]["job"] for t in targets} == {"cxpulse-api", "cxpulse-worker", "cxpulse-sentiment"}

    dashboard = load_dashboard()
    options = variable_values(dashboard)
    checks = [(title, expr, query) for title, expr in panel_queries(dashboard) for query in expansions(expr, options)]
    for _, _, query in checks:
        assert "$" not in query, f"unsubstituted variable in {query}"
    panels_of: dict[str, set[str]] = {}
    for title, expr, _ in checks:
        for name, _ in SELECTOR.findall(expr):
            panels_of.setdefault(name, set()).add(title)
    metric_names = sorted(panels_of)
    failures: list[str] = []
    nan_only: list[str] = []  # data, but 0/0 for now (e.g. no survey in a rate interval): shown, not failed
    late_sent = [time.monotonic()]

    async def all_return_data() -> bool:
        failures.clear()
        nan_only.clear()
        if time.monotonic() - late_sent[0] > 3 and not await prometheus.series("cxpulse_events_late_total"):
            await publish_late_event(stack, probe_queue)
            late_sent[0] = time.monotonic()
        for name in metric_names:
            if not await prometheus.series(name):
                failures.append(f"metric {name} does not exist in Prometheus (panels {sorted(panels_of[name])})")
        for title, expr, query in checks:
            try:
                result = await prometheus.query(query)
            except PrometheusError as error:
                failures.append(f"panel {title!r}: {query}\n    Prometheus error: {error}")
                continue
            if not result:
                failures.append(f"panel {title!r}: no series for {query}")
            elif all(sample["value"][1] == "NaN" for sample in result):
                nan_only.append(f"{title}: {query}")
        for name, query in variable_queries(dashboard):
            match = LABEL_VALUES.match(substitute(query, {**GRAFANA_DEFAULTS, **{k: v[0] for k, v in options.items()}}))
            assert match, f"${name}: only label_values(metric, label) queries are checked, not {query}"
            metric, label = match.groups()
            if not await prometheus.label_values(label, metric):
                failures.append(f"variable ${name}: no values for {query}")
        return not failures

    try:
        await eventually(all_return_data, 120, "every dashboard query to return data")
    except AssertionError:
        pytest.fail(f"{len(failures)} of {len(checks)} dashboard queries/metrics without data:\n" + "\n".join(failures))

    # The variables offer what the API serves: the queues and channels of /v1/kpis (without roll-ups).
    rows = (await stack.get_json("/v1/kpis", {"window": "60m"}))["items"]
    served_queues = {row["queue"] for row in rows} - {"*"}
    served_channels = {row["channel"] for row in rows} - {"*"}
    assert probe_queue in served_queues
    offered_queues = set(await prometheus.label_values("queue", "cxpulse_contacts_offered_total"))
    offered_channels = set(await prometheus.label_values("channel", "cxpulse_contacts_offered_total"))
    assert served_queues <= offered_queues, f"queues served but not offered in $queue: {served_queues - offered_queues}"
    assert served_channels <= offered_channels
    # The stats that roll the window gauges up show what the API's roll-up row (queue "*", channel "*") says.
    stats = {
        panel["title"]: panel["targets"][0]["expr"]
        for panel in walk_panels(dashboard["panels"])
        if panel["type"] == "stat"
    }
    mismatches: list[str] = []

    async def stats_match_the_api() -> bool:
        mismatches.clear()
        (row,) = (await stack.get_json("/v1/kpis", {"window": "60m", "queue": "*", "channel": "*"}))["items"]
        for title, (field, relative, absolute) in ROLL_UP_STATS.items():
            query = substitute(stats[title], {**GRAFANA_DEFAULTS, "queue": ".*", "channel": ".*", "window": "60m"})
            (sample,) = await prometheus.query(query)
            shown = float(sample["value"][1])
            if row[field] is None or abs(shown - row[field]) > max(relative * abs(row[field]), absolute, 1e-9):
                mismatches.append(
                    f"panel {title!r} shows {shown} for window 60m, /v1/kpis says {field}={row[field]}: {query}"
                )
        return not mismatches

    try:
        await eventually(stats_match_the_api, 30, "the roll-up stats to match /v1/kpis")
    except AssertionError:
        pytest.fail("stats differ from the API's roll-up row:\n" + "\n".join(mismatches))

    print("\nqueries whose series are all NaN for now:\n  " + "\n  ".join(nan_only))
    print(
        f"{len(checks)} queries over {len(metric_names)} metrics returned data within {time.monotonic() - started:.0f} s"
    )
