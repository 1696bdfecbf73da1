"""Targets where they are served: the ``target`` object of /v1/kpis rows (made once per refresh by
the view), GET /v1/targets through the real application and the target gauges of /metrics, on a
hand-filled book whose numbers are worked out in the comments."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.auth import hash_token
from api.metrics import KpiCollector
from api.snapshots import SnapshotReader
from api.view import KpiView, Selection
from kpis.book import KpiBook
from kpis.buckets import BucketStats
from kpis.state import INTERVAL, MINUTE, BucketKey
from kpis.windows import Window
from service.settings import ApiSettings, Settings, load_targets

# Friday 2026-02-20 23:30:30 UTC: day 50 of the 100 from 2026-01-01 to 2026-04-11 in a UTC queue,
# but already Saturday 2026-02-21 08:30 (day 51) in Tokyo.
NOW = int(datetime(2026, 2, 20, 23, 30, 30, tzinfo=timezone.utc).timestamp())
TARGETS = [
    # all queues: 0.70 -> 0.80 over 100 days; expected 0.75 on day 50, 0.751 on day 51
    {"kpi": "service_level", "target": 0.80, "baseline": 0.70, "start": "2026-01-01", "due": "2026-04-11", "benchmark": 0.8},
    # sales only, lower is better: 0.25 -> 0.05 over the 20 days from 2026-02-12 to 2026-03-04;
    # 2026-02-20 is day 8: expected 0.25 - 0.20 * 8/20 = 0.17
    {"kpi": "abandon_rate", "queue": "sales", "target": 0.05, "baseline": 0.25, "start": "2026-02-12", "due": "2026-03-04",
     "name": "Sales abandons", "note": "new IVR"},
    # not started yet
    {"kpi": "csat", "target": 0.9, "baseline": 0.8, "start": "2026-03-01", "due": "2026-06-30"},
]  # fmt: skip
HISTORY_DAYS = 10  # days kept: 2026-02-11 to 2026-02-20

# sales/voice per UTC day: (answered, abandoned, answered within the service level)
SALES_DAYS = {
    10: (0, 50, 0),  # before the history kept: counted by no target
    11: (10, 0, 5),
    13: (8, 2, 6),  # service level 0.6, abandon rate 0.2
    14: (8, 2, 6),
    16: (9, 1, 7),  # 0.7, 0.1
    17: (9, 1, 7),
    18: (9, 1, 8),  # 0.8, 0.1
    19: (10, 0, 8),  # 0.8, 0.0
    20: (9, 1, 7),  # today: 0.7, 0.1
}


def at(day: int, hour: int) -> int:
    return int(datetime(2026, 2, day, hour, tzinfo=timezone.utc).timestamp())


def counted(answered: int, abandoned: int, within: int) -> BucketStats:
    return BucketStats(offered=answered + abandoned, answered=answered, abandoned=abandoned, answered_within_sl=within)


def settings_with_targets(tmp_path: Path) -> Settings:
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump({"targets": TARGETS}))
    return Settings.model_validate(
        {"queues": {"tokyo": {"timezone": "Asia/Tokyo"}}, "targets": {"file": str(path)}, "kpi": {"history_days": HISTORY_DAYS}}
    )


def filled_book(settings: Settings) -> KpiBook:
    book = KpiBook(settings.rules)
    for day, numbers in SALES_DAYS.items():
        book.put(0, BucketKey(INTERVAL, "sales", "voice", at(day, 12)), counted(*numbers))
    # Tokyo's today began at 15:00 UTC; one bucket in it: service level 0.8
    book.put(0, BucketKey(INTERVAL, "tokyo", "voice", at(20, 23)), counted(10, 0, 8))
    # The last minutes of sales: a perfect 15 minutes (1.0) that the today-judged target must not see
    book.put(0, BucketKey(MINUTE, "sales", "voice", NOW - 30 - 60), counted(1, 0, 1))
    return book


def view_of(settings: Settings, book: KpiBook) -> KpiView:
    assert settings.targets.file is not None
    view = KpiView(
        SnapshotReader(settings, book), 1.0, 15.0, targets=load_targets(settings.targets.file), clock=lambda: float(NOW)
    )
    view.refresh()
    return view


def row(view: KpiView, queue: str, channel: str, window: Window) -> dict[str, Any]:
    return view.frame.rows[window][(queue, channel, window.value)]


async def test_rows_carry_the_targets_of_their_queue_judged_on_the_targets_window(tmp_path: Path) -> None:
    settings = settings_with_targets(tmp_path)
    view = view_of(settings, filled_book(settings))
    sales = row(view, "sales", "voice", Window.M15)
    assert sales["service_level"] == 1.0
    assert sales["target"] == {
        # today 7/10 against 0.75 expected on day 50
        "service_level": {
            "target": 0.8, "expected": 0.75, "actual": 0.7, "gap": -0.1, "on_track": False, "met": False,
            "window": "today", "due": "2026-04-11", "benchmark": 0.8,
        },
        # today 1/10 against 0.17 expected: lower is better
        "abandon_rate": {
            "target": 0.05, "expected": 0.17, "actual": 0.1, "gap": 0.05, "on_track": True, "met": False,
            "window": "today", "due": "2026-03-04", "benchmark": None,
        },
        # no survey today
        "csat": {
            "target": 0.9, "expected": 0.8, "actual": None, "gap": None, "on_track": None, "met": None,
            "window": "today", "due": "2026-06-30", "benchmark": None,
        },
    }  # fmt: skip
    assert row(view, "sales", "voice", Window.TODAY)["target"] == sales["target"]
    # Tokyo is on day 51: 0.751 expected; its 0.8 today meets the target
    tokyo = row(view, "tokyo", "voice", Window.M15)["target"]
    assert set(tokyo) == {"service_level", "csat"}, "the abandon-rate target is for sales only"
    assert (tokyo["service_level"]["expected"], tokyo["service_level"]["actual"]) == (0.751, 0.8)
    assert (tokyo["service_level"]["gap"], tokyo["service_level"]["on_track"], tokyo["service_level"]["met"]) == (0, True, True)
    # The roll-up is judged on its own value, (7 + 8) / (10 + 10), on the default (UTC) calendar
    overall = row(view, "*", "*", Window.M60)["target"]["service_level"]
    assert (overall["expected"], overall["actual"], overall["on_track"], overall["met"]) == (0.75, 0.75, True, False)
    assert set(row(view, "sales", "*", Window.M15)["target"]) == {"service_level", "abandon_rate", "csat"}
    assert set(row(view, "*", "voice", Window.M15)["target"]) == {"service_level", "csat"}


async def test_a_change_in_the_targets_window_is_an_update_of_every_row_of_the_pair(tmp_path: Path) -> None:
    settings = settings_with_targets(tmp_path)
    book = filled_book(settings)
    view = view_of(settings, book)
    book.put(0, BucketKey(INTERVAL, "sales", "voice", at(20, 12)), counted(10, 0, 10))  # today only, no minute bucket
    frame = view.refresh()
    assert row(view, "sales", "voice", Window.M15)["target"]["service_level"]["actual"] == 1.0
    assert ("sales", "voice", "15m") in frame.changed, "an SSE client of the 15m window gets the new mark"
    (served,) = json.loads(view.body(Selection.of(["sales"], ["voice"], [Window.M15])).content)["items"]
    assert served["target"]["service_level"]["actual"] == 1.0


async def test_rows_have_no_target_without_a_targets_file() -> None:
    book = KpiBook(Settings().rules)
    book.put(0, BucketKey(MINUTE, "sales", "voice", NOW - 90), counted(1, 0, 1))
    view = KpiView(SnapshotReader(Settings(), book), 1.0, 15.0, clock=lambda: float(NOW))
    view.refresh()
    assert "target" not in row(view, "sales", "voice", Window.M15)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_with_targets(tmp_path)
    book = filled_book(settings)
    app = create_app(settings)
    # what the lifespan sets up, without following Kafka
    app.state.reader = SnapshotReader(settings, book)
    app.state.reader.ready.set()  # the book is whole, as after reading the snapshot topics to their end
    app.state.view = KpiView(app.state.reader, 1.0, 15.0, targets=app.state.targets, clock=lambda: float(NOW))
    app.state.view.refresh()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        yield http


async def test_every_target_is_judged_on_what_it_is_set_for(client: httpx.AsyncClient) -> None:
    answer = (await client.get("/v1/targets")).json()
    assert (answer["as_of"], answer["history_days"]) == ("2026-02-20T23:30:30Z", HISTORY_DAYS)
    level, abandons, csat = answer["items"]

    # Every queue: judged on (*, *), sales and Tokyo together on the UTC calendar
    assert (level["kpi"], level["scope"], level["queue"], level["channel"]) == ("service_level", {"queue": None, "channel": None}, "*", "*")
    assert (level["local_date"], level["elapsed"], level["expected"], level["benchmark"]) == ("2026-02-20", 0.5, 0.75, 0.8)
    assert level["today"] == {"actual": 0.75, "gap": -0.05, "on_track": True, "met": False}  # (7 + 8) / 20
    # From 2026-01-01, clipped to the 10 days kept (from 2026-02-11, so 2026-02-10 is left out):
    # sales 5+6+6+7+7+8+8+7 = 54 of 80, Tokyo 8 of 10 (its 23:00 UTC bucket is on the UTC 20th)
    assert level["period_to_date"] == {
        "from": "2026-02-11", "to": "2026-02-20", "clipped": True,
        "actual": 62 / 90, "gap": round(62 / 90 - 0.8, 9), "on_track": False, "met": False,
    }  # fmt: skip
    # 2026-02-13 to 2026-02-19: 0.6, 0.6, none, 0.7, 0.7, 0.8, 0.8 at x = 0, 1, 3, 4, 5, 6;
    # mean x 19/6, mean y 0.7; sum dx*dy = 0.1 * (19 + 13 + 11 + 17) / 6 = 1;
    # sum dx^2 = (361 + 169 + 1 + 25 + 121 + 289) / 36 = 161/6; slope 6/161 a day
    assert level["trend"] == {
        "days": [
            {"date": f"2026-02-{day}", "actual": value}
            for day, value in zip(range(13, 20), (0.6, 0.6, None, 0.7, 0.7, 0.8, 0.8))
        ],
        "slope_per_day": round(6 / 161, 9),
        "toward_target": True,
    }

    # Sales only: judged on (sales, *) from its start (not clipped): 8 abandons of 70 contacts
    assert (abandons["scope"], abandons["queue"], abandons["channel"]) == ({"queue": "sales", "channel": None}, "sales", "*")
    assert (abandons["name"], abandons["note"], abandons["expected"], abandons["elapsed"]) == ("Sales abandons", "new IVR", 0.17, 0.4)
    assert abandons["today"] == {"actual": 0.1, "gap": 0.05, "on_track": True, "met": False}
    assert abandons["period_to_date"] == {
        "from": "2026-02-12", "to": "2026-02-20", "clipped": False,
        "actual": 8 / 70, "gap": round(8 / 70 - 0.05, 9), "on_track": True, "met": False,
    }  # fmt: skip
    # 0.2, 0.2, none, 0.1, 0.1, 0.1, 0.0: sum dx*dy = -49/60, sum dx^2 = 161/6, slope -7/230 a day
    assert [day["actual"] for day in abandons["trend"]["days"]] == [0.2, 0.2, None, 0.1, 0.1, 0.1, 0.0]
    assert (abandons["trend"]["slope_per_day"], abandons["trend"]["toward_target"]) == (round(-7 / 230, 9), True)

    # Not started: the baseline is expected, there is no period yet
    assert (csat["expected"], csat["elapsed"], csat["period_to_date"]) == (0.8, 0.0, None)
    assert csat["today"] == {"actual": None, "gap": None, "on_track": None, "met": None}
    assert csat["trend"]["slope_per_day"] is None


async def test_a_queue_gets_the_targets_that_apply_to_it_on_its_own_calendar(client: httpx.AsyncClient) -> None:
    tokyo = (await client.get("/v1/targets", params={"queue": "tokyo"})).json()["items"]
    assert [(t["kpi"], t["queue"], t["channel"]) for t in tokyo] == [("service_level", "tokyo", "*"), ("csat", "tokyo", "*")]
    level = tokyo[0]
    assert (level["local_date"], level["expected"], level["elapsed"]) == ("2026-02-21", 0.751, 0.51)
    assert level["today"] == {"actual": 0.8, "gap": 0, "on_track": True, "met": True}
    # Tokyo's 2026-02-21 runs from 15:00 UTC on the 20th: its one bucket is all of its period
    assert (level["period_to_date"]["from"], level["period_to_date"]["actual"]) == ("2026-02-12", 0.8)
    sales_chat = (await client.get("/v1/targets", params={"queue": "sales", "channel": "chat"})).json()["items"]
    assert [(t["kpi"], t["today"]["actual"]) for t in sales_chat] == [("service_level", None), ("abandon_rate", None), ("csat", None)]


async def test_head_and_the_openapi_schema(client: httpx.AsyncClient) -> None:
    got = await client.get("/v1/targets", params={"queue": "sales"})
    head = await client.head("/v1/targets", params={"queue": "sales"})
    assert head.status_code == got.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/v1/targets"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"queue", "channel"}
    response = operation["responses"]["200"]["content"]["application/json"]
    assert response["schema"] == {"$ref": "#/components/schemas/TargetsAnswer"}
    example = response["example"]["items"][0]
    assert set(example) == set(schema["components"]["schemas"]["TargetReport"]["properties"])
    assert set(example["period_to_date"]) == set(schema["components"]["schemas"]["PeriodToDate"]["properties"])


async def test_without_a_targets_file_the_list_is_empty(tmp_path: Path) -> None:
    settings = Settings()
    app = create_app(settings)
    app.state.reader = SnapshotReader(settings, KpiBook(settings.rules))
    app.state.reader.ready.set()
    app.state.view = KpiView(app.state.reader, 1.0, 15.0, clock=lambda: float(NOW))
    app.state.view.refresh()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.get("/v1/targets")).json()["items"] == []


def test_metrics_export_each_configured_target_and_its_expected_value(tmp_path: Path) -> None:
    settings = settings_with_targets(tmp_path)
    path = tmp_path / "more-targets.yaml"
    tokyo_voice = {"kpi": "service_level", "queue": "tokyo", "channel": "voice", "target": 0.9, "baseline": 0.7,
                   "start": "2026-01-01", "due": "2026-04-11"}  # fmt: skip
    path.write_text(yaml.safe_dump({"targets": [*TARGETS, tokyo_voice]}))
    reader = SnapshotReader(settings, filled_book(settings))
    targets = load_targets(path)
    view = KpiView(reader, 1.0, 15.0, targets=targets, clock=lambda: float(NOW))
    view.refresh()
    registry = CollectorRegistry()
    registry.register(KpiCollector(reader, view, targets, clock=lambda: float(NOW)))
    exposition = generate_latest(registry)
    samples = {
        (sample.name, sample.labels["kpi"], sample.labels["queue"], sample.labels["channel"]): sample.value
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
        if sample.name.startswith("cxpulse_kpi_target")
    }
    assert samples == {
        ("cxpulse_kpi_target", "service_level", "*", "*"): 0.8,
        ("cxpulse_kpi_target_expected", "service_level", "*", "*"): 0.75,  # day 50 on the default (UTC) calendar
        ("cxpulse_kpi_target", "abandon_rate", "sales", "*"): 0.05,
        ("cxpulse_kpi_target_expected", "abandon_rate", "sales", "*"): 0.17,
        ("cxpulse_kpi_target", "csat", "*", "*"): 0.9,
        ("cxpulse_kpi_target_expected", "csat", "*", "*"): 0.8,  # not started: the baseline
        ("cxpulse_kpi_target", "service_level", "tokyo", "voice"): 0.9,
        ("cxpulse_kpi_target_expected", "service_level", "tokyo", "voice"): 0.802,  # day 51 in Tokyo: 0.7 + 0.2 * 0.51
    }
    result = subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True)
    assert result.returncode == 0 and not result.stdout and not result.stderr, result.stdout + result.stderr


def test_metrics_without_targets_have_no_target_series() -> None:
    settings = Settings()
    reader = SnapshotReader(settings, KpiBook(settings.rules))
    registry = CollectorRegistry()
    registry.register(KpiCollector(reader, KpiView(reader, 1.0, 15.0), clock=lambda: float(NOW)))
    assert b"cxpulse_kpi_target{" not in generate_latest(registry)


async def test_the_targets_report_needs_a_token_like_the_rest_of_v1(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(f"wall: {hash_token('s3cret')}\n")
    settings = settings_with_targets(tmp_path).model_copy(update={"api": ApiSettings(tokens_file=tokens)})
    app = create_app(settings)
    app.state.reader = SnapshotReader(settings, filled_book(settings))
    app.state.reader.ready.set()
    app.state.view = KpiView(app.state.reader, 1.0, 15.0, targets=app.state.targets, clock=lambda: float(NOW))
    app.state.view.refresh()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.get("/v1/targets")).status_code == 401
        assert (await http.get("/v1/targets", headers={"Authorization": "Bearer s3cret"})).status_code == 200
