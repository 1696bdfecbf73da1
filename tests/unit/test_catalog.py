"""Every surface carries every KPI of the catalog: a KPI added there and missing anywhere fails here.

Rows (/v1/kpis and history), the Prometheus gauges, thresholds with their statuses and alert rules,
/v1/catalog and the wallboard's formatters, the docs' table and anchors, and the survey schema.
The Grafana dashboard has its own check in tests/unit/test_dashboard.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import pytest

from api.routers.catalog import CATALOG
from kpis.book import KpiBook
from kpis.buckets import BucketStats
from kpis.catalog import COMPANY_WIDE, JUDGED, KPIS, LIVE, WINDOWED, Display, Kpi
from kpis.rules import AccountRules, QueueRules
from kpis.scales import SURVEY_SCALES
from kpis.state import MINUTE, BucketKey
from kpis.thresholds import Thresholds, ThresholdsFile
from kpis.windows import Window
from service import alert_rules, kpi_table
from service.settings import Settings
from tests.unit.test_api_metrics import FakeReader, scrape

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000
NAMES = [kpi.name for kpi in KPIS]


AVAILABLE_AGENT = {
    "agent_id": "ann", "name": None, "state": "available", "reason": None, "since": T0 - 60, "open_from": T0 - 60,
    "queues": ["sales"], "channel": "voice", "capacity": 1, "contact_id": None, "contact_queue": None,
    "contact_since": None, "days": {},
}  # fmt: skip


def full_bucket() -> BucketStats:
    """Counters that give every windowed KPI a value (no ratio over nothing)."""
    return BucketStats(
        offered=10, answered=6, abandoned=2, short_abandoned=1, handled=5, surveys=4,
        answered_wait_sum_s=60, answered_with_wait=6, abandoned_wait_sum_s=90, abandoned_with_wait=2,
        max_wait_s=70, wait_bins={10: 6, 70: 2}, answered_within_sl=5, talk_sum_s=900, acw_sum_s=100,
        scores={scale.name: [1] * scale.size for scale in SURVEY_SCALES},
        resolved_true=3, resolved_answers=4, known_customer_offered=8, repeat_offered=2,
        missed=1, transferred=1, staffed_s=900, available_s=300, on_contact_s=400, agent_acw_s=100, aux_s=100,
        aux_reason_s={"break": 100}, tickets_created=3, tickets_resolved=2, tickets_reopened=1, complaints=1,
        resolution_sum_s=7200, resolutions_timed=2, resolution_bins={3600: 2}, first_response_sum_s=600, first_responses=2,
        ticket_categories={"billing": 3}, messages_scored=4, sentiment_positive=1, sentiment_neutral=1,
        sentiment_negative=2, sentiment_score_sum=0.15,
    )  # fmt: skip


def customers_bucket() -> BucketStats:
    """Account counters for the all-queues row: joins, a churn and purchases."""
    return BucketStats(customers_joined=10, customers_net=9, customers_churned=1, purchases=4, revenue=400.0)


def costed_rules(queue: str) -> QueueRules:
    return QueueRules(hourly_cost=30, fixed_cost_per_day=96)


def test_names_and_metrics_are_unique_and_named_by_unit() -> None:
    assert len(set(NAMES)) == len(NAMES)
    assert len({kpi.metric for kpi in KPIS}) == len(KPIS)
    suffix = {
        "ratio": ("_ratio",), "seconds": ("_seconds",), "score": ("_score",), "amount": ("_amount",),
        "count": ("_contacts", "_responses", "_agents", "_tickets", "_customers", "_purchases", "_messages"),
    }  # fmt: skip
    for kpi in KPIS:
        assert kpi.metric.startswith("cxpulse_") and kpi.metric.endswith(suffix[kpi.unit]), kpi
        assert (kpi.kind == "window") == kpi.metric.startswith("cxpulse_window_"), kpi


def test_rows_carry_every_kpi_in_catalog_order() -> None:
    """Every windowed KPI has a value where it applies: a queue's row for the queue KPIs, the
    all-queues row for the company-wide customer KPIs (null in every narrower row)."""
    book = KpiBook(costed_rules, accounts=AccountRules(lifespan_years=5))
    book.put(0, BucketKey(MINUTE, "sales", "voice", T0 - 120), full_bucket())
    book.put_customers(0, BucketKey(MINUTE, "*", "*", T0 - 900), customers_bucket())  # before the window: at its start
    book.put_customers(0, BucketKey(MINUTE, "*", "*", T0 - 120), customers_bucket())
    (row,) = book.rows(Window.M15, T0, queue="sales", channel="voice")
    assert [key for key in row if key in NAMES] == NAMES
    assert all(row[kpi.name] is not None for kpi in WINDOWED if kpi.name not in COMPANY_WIDE), row
    assert all(row[name] is None for name in COMPANY_WIDE), row
    (company,) = book.rows(Window.M15, T0, queue="*", channel="*")
    assert [kpi.name for kpi in WINDOWED if company[kpi.name] is None] == [], company


def test_metrics_export_every_kpi_gauge() -> None:
    reader = FakeReader()
    reader.book = KpiBook(costed_rules, accounts=AccountRules(lifespan_years=5))
    reader.book.put(0, BucketKey(MINUTE, "sales", "voice", T0 - 120), full_bucket())
    reader.book.put_customers(0, BucketKey(MINUTE, "*", "*", T0 - 900), customers_bucket())
    reader.book.put_customers(0, BucketKey(MINUTE, "*", "*", T0 - 120), customers_bucket())
    reader.book.put_agents(0, [AVAILABLE_AGENT])  # so that waiting per available agent has a value
    reader.become_ready()
    reader.view.refresh()
    exported = {name for name, _ in scrape(reader)}
    missing = [kpi.metric for kpi in WINDOWED if kpi.metric not in exported]
    assert not missing, f"gauges missing from /metrics: {missing}"
    assert {kpi.metric for kpi in LIVE} <= exported | {"cxpulse_longest_waiting_seconds"}  # none waiting: no age


def thresholds_on_everything() -> Thresholds:
    document = {"kpis": {kpi.name: {"direction": "above" if kpi.better == "lower" else "below", "warning": 1} for kpi in JUDGED}}
    return Thresholds(ThresholdsFile.model_validate(document))


def test_every_judged_kpi_takes_a_threshold_gets_a_status_and_renders_an_alert() -> None:
    thresholds = thresholds_on_everything()
    row = {kpi.name: 1.0 for kpi in KPIS} | {"answered": 50, "abandoned": 50, "handled": 50, "surveys": 50, "offered": 50, "tickets_created": 50, "tickets_resolved": 50,
                                            "messages_scored": 50}
    status = thresholds.status(lambda window: row, "sales", "voice")
    assert set(status) == {kpi.name for kpi in JUDGED} and None not in status.values()
    rules = alert_rules.kpi_rules(thresholds)["groups"][0]["rules"]
    for kpi in JUDGED:
        (rule,) = [r for r in rules if r["labels"]["kpi"] == kpi.name]
        assert rule["expr"].startswith(f"{kpi.metric}{{") or rule["expr"].startswith(f"({kpi.metric}{{"), rule
        assert rule["annotations"]["summary"].startswith(kpi.title)


def test_counts_take_no_threshold() -> None:
    with pytest.raises(ValueError, match="unknown KPI offered"):
        ThresholdsFile.model_validate({"kpis": {"offered": {"direction": "above", "warning": 1}}})


def test_the_catalog_endpoint_lists_every_kpi_and_the_wallboard_formats_every_display() -> None:
    assert [entry["name"] for entry in CATALOG["kpis"]] == NAMES
    script = (ROOT / "api/wallboard/wallboard.js").read_text()
    match = re.search(r"const DISPLAYS = \{([^}]*)\}", script)
    assert match, "wallboard.js has no DISPLAYS table"
    formatters = {name.strip() for name in match.group(1).split(",")}
    assert formatters == set(get_args(Display))
    assert "const FORMATS" not in script, "the wallboard must take its formats from /v1/catalog"


def test_the_docs_table_is_the_catalog_and_every_definition_anchor_exists() -> None:
    document = (ROOT / "docs/kpi-definitions.md").read_text()
    assert kpi_table.with_table(document) == document, "run `cxpulse catalog render` and commit docs/kpi-definitions.md"
    anchors = {re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-") for heading in re.findall(r"^#+ (.+)$", document, re.M)}
    missing = {kpi.name: kpi.definition for kpi in KPIS if kpi.definition not in anchors}
    assert not missing, f"definition anchors without a heading in docs/kpi-definitions.md: {missing}"
    for kpi in KPIS:
        assert f"`{kpi.name}`" in document


def test_survey_schema_accepts_exactly_the_declared_scales() -> None:
    schema = json.loads((ROOT / "streams/schemas/survey-event.v1.schema.json").read_text())
    scored = {name: spec for name, spec in schema["properties"].items() if spec.get("type") == "integer"}
    assert set(scored) == {scale.name for scale in SURVEY_SCALES}
    for scale in SURVEY_SCALES:
        assert (scored[scale.name]["minimum"], scored[scale.name]["maximum"]) == (scale.lowest, scale.highest)
        assert {"required": [scale.name]} in schema["anyOf"]
        assert f"{scale.name}_mean" in NAMES


def test_a_kpi_from_existing_counters_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the README promises: an answer rate added to the catalog is computed into every row."""
    from kpis import catalog, formulas

    answer_rate = Kpi(
        "answer_rate", "volumes", "Answer rate", "ratio", "percent", "higher", "cxpulse_window_answer_ratio",
        "Answered over offered.", "counts", formula=lambda c: formulas.ratio(c.stats.answered, c.stats.offered),
        volume=("offered",),
    )  # fmt: skip
    monkeypatch.setattr(catalog, "WINDOWED", (*catalog.WINDOWED, answer_rate))
    book = KpiBook(Settings().rules)
    book.put(0, BucketKey(MINUTE, "sales", "voice", T0 - 120), full_bucket())
    (row,) = book.rows(Window.M15, T0, queue="sales", channel="voice")
    assert row["answer_rate"] == 0.6  # 6 answered of 10 offered


def test_every_judged_kpi_is_leading_or_lagging_and_counts_are_neither() -> None:
    """The scorecard splits on this field: a judged KPI without a side would vanish from it."""
    sides = {kpi.name: kpi.indicator for kpi in KPIS}
    for name in ("asa_s", "wait_p90_s", "service_level", "abandon_rate", "waiting_now", "longest_waiting_s"):
        assert sides[name] == "leading", name
    for name in ("csat", "nps", "fcr_survey", "fcr_repeat", "aht_s", "csat_mean"):
        assert sides[name] == "lagging", name
    assert all(kpi.indicator in ("leading", "lagging") for kpi in JUDGED)
    assert all(kpi.indicator is None for kpi in KPIS if kpi.unit == "count" and not kpi.judged)
    assert [entry["indicator"] for entry in CATALOG["kpis"]] == list(sides.values())
