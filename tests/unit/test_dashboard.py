"""The Grafana dashboard is rendered from the KPI catalog: the committed JSON is what renders, every KPI
of the catalog is on it in its section's row, and panels keep their ids when others are added."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kpis.catalog import KPIS, SECTIONS, Kpi
from kpis.thresholds import parse_thresholds
from service import dashboard
from service.settings import load_thresholds

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy/grafana/dashboards/cxpulse-overview.json"
THRESHOLDS = REPO / "deploy/alerts/thresholds.yaml"
GRAFANA_UNITS = {"count": "none", "ratio": "percentunit", "seconds": "s", "score": "none", "amount": "none"}


def committed() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels_by_row(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    current: list[dict[str, Any]] = []
    for panel in document["panels"]:
        if panel["type"] == "row":
            current = rows.setdefault(panel["title"], [])
        else:
            current.append(panel)
    return rows


def names(panel: dict[str, Any], kpi: Kpi) -> bool:
    return any(re.search(rf"\b{re.escape(kpi.metric)}\b", target["expr"]) for target in panel.get("targets", []))


def test_the_committed_dashboard_is_what_the_catalog_renders() -> None:
    rendered = dashboard.dashboard_text(load_thresholds(THRESHOLDS))
    assert DASHBOARD.read_text(encoding="utf-8") == rendered, (
        f"{DASHBOARD.relative_to(REPO)} differs from what the KPI catalog renders: "
        "run `cxpulse dashboard render --thresholds deploy/alerts/thresholds.yaml` and commit the result"
    )


@pytest.mark.parametrize("kpi", KPIS, ids=lambda kpi: kpi.name)
def test_every_kpi_has_its_stat_and_a_time_series_of_its_metric_in_its_section_row(kpi: Kpi) -> None:
    title = dashboard.SECTION_TITLES[kpi.section]
    row = panels_by_row(committed())[title]
    graphs = [panel for panel in row if panel["type"] == "timeseries" and names(panel, kpi)]
    assert graphs, f"{kpi.name}: no time series of {kpi.metric} in row {title!r}"
    stats = {panel["title"]: panel for panel in row if panel["type"] == "stat"}
    shown = dashboard.roll_up(kpi)
    assert shown.title in stats, f"{kpi.name}: no stat {shown.title!r} in row {title!r}"
    assert stats[shown.title]["targets"][0]["expr"] == shown.expr
    assert stats[shown.title]["fieldConfig"]["defaults"]["unit"] == GRAFANA_UNITS[kpi.unit], shown.title


@pytest.mark.parametrize("kpi", KPIS, ids=lambda kpi: kpi.name)
def test_a_kpi_that_takes_targets_draws_its_target_and_expected_line(kpi: Kpi) -> None:
    row = panels_by_row(committed())[dashboard.SECTION_TITLES[kpi.section]]
    (graph,) = [panel for panel in row if panel["type"] == "timeseries" and names(panel, kpi)][:1]
    exprs = [target["expr"] for target in graph["targets"]]
    wanted = [f'{name}{{kpi="{kpi.name}",' for name in ("cxpulse_kpi_target", "cxpulse_kpi_target_expected")]
    drawn = [any(expr.startswith(prefix) for expr in exprs) for prefix in wanted]
    assert drawn == [kpi.judged, kpi.judged], exprs


def test_every_section_has_its_row_in_catalog_order() -> None:
    titles = list(panels_by_row(committed()))
    sections = [dashboard.SECTION_TITLES[section] for section in SECTIONS]
    assert [title for title in titles if title in sections] == sections


def test_live_kpis_have_no_window_and_windowed_ones_follow_the_window_variable() -> None:
    for kpi in KPIS:
        assert ('window="$window"' in dashboard.selector(kpi)) == (kpi.kind == "window"), kpi.name


def test_special_roll_ups_name_catalog_kpis() -> None:
    assert set(dashboard.ROLL_UPS) <= {kpi.name for kpi in KPIS}


def test_a_panel_keeps_its_id_when_a_kpi_is_added_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def ids(document: dict[str, Any]) -> dict[str, int]:
        return {panel["title"]: panel["id"] for panel in document["panels"]}

    full = ids(dashboard.render_dashboard())
    monkeypatch.setattr(dashboard, "KPIS", KPIS[1:])
    without_first = ids(dashboard.render_dashboard())
    assert len(without_first) < len(full)
    assert all(full[title] == panel_id for title, panel_id in without_first.items())


@pytest.mark.parametrize(
    ("kpi", "limits", "steps"),
    [
        ("abandon_rate", {"warning": 0.05, "critical": 0.1}, [("green", None), ("orange", 0.05), ("red", 0.1)]),
        ("service_level", {"warning": 0.8, "critical": 0.7}, [("red", None), ("orange", 0.7), ("green", 0.8)]),
        ("service_level", {"warning": 0.8}, [("orange", None), ("green", 0.8)]),
        ("asa_s", {"critical": 60}, [("green", None), ("red", 60)]),
    ],
)
def test_stats_are_coloured_by_the_default_rule_in_the_direction_of_better(
    kpi: str, limits: dict[str, float], steps: list[tuple[str, float | None]]
) -> None:
    direction = "below" if kpi == "service_level" else "above"
    thresholds = parse_thresholds({"kpis": {kpi: {"direction": direction, **limits}}})
    style = dashboard.kpi_style(dashboard.KPIS_BY_NAME[kpi], thresholds)
    assert list(style.steps) == steps


def test_without_thresholds_nothing_is_coloured_and_counts_never_are() -> None:
    thresholds = load_thresholds(THRESHOLDS)
    for kpi in KPIS:
        assert dashboard.kpi_style(kpi, None).steps == dashboard.NO_LIMITS
        if kpi.better is None:
            assert dashboard.kpi_style(kpi, thresholds).steps == dashboard.NO_LIMITS
