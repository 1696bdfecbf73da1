"""GET /v1/history through the real application (routers, validation, HEAD), on a hand-filled book."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest

from api.app import create_app
from api.snapshots import SnapshotReader
from kpis.book import KpiBook
from kpis.buckets import BucketStats
from kpis.state import INTERVAL, BucketKey
from service.settings import Settings

# Sunday 8 March 2026, 12:00 UTC: in the Monday week of 2 March, in the billing queue's Sunday week of 8 March
SUNDAY_NOON = int(datetime.fromisoformat("2026-03-08T12:00:00+00:00").timestamp())


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings.model_validate({"queues": {"billing": {"week_start": "sunday"}}})
    book = KpiBook(settings.rules, settings.queues)
    book.put(0, BucketKey(INTERVAL, "billing", "voice", SUNDAY_NOON), BucketStats(offered=4, answered=4))
    app = create_app(settings)
    app.state.reader = SnapshotReader(settings, book)  # what the lifespan sets up, without following Kafka
    app.state.reader.ready.set()  # the book is whole, as after reading the snapshot topics to their end
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        yield http


async def test_weeks_as_json_and_as_the_same_rows_in_csv(client: httpx.AsyncClient) -> None:
    params = {"from": "2026-03-04", "to": "2026-03-10", "interval": "1w", "queue": "billing", "channel": "voice"}
    items = (await client.get("/v1/history", params=params)).json()["items"]
    assert [(r["date"], r["start"], r["end"], r["offered"]) for r in items] == [
        ("2026-03-01", "2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z", 0),
        ("2026-03-08", "2026-03-08T00:00:00Z", "2026-03-15T00:00:00Z", 4),
    ]
    response = await client.get("/v1/history", params={**params, "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="cxpulse-history-2026-03-04-2026-03-10-1w.csv"'
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0] == list(items[0])
    def shown(value: object) -> str:
        if isinstance(value, dict):  # tickets per category: "billing=3;refund=1"
            return ";".join(f"{key}={count}" for key, count in value.items())
        return "" if value is None else str(value)

    assert [dict(zip(lines[0], line)) for line in lines[1:]] == [{key: shown(value) for key, value in item.items()} for item in items]


async def test_a_month_is_reported_whole_and_roll_ups_use_the_default_week(client: httpx.AsyncClient) -> None:
    month = await client.get("/v1/history", params={"from": "2026-03-20", "to": "2026-03-20", "interval": "1mo"})
    rows = {(r["queue"], r["channel"]): r for r in month.json()["items"]}
    assert (rows["billing", "voice"]["date"], rows["billing", "voice"]["offered"]) == ("2026-03-01", 4)
    assert (rows["*", "*"]["start"], rows["*", "*"]["end"]) == ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")
    week = await client.get("/v1/history", params={"from": "2026-03-08", "to": "2026-03-08", "interval": "1w"})
    dated = {(r["queue"], r["channel"]): (r["date"], r["offered"]) for r in week.json()["items"]}
    assert dated == {
        ("billing", "voice"): ("2026-03-08", 4), ("billing", "*"): ("2026-03-08", 4),
        ("*", "voice"): ("2026-03-02", 4), ("*", "*"): ("2026-03-02", 4),
    }


async def test_head_of_a_csv_download_has_the_get_headers_and_no_body(client: httpx.AsyncClient) -> None:
    params = {"from": "2026-03-08", "to": "2026-03-08", "format": "csv"}
    got = await client.get("/v1/history", params=params)
    head = await client.head("/v1/history", params=params)
    assert head.status_code == got.status_code == 200 and head.content == b""
    for name in ("content-type", "content-disposition", "content-length"):
        assert head.headers[name] == got.headers[name]
    assert int(head.headers["content-length"]) == len(got.content) > 0


@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        ({"format": "xml"}, "format", "Input should be 'json' or 'csv'"),
        ({"interval": "1y"}, "interval", "Input should be"),
        ({"from": "2026-01-01", "to": "2026-03-31", "interval": "1mo"}, "to", "at most 36 days from 'from' to 'to'"),
        ({"from": "1969-12-31", "to": "1970-01-01"}, "from", "'from' must be from 1970-01-01 to 9998-12-31"),
        ({"from": "9998-12-31", "to": "9999-01-01"}, "to", "'to' must be from 1970-01-01 to 9998-12-31"),
        ({"from": "2026-03-10", "to": "2026-03-09"}, "to", "'to' is before 'from'"),
    ],
)
async def test_invalid_requests_get_422_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, str], parameter: str, message: str
) -> None:
    response = await client.get("/v1/history", params={"from": "2026-03-08", "to": "2026-03-08", **params})
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["query", parameter] and message in problem["msg"]


async def test_the_last_dates_allowed_still_have_whole_weeks_and_months(client: httpx.AsyncClient) -> None:
    for interval, start, end in (
        ("1mo", "9998-12-01T00:00:00Z", "9999-01-01T00:00:00Z"),
        # 8000 years are 20 Gregorian cycles: 9998-12-31 is a Thursday, as 1998-12-31 was
        ("1w", "9998-12-28T00:00:00Z", "9999-01-04T00:00:00Z"),
    ):
        params = {"from": "9998-12-31", "to": "9998-12-31", "interval": interval}
        response = await client.get("/v1/history", params=params)
        assert response.status_code == 200, response.text
        assert {(row["start"], row["end"]) for row in response.json()["items"] if row["queue"] == "*"} == {(start, end)}
