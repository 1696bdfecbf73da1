"""History as CSV: the header is the JSON rows' keys in their order, null is an empty cell, numbers plain."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from api.csv_export import cell, columns, render
from kpis.book import KpiBook
from kpis.buckets import BucketStats
from kpis.state import INTERVAL, BucketKey
from kpis.windows import HistoryInterval
from service.settings import Settings

# 2026-03-02 (a Monday) at 12:00 UTC
NOON = int(datetime.fromisoformat("2026-03-02T12:00:00+00:00").timestamp())
STATS = BucketStats(offered=8, answered=6, abandoned=2, answered_wait_sum_s=45, answered_with_wait=6, answered_within_sl=3)


def history_rows() -> list[dict[str, Any]]:
    book = KpiBook(Settings().rules)
    book.put(0, BucketKey(INTERVAL, "billing", "voice", NOON), STATS)
    return book.history(date(2026, 3, 2), date(2026, 3, 2), HistoryInterval.WEEK)


def test_header_is_the_json_keys_in_order_and_rows_follow_it() -> None:
    rows = history_rows()
    text = render(rows)
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == list(rows[0]) == list(columns())
    assert lines[0][:7] == ["queue", "channel", "window", "date", "start", "end", "offered"]
    assert len(lines) == 1 + 4  # billing/voice, billing/*, */voice, */*
    record = dict(zip(lines[0], lines[1]))
    assert (record["queue"], record["channel"], record["window"], record["date"]) == ("*", "*", "1w", "2026-03-02")
    assert (record["start"], record["end"]) == ("2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z")
    # 2 of 8 left unanswered; 45 s over 6 answers; 3 within the threshold of 6 + 2
    assert (record["offered"], record["abandon_rate"], record["asa_s"], record["service_level"]) == ("8", "0.25", "7.5", "0.375")
    assert (record["service_level_numerator"], record["service_level_denominator"]) == ("3", "8")
    # no surveys, handled contacts or known customers: null, an empty cell
    assert record["csat"] == record["aht_s"] == record["repeat_contact_rate"] == ""


def test_lines_end_in_crlf_and_text_with_commas_or_quotes_is_quoted() -> None:
    row = dict.fromkeys(columns(), None) | {"queue": 'sales, "north"', "channel": "voice", "offered": 3}
    text = render([row])
    assert text.endswith("\r\n") and text.count("\r\n") == 2
    assert text.split("\r\n")[1].startswith('"sales, ""north""",voice,,,,,3,')


def test_cells() -> None:
    assert cell(None) == ""
    assert (cell(True), cell(False)) == ("true", "false")
    assert (cell(0), cell(1234567)) == ("0", "1234567")
    assert (cell(2.5), cell(10.0), cell(0.00003), cell(1e16)) == ("2.5", "10.0", "0.00003", "10000000000000000")
    assert cell(1 / 3) == "0.3333333333333333"
    assert cell("2026-03-02") == "2026-03-02"


def test_text_that_a_spreadsheet_would_run_as_a_formula_stays_text_but_negative_numbers_stay_numbers() -> None:
    from api.csv_export import cell

    assert cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert cell("@sales") == "'@sales" and cell("-vip") == "'-vip" and cell("+44 line") == "'+44 line"
    assert cell(-35) == "-35" and cell(-12.5) == "-12.5" and cell("billing") == "billing"


def test_tickets_per_category_are_one_cell() -> None:
    row = {name: None for name in columns()} | {"queue": "billing", "tickets_by_category": {"billing": 3, "refund": 1}}
    header, line = render([row]).splitlines()
    assert header.endswith(",tickets_by_category") and line.endswith(",billing=3;refund=1")
