"""GET /v1/scorecard through the real application, on a hand-filled book whose numbers are worked
out in the comments: the day's leading and lagging KPIs, their targets and statuses, and the
parameters it refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from api.app import create_app
from api.routers import scorecard
from api.snapshots import SnapshotReader
from api.view import KpiView
from kpis.book import KpiBook
from kpis.buckets import BucketStats
from kpis.state import INTERVAL, MINUTE, BucketKey
from service.settings import Settings

# Friday 2026-02-20 14:00:30 UTC; every queue on UTC days.
NOW = int(datetime(2026, 2, 20, 14, 0, 30, tzinfo=timezone.utc).timestamp())
HISTORY_DAYS = 10  # days kept: 2026-02-11 to 2026-02-20
TARGETS = [
    # lower is better: 0.30 on 2026-02-10 down to 0.10 on 2026-03-02 (20 days); expected on the 20th
    # (day 10) 0.30 - 0.20 x 10/20 = 0.20, on the 19th (day 9) 0.30 - 0.20 x 9/20 = 0.21
    {"kpi": "abandon_rate", "target": 0.10, "baseline": 0.30, "start": "2026-02-10", "due": "2026-03-02", "benchmark": 0.05},
    # billing only: not on the all-queues scorecard
    {"kpi": "csat", "queue": "billing", "target": 0.9, "baseline": 0.7, "start": "2026-02-01", "due": "2026-02-21"},
]
THRESHOLDS = {
    "defaults": {"window": "15m", "min_volume": 1},
    "kpis": {"abandon_rate": {"direction": "above", "warning": 0.1, "critical": 0.3}},
}


def at(day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2026, 2, day, hour, minute, tzinfo=timezone.utc).timestamp())


def counted(answered: int, abandoned: int, csat: list[int] | None = None) -> BucketStats:
    stats = BucketStats(offered=answered + abandoned, answered=answered, abandoned=abandoned)
    if csat is not None:
        stats.surveys = sum(csat)
        stats.scores = {"csat": csat}
    return stats


def filled_book(settings: Settings) -> KpiBook:
    book = KpiBook(settings.rules)
    # today, billing: 8 answered, 2 abandoned -> abandon rate 0.2; CSAT answers 3, 4, 5, 5 -> 3/4 top box = 0.75
    book.put(0, BucketKey(INTERVAL, "billing", "voice", at(20, 12)), counted(8, 2, [0, 0, 1, 1, 2]))
    # the last minutes: 3 answered, 1 abandoned -> the 15-minute abandon rate 0.25: warning (0.1 .. 0.3)
    book.put(0, BucketKey(MINUTE, "billing", "voice", NOW - 90), counted(3, 1))
    # yesterday, billing: 9 answered, 1 abandoned -> 0.1; CSAT 1 and 5 -> 1/2 = 0.5
    book.put(0, BucketKey(INTERVAL, "billing", "voice", at(19, 12)), counted(9, 1, [1, 0, 0, 0, 1]))
    # yesterday, sales: 5 answered, 5 abandoned; with billing's, all queues 6/20 = 0.3
    book.put(0, BucketKey(INTERVAL, "sales", "voice", at(19, 9)), counted(5, 5))
    return book


# The spec's examples of each side. The catalog's ``indicator`` decides in the service; fixed here, the
# tests judge the endpoint, not the catalog's choices.
SIDES = {"abandon_rate": "leading", "asa_s": "leading", "waiting_now": "leading", "csat": "lagging", "nps": "lagging"}


@pytest.fixture(autouse=True)
def sides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scorecard, "side", lambda kpi: SIDES.get(kpi.name))


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    targets, thresholds = tmp_path / "targets.yaml", tmp_path / "thresholds.yaml"
    targets.write_text(yaml.safe_dump({"targets": TARGETS}))
    thresholds.write_text(yaml.safe_dump(THRESHOLDS))
    settings = Settings.model_validate(
        {"targets": {"file": str(targets)}, "alerts": {"thresholds_file": str(thresholds)}, "kpi": {"history_days": HISTORY_DAYS}}
    )
    app = create_app(settings)
    app.state.reader = SnapshotReader(settings, filled_book(settings))
    app.state.reader.ready.set()  # the book is whole, as after reading the snapshot topics to their end
    app.state.view = KpiView(
        app.state.reader, 1.0, 15.0, app.state.thresholds, app.state.targets, clock=lambda: float(NOW)
    )
    app.state.view.refresh()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        yield http


def by_kpi(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["kpi"]: item for item in items}


async def test_today_all_queues_leading_beside_lagging_with_targets_and_statuses(client: httpx.AsyncClient) -> None:
    got = await client.get("/v1/scorecard")
    assert got.status_code == 200
    card = got.json()
    assert (card["queue"], card["date"], card["today"], card["as_of"]) == ("*", "2026-02-20", True, "2026-02-20T14:00:30Z")
    assert (card["start"], card["end"]) == ("2026-02-20T00:00:00Z", "2026-02-20T14:15:00Z"), "today: up to the current interval"
    leading, lagging = by_kpi(card["leading"]), by_kpi(card["lagging"])
    assert list(leading) == ["abandon_rate", "asa_s", "waiting_now"], "in catalog order"
    assert list(lagging) == ["csat", "nps"]
    assert leading["abandon_rate"] == {
        "kpi": "abandon_rate", "title": "Abandon rate", "section": "abandonment", "unit": "ratio", "display": "percent",
        "better": "lower", "value": 0.2, "status": "warning",
        # 0.2 against 0.2 expected: on track; 0.1 above the target of 0.1
        "target": {"target": 0.1, "expected": 0.2, "gap": 0.1, "on_track": True, "met": False, "due": "2026-03-02",
                   "benchmark": 0.05},
    }  # fmt: skip
    assert leading["waiting_now"]["value"] == 0
    assert lagging["csat"]["value"] == 0.75
    assert lagging["csat"]["target"] is None, "the CSAT target is billing's"
    assert lagging["csat"]["status"] is None, "no threshold for CSAT"


async def test_an_earlier_day_is_its_history_row_without_live_values_or_statuses(client: httpx.AsyncClient) -> None:
    card = (await client.get("/v1/scorecard", params={"date": "2026-02-19"})).json()
    assert (card["date"], card["today"]) == ("2026-02-19", False)
    assert (card["start"], card["end"]) == ("2026-02-19T00:00:00Z", "2026-02-20T00:00:00Z")
    leading, lagging = by_kpi(card["leading"]), by_kpi(card["lagging"])
    # all queues: (1 + 5) / (10 + 10) = 0.3, against 0.21 expected: behind
    assert leading["abandon_rate"]["value"] == 0.3
    assert leading["abandon_rate"]["status"] is None
    assert leading["abandon_rate"]["target"] == {
        "target": 0.1, "expected": 0.21, "gap": 0.2, "on_track": False, "met": False, "due": "2026-03-02", "benchmark": 0.05,
    }  # fmt: skip
    assert leading["waiting_now"]["value"] is None
    assert lagging["csat"]["value"] == 0.5


async def test_one_queue_gets_its_own_numbers_and_targets(client: httpx.AsyncClient) -> None:
    card = (await client.get("/v1/scorecard", params={"queue": "billing", "date": "2026-02-19"})).json()
    leading, lagging = by_kpi(card["leading"]), by_kpi(card["lagging"])
    # billing alone: 1/10 = 0.1, the target itself
    assert leading["abandon_rate"]["value"] == 0.1
    assert leading["abandon_rate"]["target"]["met"] is True
    # CSAT 0.5 on the 19th, against 0.7 + 0.2 x 18/20 = 0.88 expected
    assert lagging["csat"]["target"] == {
        "target": 0.9, "expected": 0.88, "gap": -0.4, "on_track": False, "met": False, "due": "2026-02-21", "benchmark": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"queue": "nowhere"}, "queue", "unknown queue"),
        ({"date": "2026-02-21"}, "date", "after today"),
        ({"date": "2026-02-10"}, "date", "oldest day kept"),
        ({"date": "yesterday"}, "date", "date"),
        ({"queue": ""}, "queue", "at least 1"),
    ],
)
async def test_bad_parameters_are_named(client: httpx.AsyncClient, params: dict[str, str], parameter: str, words: str) -> None:
    got = await client.get("/v1/scorecard", params=params)
    assert got.status_code == 422
    [problem] = got.json()["detail"]
    assert problem["loc"] == ["query", parameter]
    assert words in problem["msg"]


async def test_the_oldest_day_kept_is_served(client: httpx.AsyncClient) -> None:
    got = await client.get("/v1/scorecard", params={"date": "2026-02-11"})
    assert got.status_code == 200
    assert by_kpi(got.json()["leading"])["abandon_rate"]["value"] is None


async def test_not_ready_is_503(tmp_path: Path) -> None:
    settings = Settings.model_validate({})
    app = create_app(settings)
    app.state.reader = SnapshotReader(settings, KpiBook(settings.rules))
    app.state.view = KpiView(app.state.reader, 1.0, 15.0, clock=lambda: float(NOW))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        got = await http.get("/v1/scorecard")
    assert got.status_code == 503
    assert got.headers["Retry-After"] == "1"



async def test_the_catalog_puts_the_issues_examples_on_their_sides(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unpatched: the issue's leading (sentiment, waits, abandon rate, backlog) and lagging (CSAT, NPS,
    churn, CLV, cost per contact) indicators, as the catalog marks them."""
    monkeypatch.undo()
    card = (await client.get("/v1/scorecard")).json()
    leading, lagging = by_kpi(card["leading"]), by_kpi(card["lagging"])
    assert {"asa_s", "abandon_rate", "tickets_backlog", "sentiment_mean", "sentiment_negative_share"} <= leading.keys()
    assert {"csat", "nps", "churn_rate", "clv", "cost_per_contact"} <= lagging.keys()
    assert not {"offered", "handled", "customers_joined"} & (leading.keys() | lagging.keys())
    # company-wide KPIs have no value without account events; the counts of this book still show
    assert lagging["churn_rate"]["value"] is None and leading["abandon_rate"]["value"] == 0.2
