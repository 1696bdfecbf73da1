"""Prometheus alerting rules rendered from the thresholds file, so the pager and the wallboard judge
by the same numbers and nobody hand-edits PromQL per queue.

Each threshold rule becomes one warning and one critical alert on the KPI's window gauge, gated by
the KPI's volume and leaving out the pairs that a more specific override judges. Alertmanager
inhibits a warning while the critical of the same KPI, queue and channel fires. Staffing has its
own rule: contacts waiting where no agent is available; so has sentiment: the negative share
jumping above the day's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kpis.catalog import KPIS_BY_NAME, Kpi
from kpis.thresholds import Direction, Level, Rule, Thresholds

KPI_RULES_FILE = "cxpulse-kpis.yml"
PIPELINE_RULES_FILE = "cxpulse-pipeline.yml"
AGENT_RULES_FILE = "cxpulse-agents.yml"
SENTIMENT_RULES_FILE = "cxpulse-sentiment.yml"
HEADER = "# Rendered by `cxpulse alerts render` from the thresholds file: edit that file, not this one.\n"

# How an alert's summary shows the value, by the KPI's unit.
_FORMAT = {
    "ratio": "humanizePercentage", "seconds": "humanizeDuration", "score": "printf \"%.1f\"", "count": "printf \"%.0f\"",
    "amount": "printf \"%.2f\"",
}


def alert_name(kpi: str, direction: Direction) -> str:
    words = "".join(part.capitalize() for part in kpi.removesuffix("_s").split("_"))
    return f"Cxpulse{words}{'High' if direction is Direction.ABOVE else 'Low'}"


def _matchers(queue: str | None, channel: str | None, window: str | None) -> str:
    parts = [f'{name}="{value}"' for name, value in (("window", window), ("queue", queue), ("channel", channel)) if value]
    return "{" + ",".join(parts) + "}"


def _volume_metrics(kpi: Kpi) -> tuple[str, ...] | None:
    return None if kpi.volume is None else tuple(KPIS_BY_NAME[name].metric for name in kpi.volume)


def _expression(rule: Rule, limit: float, more_specific: list[Rule]) -> str:
    kpi = KPIS_BY_NAME[rule.kpi]
    volume_metrics = _volume_metrics(kpi)
    window = None if kpi.kind == "live" else rule.window.value
    comparison = ">" if rule.direction is Direction.ABOVE else "<"
    expression = f"{kpi.metric}{_matchers(rule.queue, rule.channel, window)} {comparison} {limit:g}"
    if volume_metrics is not None and rule.min_volume > 0:
        volume = " + ".join(f"{metric}{_matchers(None, None, window)}" for metric in volume_metrics)
        expression = f"({expression})\n  and on (queue, channel) ({volume}) >= {rule.min_volume}"
    for other in more_specific:
        expression += f"\n  unless on (queue, channel) cxpulse_waiting_contacts{_matchers(other.queue, other.channel, None)}"
    return expression


def _scope(rule: Rule) -> str:
    """Which threshold judged the series: tells on-call whether an override applied, and keeps the
    rules of one KPI and severity apart (Prometheus wants their label sets distinct)."""
    parts = [f"{name}={value}" for name, value in (("queue", rule.queue), ("channel", rule.channel)) if value]
    return ",".join(parts) or "default"


def _overlaps(rule: Rule, other: Rule) -> bool:
    return (rule.queue is None or other.queue is None or rule.queue == other.queue) and (
        rule.channel is None or other.channel is None or rule.channel == other.channel
    )


def _kpi_alert(rule: Rule, level: Level, limit: float, more_specific: list[Rule]) -> dict[str, Any]:
    kpi = KPIS_BY_NAME[rule.kpi]
    shown = _FORMAT[kpi.unit]
    direction = "above" if rule.direction is Direction.ABOVE else "below"
    threshold_text = f"{limit:g}"
    window_text = "now" if kpi.kind == "live" else rule.window.value
    return {
        "alert": alert_name(rule.kpi, rule.direction),
        "expr": _expression(rule, limit, more_specific),
        "for": rule.for_text,
        "labels": {"severity": level.value, "kpi": rule.kpi, "team": rule.team, "scope": _scope(rule)},
        "annotations": {
            "summary": (
                f"{kpi.title} of {{{{ $labels.queue }}}}/{{{{ $labels.channel }}}} is "
                f"{{{{ $value | {shown} }}}}, {direction} the {level.value} threshold {threshold_text} ({window_text})"
            ),
            "value": "{{ $value }}",
            "threshold": threshold_text,
            "window": window_text,
            "min_volume": str(rule.min_volume if kpi.volume is not None else 0),
            "runbook_url": rule.runbook,
        },
    }


def kpi_rules(thresholds: Thresholds) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for kpi, kpi_rules_ in thresholds.rules.items():
        for rule in kpi_rules_:
            more_specific = [o for o in kpi_rules_ if o.specificity > rule.specificity and _overlaps(rule, o)]
            for level, limit in ((Level.WARNING, rule.warning), (Level.CRITICAL, rule.critical)):
                if limit is not None:
                    rules.append(_kpi_alert(rule, level, limit, more_specific))
    return {"groups": [{"name": "cxpulse-kpis", "rules": rules}]}


def pipeline_rules(thresholds: Thresholds) -> dict[str, Any]:
    pipeline = thresholds.pipeline
    labels = {"team": pipeline.team}
    silence_s = int(pipeline.no_events_minutes * 60)
    first, end = pipeline.opening_hours_utc
    opening = "" if (first, end) == (0, 24) else f"\n  and on () (hour() >= {first} and hour() < {end})"
    silence = f"(time() - max(cxpulse_last_event_timestamp_seconds) > {silence_s}){opening}"
    # The gauge exists only once a worker has folded an event: a worker that started and never saw
    # one is silence too, as long as Prometheus can reach it.
    never = f'(absent(cxpulse_last_event_timestamp_seconds) and on () count(up{{job="cxpulse-worker"}} == 1) > 0){opening}'
    rules = [
        {
            "alert": "CxpulseNoEvents",
            "expr": silence,
            "for": "1m",
            "labels": {**labels, "severity": "critical"},
            "annotations": {
                "summary": f"No contact-center event for over {pipeline.no_events_minutes:g} minutes during opening hours",
                "value": "{{ $value | humanizeDuration }}",
                "runbook_url": pipeline.runbook,
            },
        },
        {
            "alert": "CxpulseNoEventsSinceStart",
            "expr": never,
            "for": f"{silence_s}s",
            "labels": {**labels, "severity": "critical"},
            "annotations": {
                "summary": f"A worker is up but no event has arrived for over {pipeline.no_events_minutes:g} minutes",
                "value": "{{ $value }}",
                "runbook_url": pipeline.runbook,
            },
        },
        {
            "alert": "CxpulseProcessingLag",
            # Every API replica reports the same lag: max by topic counts it once.
            "expr": f"sum(max by (topic) (cxpulse_processing_lag_events)) > {pipeline.lag_events}",
            "for": pipeline.lag_for,
            "labels": {**labels, "severity": "warning"},
            "annotations": {
                "summary": "{{ $value }} source events are not reflected in the served numbers yet",
                "value": "{{ $value }}",
                "threshold": str(pipeline.lag_events),
                "runbook_url": pipeline.runbook,
            },
        },
        {
            "alert": "CxpulseDeadLetters",
            "expr": "sum by (topic, reason) (increase(cxpulse_events_deadlettered_total[10m])) > 0",
            "labels": {**labels, "severity": "warning"},
            "annotations": {
                "summary": "Events from {{ $labels.topic }} dead-lettered ({{ $labels.reason }}) in the last 10 minutes",
                "value": "{{ $value }}",
                "runbook_url": pipeline.runbook,
            },
        },
        {
            "alert": "CxpulseScrapeFailing",
            "expr": 'up{job=~"cxpulse-.*"} == 0',
            "for": pipeline.scrape_for,
            "labels": {**labels, "severity": "critical"},
            "annotations": {
                "summary": "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }}",
                "value": "{{ $value }}",
                "runbook_url": pipeline.runbook,
            },
        },
    ]
    return {"groups": [{"name": "cxpulse-pipeline", "rules": rules}]}


def agent_rules(thresholds: Thresholds) -> dict[str, Any]:
    """Per queue and channel, since agents serve a channel: voice callers waiting are not helped by
    a chat agent who is free. ``unless ... > 0`` rather than ``and ... == 0``, so a pair whose
    available-agents gauge is missing counts as having none; the pair must have had an agent staffed
    within ``staffed_within``, else a center that publishes no agent events would be paged for every
    waiting contact."""
    staffing = thresholds.staffing
    waiting, available, staffed = (KPIS_BY_NAME[name].metric for name in ("waiting_now", "agents_available", "agents_staffed"))
    expression = (
        f"{waiting} > 0\n"
        f"  unless on (queue, channel) {available} > 0\n"
        f"  and on (queue, channel) max_over_time({staffed}[{staffing.staffed_within}]) > 0"
    )
    rule = {
        "alert": "CxpulseContactsWaitingNoAgent",
        "expr": expression,
        "for": staffing.unattended_for,
        "labels": {"severity": "critical", "team": staffing.team},
        "annotations": {
            "summary": (
                "{{ $value }} contacts waiting in {{ $labels.queue }}/{{ $labels.channel }} and no agent available "
                f"for {staffing.unattended_for}"
            ),
            "value": "{{ $value }}",
            "runbook_url": staffing.runbook,
        },
    }
    return {"groups": [{"name": "cxpulse-agents", "rules": [rule]}]}


def sentiment_rules(thresholds: Thresholds) -> dict[str, Any]:
    """The 15-minute negative share against the day's, both per queue and channel; the day's from the
    API's counters (increase over ``baseline``), so it is weighted by messages, not an average of
    15-minute shares. A pair without a day's share (nothing scored) is not judged. And the scorer
    falling behind, which the KPIs cannot show: a late score is simply missing from them."""
    jump = thresholds.sentiment_jump
    share, scored = (KPIS_BY_NAME[name].metric for name in ("sentiment_negative_share", "messages_scored"))
    window = '{window="15m"}'
    day = (
        f"increase(cxpulse_sentiment_messages_negative_total[{jump.baseline}])\n"
        f"    / increase(cxpulse_sentiment_messages_scored_total[{jump.baseline}])"
    )
    expression = (
        f"{share}{window}\n"
        f"  > on (queue, channel) (\n    {day}\n  ) + {jump.margin:g}\n"
        f"  and on (queue, channel) {scored}{window} >= {jump.min_volume}"
    )
    rule = {
        "alert": "CxpulseSentimentNegativeJump",
        "expr": expression,
        "for": jump.for_,
        "labels": {"severity": "warning", "team": jump.team},
        "annotations": {
            "summary": (
                "Negative messages in {{ $labels.queue }}/{{ $labels.channel }} at {{ $value | humanizePercentage }} "
                f"over 15m, more than {jump.margin:g} above the last {jump.baseline}"
            ),
            "value": "{{ $value }}",
            "runbook_url": jump.runbook,
        },
    }
    pipeline = thresholds.pipeline
    lagging = {
        "alert": "CxpulseSentimentScorerLagging",
        "expr": f"sum(max by (topic) (cxpulse_sentiment_lag_records)) > {pipeline.sentiment_lag_records}",
        "for": pipeline.sentiment_lag_for,
        "labels": {"severity": "warning", "team": pipeline.team},
        "annotations": {
            "summary": "The sentiment scorer is {{ $value }} records behind: scores come late, and past the grace period not at all",
            "value": "{{ $value }}",
            "threshold": str(pipeline.sentiment_lag_records),
            "runbook_url": pipeline.runbook,
        },
    }
    return {"groups": [{"name": "cxpulse-sentiment", "rules": [rule, lagging]}]}


class _Dumper(yaml.SafeDumper):
    """Multi-line expressions as literal blocks, so the rendered PromQL reads as written."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _string)


def _dump(document: dict[str, Any]) -> str:
    return HEADER + yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)


def render(thresholds: Thresholds) -> dict[str, str]:
    """File name → YAML text of every rules file."""
    return {
        KPI_RULES_FILE: _dump(kpi_rules(thresholds)),
        PIPELINE_RULES_FILE: _dump(pipeline_rules(thresholds)),
        AGENT_RULES_FILE: _dump(agent_rules(thresholds)),
        SENTIMENT_RULES_FILE: _dump(sentiment_rules(thresholds)),
    }


def write(thresholds: Thresholds, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render(thresholds).items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
