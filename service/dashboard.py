"""The Grafana dashboard ``deploy/grafana/dashboards/cxpulse-overview.json``, rendered from the KPI catalog.

Every KPI of ``kpis.catalog`` gets a stat (its roll-up over the selected queues and channels) and a
time series by queue and channel in its section's row, so a KPI added to the catalog reaches Grafana
without anyone writing PromQL or JSON. What is not one KPI's gauge (the overview table, the counter
and histogram panels, pipeline health) is declared once below. The stats are coloured by the default
rule of the thresholds file, so Grafana, the wallboard and the pager agree on what is bad.

Panel ids are hashes of stable keys: a panel keeps its id, and links to it keep working, when panels
are added before it. Positions are laid out here, row by row, stats first.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Final, Iterable, NamedTuple, Sequence

from kpis.catalog import KPIS, KPIS_BY_NAME, SECTIONS, Kpi, Section
from kpis.thresholds import Rule, Thresholds
from kpis.windows import ROLLING

UID: Final = "cxpulse-overview"
DATASOURCE: Final = {"type": "prometheus", "uid": "cxpulse-prometheus"}
SECTION_TITLES: Final[dict[Section, str]] = {
    "volumes": "Volumes",
    "waits": "Wait time and service level",
    "abandonment": "Abandonment",
    "handling": "Handling",
    "quality": "Quality",
    "agents": "Agents",
    "tickets": "Tickets",
    "customers": "Customers",
}
GRID_WIDTH: Final = 24
STAT_SIZE: Final = (4, 4)
GRAPH_SIZE: Final = (8, 8)
FILTER: Final = 'queue=~"$queue",channel=~"$channel"'
BY_PAIR: Final = "{{queue}} / {{channel}}"

GREEN, ORANGE, RED, NEUTRAL = "green", "orange", "red", "text"
Step = tuple[str, "float | None"]
NO_LIMITS: Final[tuple[Step, ...]] = ((NEUTRAL, None),)


# -- panels and their field config -------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """Grafana's field config of a panel: how its numbers read and which colour they take."""

    unit: str
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    steps: tuple[Step, ...] = NO_LIMITS
    no_value: str | None = None
    mappings: tuple[dict[str, Any], ...] = ()

    def limited(self, steps: tuple[Step, ...]) -> Style:
        return replace(self, steps=steps)


COUNT: Final = Style("none", 0)
PER_MINUTE_RATE: Final = Style("cpm", 1)
SECONDS: Final = Style("s", 0)
RATIO: Final = Style("percentunit", 1, 0, 1)
# By catalog unit; a score shown signed (NPS, -100..100) is whole.
UNIT_STYLES: Final[dict[str, Style]] = {
    "count": COUNT, "ratio": RATIO, "seconds": Style("s", 1), "score": Style("none", 1), "amount": Style("none", 2),
}  # fmt: skip
SIGNED: Final = Style("none", 0)


class Target(NamedTuple):
    expr: str
    legend: str = "__auto"


@dataclass(frozen=True)
class Panel:
    """A panel before layout: ``key`` names it for good (its id is made from it), ``body`` is its JSON."""

    key: str
    size: tuple[int, int]
    body: dict[str, Any]


@dataclass(frozen=True)
class Row:
    """A titled row; each band of panels (its stats, then its graphs) starts on a new line."""

    key: str
    title: str
    bands: tuple[tuple[Panel, ...], ...]


def _target(ref: str, target: Target, **extra: Any) -> dict[str, Any]:
    return {
        "datasource": DATASOURCE, "refId": ref, "expr": target.expr, "legendFormat": target.legend,
        "range": True, "instant": False, "editorMode": "code", **extra,
    }  # fmt: skip


def _refs(targets: Sequence[Target], **extra: Any) -> list[dict[str, Any]]:
    return [_target(chr(ord("A") + index), target, **extra) for index, target in enumerate(targets)]


def _thresholds(steps: Iterable[Step]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": colour, "value": value} for colour, value in steps]}


def _defaults(style: Style, colour_mode: str) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "unit": style.unit, "color": {"mode": colour_mode}, "thresholds": _thresholds(style.steps),
    }  # fmt: skip
    optional = {"decimals": style.decimals, "min": style.min, "max": style.max, "noValue": style.no_value}
    return defaults | {name: value for name, value in optional.items() if value is not None}


def _nan_as_dash() -> dict[str, Any]:
    """An empty denominator over the selection (0/0) reads as a dash, not NaN."""
    return {"type": "special", "options": {"match": "nan", "result": {"text": "—", "index": 0}}}


def stat(key: str, title: str, expr: str, style: Style, description: str = "") -> Panel:
    defaults = _defaults(style, "thresholds") | {"mappings": [*style.mappings, _nan_as_dash()]}
    return Panel(key, STAT_SIZE, {
        "type": "stat", "title": title, "description": description, "datasource": DATASOURCE,
        "targets": _refs([Target(expr)]),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value", "graphMode": "area", "justifyMode": "auto", "orientation": "auto",
            "textMode": "auto", "showPercentChange": False,
        },
    })  # fmt: skip


def graph(
    key: str, title: str, targets: Sequence[Target], style: Style, description: str = "", stacked: bool = False
) -> Panel:
    """``stacked``: parts of a whole (agents by state), drawn filled one on another."""
    custom = {
        "drawStyle": "line", "lineWidth": 1, "fillOpacity": 60 if stacked else 10, "showPoints": "never",
        "spanNulls": False, "axisSoftMin": 0, "stacking": {"mode": "normal" if stacked else "none", "group": "A"},
    }  # fmt: skip
    return Panel(key, GRAPH_SIZE, {
        "type": "timeseries", "title": title, "description": description, "datasource": DATASOURCE,
        "targets": _refs(targets),
        "fieldConfig": {"defaults": _defaults(style, "palette-classic") | {"custom": custom}, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "right", "showLegend": True, "calcs": ["lastNotNull"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    })  # fmt: skip


# -- PromQL ------------------------------------------------------------------------------------------


def selector(kpi: Kpi) -> str:
    """The KPI's gauge under the dashboard's filters; live gauges have no window label."""
    window = ',window="$window"' if kpi.kind == "window" else ""
    return f"{kpi.metric}{{{FILTER}{window}}}"


def counter(metric: str) -> str:
    return f"{metric}{{{FILTER}}}"


def per_minute(metric: str, by: str = "") -> str:
    grouping = f"sum by ({by}) " if by else "sum"
    return f"{grouping}(rate({counter(metric)}[$__rate_interval])) * 60"


# -- the KPI panels ----------------------------------------------------------------------------------


class RollUp(NamedTuple):
    title: str
    expr: str
    how: str


def _in_window(kpi: Kpi, title: str) -> str:
    """``Offered ($window)``; a title already ending in brackets takes the window inside them."""
    if kpi.kind == "live":
        return title
    return f"{title[:-1]}, $window)" if title.endswith(")") else f"{title} ($window)"


def _sum(kpi: Kpi) -> RollUp:
    return RollUp(_in_window(kpi, kpi.title), f"sum({selector(kpi)})", "Summed over the selected queues and channels.")


def _highest(kpi: Kpi) -> RollUp:
    """For maxima, whose maximum over the selection is the selection's own value."""
    how = "The highest of the selected queues and channels."
    return RollUp(_in_window(kpi, kpi.title), f"max({selector(kpi)})", how)


def _worst(kpi: Kpi) -> RollUp:
    """For values that do not add up across queues (a percentile): the worst shown honestly as such."""
    aggregation = "min" if kpi.better == "higher" else "max"
    lowered = kpi.title[:1].lower() + kpi.title[1:] if kpi.title[1:2].islower() else kpi.title
    how = "The worst of the selected queues and channels: it does not add up across them."
    return RollUp(_in_window(kpi, f"Worst {lowered}"), f"{aggregation}({selector(kpi)})", how)


def _weighted(kpi: Kpi) -> RollUp:
    """Means and ratios: each queue and channel weighted by the KPI's volume, counting only the pairs
    that have a value (a pair with an empty denominator exports none)."""
    volume = tuple(KPIS_BY_NAME[name] for name in kpi.volume or ())
    weight = " + ".join(selector(count) for count in volume)
    weight = f"({weight})" if len(volume) > 1 else weight
    expr = f"sum({selector(kpi)} * {weight}) / sum({weight} and {selector(kpi)})"
    weighted_by = " + ".join(count.title.lower() for count in volume)
    how = f"Over the selected queues and channels, each weighted by its volume ({weighted_by})."
    return RollUp(_in_window(kpi, kpi.title), expr, how)


def _ratio_of(numerator: str, denominator: str) -> Callable[[Kpi], RollUp]:
    """Exact: the summed terms of the ratio, as the API's roll-up row computes it."""

    above, below = KPIS_BY_NAME[numerator], KPIS_BY_NAME[denominator]

    def exact(kpi: Kpi) -> RollUp:
        expr = f"sum({selector(above)}) / sum({selector(below)})"
        how = f"{above.title} over {below.title.lower()}, each summed over the selected queues and channels."
        return RollUp(_in_window(kpi, kpi.title), expr, how)

    return exact


def _agent_time_ratio(numerators: tuple[str, ...], denominator: str, less: str = "") -> Callable[[Kpi], RollUp]:
    """Exact: the agent seconds summed over the selection, as the API's roll-up row computes it
    (agent time is split over the queues served, so the sums are true agent time)."""

    def exact(kpi: Kpi) -> RollUp:
        above = " + ".join(f"sum({selector(KPIS_BY_NAME[name])})" for name in numerators)
        below = f"sum({selector(KPIS_BY_NAME[denominator])})"
        if less:
            below = f"({below} - sum({selector(KPIS_BY_NAME[less])}))"
        how = "Agent seconds summed over the selected queues and channels, then divided."
        return RollUp(_in_window(kpi, kpi.title), f"({above}) / {below}", how)

    return exact


def _agents_counted(kpi: Kpi) -> RollUp:
    how = "Summed over the selected queues and channels: an agent serving several of them is counted in each."
    return RollUp(kpi.title, f"sum({selector(kpi)})", how)


# KPIs whose roll-up is not the default of their unit (counts summed, others weighted by their volume,
# the worst of the selection when they have none).
ROLL_UPS: Final[dict[str, Callable[[Kpi], RollUp]]] = {
    "max_wait_s": _highest,
    "longest_waiting_s": _highest,
    "wait_p90_s": _worst,
    "service_level": _ratio_of("service_level_numerator", "service_level_denominator"),
    "occupancy": _agent_time_ratio(("on_contact_s", "agent_acw_s"), "staffed_s", less="aux_s"),
    "aux_share": _agent_time_ratio(("aux_s",), "staffed_s"),
    **dict.fromkeys(("agents_staffed", "agents_available", "agents_on_contact", "agents_acw", "agents_aux"), _agents_counted),
}


def roll_up(kpi: Kpi) -> RollUp:
    if kpi.name in ROLL_UPS:
        return ROLL_UPS[kpi.name](kpi)
    if kpi.unit == "count":
        return _sum(kpi)
    return _weighted(kpi) if kpi.volume else _worst(kpi)


def default_rule(thresholds: Thresholds | None, kpi: Kpi) -> Rule | None:
    rules = thresholds.rules.get(kpi.name, []) if thresholds is not None else []
    return next((rule for rule in rules if rule.queue is None and rule.channel is None), None)


def colour_steps(kpi: Kpi, rule: Rule | None) -> tuple[Step, ...]:
    """Ascending Grafana steps: the colour of the level a value at or above each limit is in."""
    if kpi.better is None or rule is None:
        return NO_LIMITS
    levels = ((rule.warning, ORANGE), (rule.critical, RED))
    limits = sorted((limit, colour) for limit, colour in levels if limit is not None)
    if kpi.better == "lower":
        return ((GREEN, None), *((colour, limit) for limit, colour in limits))
    above = [colour for _, colour in limits[1:]] + [GREEN]
    return ((limits[0][1], None), *((colour, limit) for (limit, _), colour in zip(limits, above)))


def kpi_style(kpi: Kpi, thresholds: Thresholds | None) -> Style:
    style = SIGNED if kpi.display == "signed" else UNIT_STYLES[kpi.unit]
    return style.limited(colour_steps(kpi, default_rule(thresholds, kpi)))


def kpi_stat(kpi: Kpi, thresholds: Thresholds | None) -> Panel:
    shown = roll_up(kpi)
    style = kpi_style(kpi, thresholds)
    # A live value is exported only while there is something to measure: none means nobody waits.
    style = replace(style, no_value="0") if kpi.kind == "live" else style
    return stat(f"stat:{kpi.name}", shown.title, shown.expr, style, f"{kpi.help} {shown.how}")


def target_lines(kpi: Kpi) -> list[Target]:
    """The target and today's expected value of the targets file (api/metrics.py), drawn beside the
    KPI; a target for every queue or channel carries ``*`` in that label, so it is always shown."""
    where = f'kpi="{kpi.name}",queue=~"$queue|\\\\*",channel=~"$channel|\\\\*"'
    return [
        Target(f"cxpulse_kpi_target{{{where}}}", "target {{queue}} / {{channel}}"),
        Target(f"cxpulse_kpi_target_expected{{{where}}}", "expected today {{queue}} / {{channel}}"),
    ]


def kpi_graph(kpi: Kpi) -> Panel:
    title = _in_window(kpi, f"{kpi.title} by queue and channel")
    lines = [Target(selector(kpi), BY_PAIR), *(target_lines(kpi) if kpi.judged else [])]
    return graph(f"graph:{kpi.name}", title, lines, kpi_style(kpi, None), kpi.help)


# -- the fixed panels --------------------------------------------------------------------------------

WAITS: Final = "cxpulse_wait_seconds_bucket"
HANDLE: Final = "cxpulse_handle_seconds_total"
TABLE_COLUMNS: Final = (
    "offered", "answered", "abandoned", "short_abandoned", "abandon_rate", "asa_s", "wait_p90_s", "max_wait_s",
    "service_level", "aht_s", "csat", "nps", "waiting_now",
)  # fmt: skip


class Fixed(NamedTuple):
    """The panels of a section that are not one KPI's gauge, after the KPIs' own."""

    stats: tuple[Panel, ...] = ()
    graphs: tuple[Panel, ...] = ()


def contacts(kind: str) -> str:
    return f"cxpulse_contacts_{kind}_total"


def _table_column(kpi: Kpi, thresholds: Thresholds | None) -> dict[str, Any]:
    style = kpi_style(kpi, thresholds)
    properties: list[dict[str, Any]] = [
        {"id": "unit", "value": style.unit},
        {"id": "decimals", "value": style.decimals},
    ]
    if style.steps != NO_LIMITS:
        properties += [
            {"id": "custom.cellOptions", "value": {"type": "color-text"}},
            {"id": "thresholds", "value": _thresholds(style.steps)},
        ]
    return {"matcher": {"id": "byName", "options": kpi.title}, "properties": properties}


def overview_table(thresholds: Thresholds | None) -> Panel:
    kpis = [KPIS_BY_NAME[name] for name in TABLE_COLUMNS]
    queries = [Target(f"sum by (queue, channel) ({selector(kpi)})") for kpi in kpis]
    targets = _refs(queries, instant=True, range=False, format="table")
    renames = {"queue": "Queue", "channel": "Channel"} | {
        f"Value #{target['refId']}": kpi.title for target, kpi in zip(targets, kpis)
    }
    return Panel("table:overview", (GRID_WIDTH, 9), {
        "type": "table", "title": "Queues × channels — $window window",
        "description": "The API's window gauges, one row per queue and channel (the same numbers as "
        "GET /v1/kpis?window=$window, without the roll-up rows). Empty cells: no denominator yet.",
        "datasource": DATASOURCE, "targets": targets,
        "transformations": [
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {"excludeByName": {"Time": True}, "renameByName": renames, "indexByName": {}},
            },
            {"id": "sortBy", "options": {"sort": [{"field": "Queue"}]}},
        ],
        "fieldConfig": {
            "defaults": {
                "unit": "none", "custom": {"align": "auto", "cellOptions": {"type": "auto"}},
                "thresholds": _thresholds(NO_LIMITS),
            },
            "overrides": [_table_column(kpi, thresholds) for kpi in kpis],
        },
        "options": {
            "showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""},
        },
    })  # fmt: skip


def wait_heatmap() -> Panel:
    buckets = f"sum by (le) (increase({counter(WAITS)}[$__rate_interval]))"
    return Panel("heatmap:waits", GRAPH_SIZE, {
        "type": "heatmap", "title": "Wait distribution (histogram)",
        "description": "Contacts per cxpulse_wait_seconds bucket and $__rate_interval.", "datasource": DATASOURCE,
        "targets": _refs([Target(buckets, "{{le}}")], format="heatmap"),
        "fieldConfig": {
            "defaults": {
                "custom": {
                    "hideFrom": {"legend": False, "tooltip": False, "viz": False},
                    "scaleDistribution": {"type": "linear"},
                },
            },
            "overrides": [],
        },
        "options": {
            "calculate": False, "cellGap": 1,
            "color": {
                "mode": "scheme", "scheme": "Oranges", "exponent": 0.5, "fill": "dark-orange", "reverse": False,
                "scale": "exponential", "steps": 64,
            },
            "exemplars": {"color": "rgba(255,0,255,0.7)"}, "filterValues": {"le": 1e-09}, "legend": {"show": True},
            "rowsFrame": {"layout": "auto"},
            "tooltip": {"mode": "single", "yHistogram": False, "showColorScale": False},
            "yAxis": {"axisPlacement": "left", "reverse": False, "unit": "s"}, "showValue": "never",
        },
    })  # fmt: skip


def _wait_quantile(quantile: float, by: str) -> str:
    return f"histogram_quantile({quantile:g}, sum by ({by}) (rate({counter(WAITS)}[$__rate_interval])))"


def _volumes() -> Fixed:
    by_kind = [Target(per_minute(contacts(kind)), kind) for kind in ("offered", "answered", "abandoned")]
    return Fixed(graphs=(
        graph(
            "graph:contacts-per-minute", "Offered, answered, abandoned per minute", by_kind, PER_MINUTE_RATE,
            "rate() of the contact counters over $__rate_interval, per minute.",
        ),
        graph(
            "graph:offered-per-minute", "Offered per minute by queue",
            [Target(per_minute(contacts("offered"), "queue"), "{{queue}}")], PER_MINUTE_RATE,
        ),
    ))  # fmt: skip


def _waits() -> Fixed:
    p90 = f"histogram_quantile(0.9, sum by (le) (increase({counter(WAITS)}[$window])))"
    percentiles = [Target(_wait_quantile(q, "le"), f"p{q * 100:g}") for q in (0.5, 0.9, 0.99)]
    return Fixed(
        stats=(
            stat(
                "stat:wait-p90-histogram", "90th percentile wait (histogram, last $window)", p90, SECONDS,
                "From the cxpulse_wait_seconds histogram over the whole selection (answered and abandoned, short "
                "abandons excluded); bucket resolution.",
            ),
        ),
        graphs=(
            graph(
                "graph:wait-percentiles", "Wait percentiles (histogram)", percentiles, SECONDS,
                "Quantiles of cxpulse_wait_seconds over $__rate_interval.",
            ),
            graph(
                "graph:wait-p90-by-queue", "90th percentile wait by queue (histogram)",
                [Target(_wait_quantile(0.9, "queue, le"), "{{queue}}")], SECONDS,
            ),
            wait_heatmap(),
        ),
    )  # fmt: skip


def _abandonment() -> Fixed:
    abandoned, answered = (f"sum(rate({counter(contacts(k))}[$__rate_interval]))" for k in ("abandoned", "answered"))
    by_queue = [
        Target(per_minute(contacts("abandoned"), "queue"), "abandoned {{queue}}"),
        Target(per_minute(contacts("short_abandoned"), "queue"), "short {{queue}}"),
    ]
    return Fixed(
        stats=(
            stat("stat:abandons-per-minute", "Abandons per minute", per_minute(contacts("abandoned")), PER_MINUTE_RATE),
        ),
        graphs=(
            graph(
                "graph:abandon-rate-counters", "Abandon rate, rolling (counters)",
                [Target(f"{abandoned} / ({answered} + {abandoned})", "all selected")], RATIO,
                "Over $__rate_interval, from the counters.",
            ),
            graph("graph:abandons-per-minute", "Abandoned and short abandoned per minute", by_queue, PER_MINUTE_RATE),
        ),
    )  # fmt: skip


def _handling() -> Fixed:
    handled = counter(contacts("handled"))
    aht = f"sum(increase({counter(HANDLE)}[$window])) / sum(increase({handled}[$window]))"
    aht_by_queue = (
        f"sum by (queue) (rate({counter(HANDLE)}[$__rate_interval])) / "
        f"sum by (queue) (rate({handled}[$__rate_interval]))"
    )
    return Fixed(
        stats=(
            stat("stat:aht-counters", "Average handle time (counters, last $window)", aht, SECONDS),
            stat("stat:handled-per-minute", "Handled per minute", per_minute(contacts("handled")), PER_MINUTE_RATE),
        ),
        graphs=(
            graph(
                "graph:aht-counters", "Average handle time by queue (counters)", [Target(aht_by_queue, "{{queue}}")],
                SECONDS, "Handle seconds over handled contacts in $__rate_interval.",
            ),
            graph(
                "graph:handled-per-minute", "Handled per minute by queue",
                [Target(per_minute(contacts("handled"), "queue"), "{{queue}}")], PER_MINUTE_RATE,
            ),
        ),
    )  # fmt: skip


def _quality() -> Fixed:
    answers = [Target(per_minute("cxpulse_survey_answers_total", "survey"), "{{survey}}")]
    return Fixed(graphs=(graph("graph:survey-answers", "Survey answers per minute", answers, PER_MINUTE_RATE),))


def _by_queue(kpi: str) -> str:
    return f"sum by (queue) ({selector(KPIS_BY_NAME[kpi])})"


def _agents() -> Fixed:
    states = Target(f"sum by (state) (cxpulse_agents_in_state{{{FILTER}}})", "{{state}}")
    reasons = Target(f"sum by (reason) (cxpulse_agents_aux_by_reason{{{FILTER}}})", "{{reason}}")
    occupancy = (
        f"({_by_queue('on_contact_s')} + {_by_queue('agent_acw_s')}) / ({_by_queue('staffed_s')} - {_by_queue('aux_s')})"
    )
    aux_share = f"{_by_queue('aux_s')} / {_by_queue('staffed_s')}"
    # No line while no agent is available (rather than +Inf): the staffing alert speaks for that.
    per_agent = f"{_by_queue('waiting_now')} / ({_by_queue('agents_available')} > 0)"
    counted_once = " An agent serving several of the selected queues is counted in each."
    return Fixed(graphs=(
        graph(
            "graph:agents-by-state", "Agents by state", [states], COUNT,
            "Agents logged in, by state, stacked up to the agents staffed." + counted_once, stacked=True,
        ),
        graph(
            "graph:agents-aux-by-reason", "Agents in aux by reason", [reasons], COUNT,
            "Agents in an auxiliary state, by the reason their platform gave (unspecified when none)." + counted_once,
            stacked=True,
        ),
        graph(
            "graph:occupancy-by-queue", "Occupancy by queue ($window)", [Target(occupancy, "{{queue}}")], RATIO,
            "On-contact and after-contact-work seconds over staffed seconds less aux, summed per queue over the "
            "selected channels.",
        ),
        graph(
            "graph:aux-share-by-queue", "Aux share by queue ($window)", [Target(aux_share, "{{queue}}")], RATIO,
            "Aux seconds over staffed seconds, summed per queue over the selected channels.",
        ),
        graph(
            "graph:waiting-per-available-by-queue", "Waiting per available agent by queue",
            [Target(per_agent, "{{queue}}")], Style("none", 1),
            "Contacts waiting now over agents available now, per queue; no value while none is available.",
        ),
    ))  # fmt: skip


FIXED: Final[dict[Section, Callable[[], Fixed]]] = {
    "volumes": _volumes,
    "waits": _waits,
    "abandonment": _abandonment,
    "handling": _handling,
    "quality": _quality,
    "agents": _agents,
}

AGE: Final = Style("s", 0, steps=((GREEN, None), (ORANGE, 60), (RED, 300)))
SHORT: Final = Style("short")
PER_SECOND: Final = Style("ops")
SCRAPED: Final = 'up{job=~"cxpulse-api|cxpulse-worker"}'
READY_TEXT: Final = {
    "type": "value",
    "options": {"0": {"text": "not ready", "color": "red"}, "1": {"text": "ready", "color": "green"}},
}


def _pipeline_stats() -> tuple[Panel, ...]:
    return (
        stat(
            "stat:api-ready", "API ready", "min(cxpulse_api_ready)",
            Style("none", steps=((RED, None), (GREEN, 1)), mappings=(READY_TEXT,)),
        ),
        stat(
            "stat:targets-up", "Scrape targets up", f"sum({SCRAPED}) / count({SCRAPED})",
            RATIO.limited(((RED, None), (GREEN, 1))),
            "Share of the cxpulse API and worker targets (every worker replica) that Prometheus scraped successfully.",
        ),
        stat(
            "stat:last-event-age", "Last event age", "time() - max(cxpulse_last_event_timestamp_seconds)", AGE,
            "Now minus the event time of the newest event the workers folded.",
        ),
        stat(
            "stat:snapshot-age", "Snapshot age", "max(cxpulse_api_snapshot_age_seconds)",
            Style("s", 1, steps=((GREEN, None), (ORANGE, 10), (RED, 30))),
            "Seconds since the API last received an update from the workers (stale after kpi.stale_seconds).",
        ),
        stat(
            "stat:processing-lag", "Processing lag", "sum(cxpulse_processing_lag_events)",
            SHORT.limited(((GREEN, None), (ORANGE, 1000), (RED, 10000))),
            "Source events not yet reflected in the numbers served.",
        ),
        stat(
            "stat:dead-letters", "Dead letters (time range)",
            "sum(increase(cxpulse_events_deadlettered_total[$__range]))",
            Style("short", 0, steps=((GREEN, None), (ORANGE, 1)), no_value="0"),
            "Events sent to cx.deadletter in the dashboard's time range.",
        ),
    )  # fmt: skip


def _pipeline_graphs() -> tuple[Panel, ...]:
    bad_events = [
        Target(
            "sum by (topic, reason) (increase(cxpulse_events_deadlettered_total[$__rate_interval]))",
            "dead letter {{topic}} {{reason}}",
        ),
        Target("sum by (topic) (increase(cxpulse_events_duplicate_total[$__rate_interval]))", "duplicate {{topic}}"),
        Target("sum by (topic) (increase(cxpulse_events_late_total[$__rate_interval]))", "late {{topic}}"),
    ]
    ages = [
        Target("time() - max by (topic) (cxpulse_last_event_timestamp_seconds)", "last event {{topic}}"),
        Target("max(cxpulse_api_snapshot_age_seconds)", "snapshot"),
    ]
    worker = [
        Target("sum(cxpulse_worker_contacts_tracked)", "contacts tracked"),
        Target("sum(cxpulse_worker_buckets)", "buckets"),
        Target("sum(cxpulse_worker_customers_tracked)", "customers tracked"),
        Target("sum by (instance) (cxpulse_worker_partitions)", "partitions held by {{instance}}"),
    ]
    return (
        graph(
            "graph:events-processed", "Events processed per second by topic",
            [Target("sum by (topic) (rate(cxpulse_events_processed_total[$__rate_interval]))", "{{topic}}")],
            PER_SECOND,
        ),
        graph(
            "graph:bad-events", "Dead-lettered, duplicate and late events", bad_events, Style("short", no_value="0"),
            "Per $__rate_interval. Duplicates are ignored; late events (after the grace period) are dead-lettered or "
            "dropped by kpi.late_events.",
        ),
        graph(
            "graph:processing-lag", "Processing lag by topic",
            [Target("sum by (topic) (cxpulse_processing_lag_events)", "{{topic}}")], SHORT,
        ),
        graph("graph:ages", "Last event age and snapshot age", ages, Style("s")),
        graph(
            "graph:worker-state", "Worker state", worker, SHORT,
            "Contacts, customers and buckets are bounded by the contact horizon and retention; steady growth means "
            "a leak. Partitions per worker replica.",
        ),
        graph(
            "graph:snapshot-records", "Snapshot records applied by the API per second",
            [Target("sum(rate(cxpulse_api_snapshot_records_total[$__rate_interval]))", "records/s")], PER_SECOND,
            "KPI snapshot records the API process reads from the workers' changelog.",
        ),
    )  # fmt: skip


# -- the document ------------------------------------------------------------------------------------


def section_row(section: Section, thresholds: Thresholds | None) -> Row:
    kpis = [kpi for kpi in KPIS if kpi.section == section]
    fixed = FIXED.get(section, Fixed)()
    stats = (*(kpi_stat(kpi, thresholds) for kpi in kpis), *fixed.stats)
    graphs = (*(kpi_graph(kpi) for kpi in kpis), *fixed.graphs)
    return Row(f"row:{section}", SECTION_TITLES[section], (stats, graphs))


def rows(thresholds: Thresholds | None) -> list[Row]:
    overview = Row("row:overview", "Overview — queues × channels ($window window)", ((overview_table(thresholds),),))
    pipeline = Row("row:pipeline", "Pipeline health", (_pipeline_stats(), _pipeline_graphs()))
    return [overview, *(section_row(section, thresholds) for section in SECTIONS), pipeline]


def panel_id(key: str) -> int:
    return zlib.crc32(key.encode()) & 0x7FFFFFFF


def _placed(panel: Panel, x: int, y: int) -> dict[str, Any]:
    width, height = panel.size
    grid = {"h": height, "w": width, "x": x, "y": y}
    return {"type": panel.body["type"], "id": panel_id(panel.key), "gridPos": grid} | panel.body


def _band(panels: Sequence[Panel], top: int) -> tuple[list[dict[str, Any]], int]:
    """Panels left to right from a new line at ``top``, wrapping at the grid's width; and the y below them."""
    placed: list[dict[str, Any]] = []
    x, y, line_height = 0, top, 0
    for panel in panels:
        width, height = panel.size
        if x + width > GRID_WIDTH:
            x, y, line_height = 0, y + line_height, 0
        placed.append(_placed(panel, x, y))
        x, line_height = x + width, max(line_height, height)
    return placed, y + line_height


def layout(all_rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Rows one under the other, each band of a row (stats, then graphs) from a new line."""
    panels: list[dict[str, Any]] = []
    y = 0
    for row in all_rows:
        header = Panel(row.key, (GRID_WIDTH, 1), {"type": "row", "title": row.title, "collapsed": False, "panels": []})
        panels.append(_placed(header, 0, y))
        y += 1
        for band in row.bands:
            placed, y = _band(band, y)
            panels += placed
    ids = [panel["id"] for panel in panels]
    if len(set(ids)) != len(ids):
        raise ValueError("two dashboard panel keys hash to the same id: rename one")
    return panels


def _query_variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE, "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
        "multi": True, "includeAll": True, "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "refresh": 2, "sort": 1, "regex": "", "hide": 0, "options": [],
    }  # fmt: skip


def _window_variable() -> dict[str, Any]:
    windows = [window.value for window in ROLLING]
    options = [{"selected": value == windows[0], "text": value, "value": value} for value in windows]
    return {
        "name": "window", "label": "Window", "type": "custom", "query": ",".join(windows),
        "description": "Rolling window of the cxpulse_window_* gauges (and the range of the 'last $window' "
        "counter stats).",
        "multi": False, "includeAll": False, "hide": 0, "skipUrlSync": False,
        "current": {"selected": True, "text": windows[0], "value": windows[0]}, "options": options,
    }  # fmt: skip


def render_dashboard(thresholds: Thresholds | None = None) -> dict[str, Any]:
    """The dashboard document; ``thresholds`` (the alerts' file) colours the judged KPIs, without it
    they are shown uncoloured."""
    offered = contacts("offered")
    return {
        "uid": UID, "title": "cxpulse — contact-center overview",
        "description": "Real-time contact-center KPIs from cxpulse (API window gauges, contact counters, wait "
        "histogram) and pipeline health (worker). Rendered from the KPI catalog by `cxpulse dashboard render`.",
        "tags": ["cxpulse", "contact-center"], "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1,
        "refresh": "10s", "time": {"from": "now-1h", "to": "now"}, "timepicker": {}, "timezone": "browser",
        "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "", "links": [],
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
        }]},
        "templating": {"list": [
            _query_variable("queue", "Queue", f"label_values({offered}, queue)"),
            _query_variable("channel", "Channel", f'label_values({offered}{{queue=~"$queue"}}, channel)'),
            _window_variable(),
        ]},
        "panels": layout(rows(thresholds)),
    }  # fmt: skip


def dashboard_text(thresholds: Thresholds | None = None) -> str:
    return json.dumps(render_dashboard(thresholds), indent=2, ensure_ascii=False) + "\n"


def write_dashboard(path: Path, thresholds: Thresholds | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dashboard_text(thresholds), encoding="utf-8")
    return path
