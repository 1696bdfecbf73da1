"""GET /v1/scorecard: one day's leading indicators beside its lagging ones, as a CX lead reads them.

Leading indicators (waits, abandon rate, backlog, sentiment) move first and can still be acted on
today; lagging ones (CSAT, NPS, churn, CLV, cost per contact) report the outcome. Which side a KPI is
on is the catalog's ``indicator``, so a KPI added there reaches the scorecard by itself. Today's
values are the served ``today`` row (live values and statuses included); an earlier day's are its
``/v1/history`` row, where live values and statuses have no meaning and are null.
"""

from __future__ import annotations

from datetime import date as Date
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from api.deps import get_reader, get_settings, get_targets
from api.readiness import NOT_READY_RESPONSE, ready_view
from api.snapshots import SnapshotReader
from api.view import Frame, KpiView
from kpis.book import ALL, KpiBook
from kpis.catalog import KPIS, Display, Indicator, Kpi, Unit
from kpis.targets import Targets, judge
from kpis.windows import HistoryInterval, Window, iso
from service.settings import Settings

router = APIRouter(prefix="/v1", tags=["kpis"])



class ScorecardTarget(BaseModel):
    target: float
    expected: float = Field(description="the value expected on the day on the straight line from baseline to target")
    gap: float | None = Field(description="value minus target, in the KPI's unit")
    on_track: bool | None = Field(description="value at least as good as expected on the day")
    met: bool | None = Field(description="value at least as good as the target")
    due: Date
    benchmark: float | None


class ScorecardItem(BaseModel):
    kpi: str
    title: str
    section: str
    unit: Unit
    display: Display = Field(description="how a screen shows the value (see /v1/catalog)")
    better: Literal["higher", "lower"] | None
    value: float | None = Field(description="the day's value; null without anything to compute it from")
    status: Literal["ok", "warning", "critical"] | None = Field(
        description="today only: the KPI's status under the thresholds file (judged on its rule's window, as /v1/kpis)"
    )
    target: ScorecardTarget | None = Field(description="the most specific target set for the queue, judged on this value")


class Scorecard(BaseModel):
    as_of: str
    queue: str = Field(description="the queue (* = all queues; customer KPIs exist only there)")
    date: Date = Field(description="the queue's local business day")
    today: bool = Field(description="the day is today: the values run to now and live values are filled")
    start: str | None = Field(description="the day's start (the queue's day_start in its time zone), RFC 3339")
    end: str | None = Field(description="the day's end (today: the end of the current 15-minute interval), RFC 3339")
    leading: list[ScorecardItem]
    lagging: list[ScorecardItem]


SCORECARD_DESCRIPTION = """\
The day's leading indicators (waits, abandon rate, backlog, sentiment: they move first) beside its
lagging ones (CSAT, NPS, churn, CLV, cost per contact: the outcome), each KPI on the side the catalog
gives it (`indicator` in `/v1/catalog`), all channels together. `queue` defaults to all queues (`*`),
the only row with the customer KPIs; `date` (the queue's local business day) defaults to today and may
go back `kpi.history_days`. Today's values are those of `/v1/kpis?window=today` with the live values
and statuses; an earlier day's are its `/v1/history` row, without live values or statuses. `target`
is the most specific target for the queue, judged on the day's value."""

EXAMPLE: dict[str, Any] = {
    "as_of": "2026-12-02T10:15:00.120Z", "queue": "*", "date": "2026-12-02", "today": True,
    "start": "2026-12-02T00:00:00Z", "end": "2026-12-03T00:00:00Z",
    "leading": [
        {"kpi": "abandon_rate", "title": "Abandon rate", "section": "abandonment", "unit": "ratio", "display": "percent",
         "better": "lower", "value": 0.043, "status": "ok",
         "target": {"target": 0.05, "expected": 0.061, "gap": -0.007, "on_track": True, "met": True,
                    "due": "2027-03-31", "benchmark": 0.05}},
    ],
    "lagging": [
        {"kpi": "csat", "title": "CSAT", "section": "quality", "unit": "ratio", "display": "percent", "better": "higher",
         "value": 0.82, "status": "warning", "target": None},
    ],
}  # fmt: skip


def side(kpi: Kpi) -> Indicator | None:
    """The catalog's ``indicator``; None for a KPI on neither side."""
    return kpi.indicator


def _invalid(parameter: str, message: str) -> HTTPException:
    return HTTPException(422, detail=[{"loc": ["query", parameter], "msg": message, "type": "value_error"}])


def _day_row(frame: Frame, book: KpiBook, queue: str, day: Date, today: bool) -> dict[str, Any]:
    if today:
        return frame.rows.get(Window.TODAY, {}).get((queue, ALL, Window.TODAY.value), {})
    rows = book.history(day, day, HistoryInterval.DAY, queue, ALL)
    return next((row for row in rows if row["queue"] == queue and row["channel"] == ALL), {})


def _item(kpi: Kpi, row: dict[str, Any], targets: dict[str, Any], day: Date) -> ScorecardItem:
    raw = row.get(kpi.name)
    value = None if raw is None else float(raw)
    target = targets.get(kpi.name)
    mark = None
    if target is not None:
        judged = judge(target, value, day)
        mark = ScorecardTarget(
            target=target.target, expected=judged.expected, gap=judged.gap, on_track=judged.on_track, met=judged.met,
            due=target.due, benchmark=target.benchmark,
        )  # fmt: skip
    return ScorecardItem(
        kpi=kpi.name, title=kpi.title, section=kpi.section, unit=kpi.unit, display=kpi.display, better=kpi.better,
        value=value, status=row.get("status", {}).get(kpi.name), target=mark,
    )  # fmt: skip


def build(frame: Frame, book: KpiBook, targets: Targets | None, queue: str, day: Date, today: bool) -> Scorecard:
    """The scorecard of one queue and day; the caller has checked both."""
    row = _day_row(frame, book, queue, day, today)
    chosen = {target.kpi: target for target in targets.for_row(queue, ALL)} if targets is not None else {}
    items: dict[Indicator, list[ScorecardItem]] = {"leading": [], "lagging": []}
    for kpi in KPIS:
        where = side(kpi)
        if where is not None:
            items[where].append(_item(kpi, row, chosen, day))
    return Scorecard(
        as_of=iso(frame.as_of), queue=queue, date=day, today=today, start=row.get("start"), end=row.get("end"),
        leading=items["leading"], lagging=items["lagging"],
    )  # fmt: skip


@router.get(
    "/scorecard",
    summary="The day's leading and lagging KPIs side by side, with their targets",
    description=SCORECARD_DESCRIPTION,
    response_model=Scorecard,
    responses={200: {"content": {"application/json": {"example": EXAMPLE}}}, **NOT_READY_RESPONSE},
)
async def get_scorecard(
    view: Annotated[KpiView, Depends(ready_view)],
    reader: Annotated[SnapshotReader, Depends(get_reader)],
    settings: Annotated[Settings, Depends(get_settings)],
    targets: Annotated[Targets | None, Depends(get_targets)],
    queue: Annotated[str, Query(min_length=1, max_length=200, description="a queue, or * for all queues")] = ALL,
    date: Annotated[Date | None, Query(description="the queue's local business day, YYYY-MM-DD (default: today)")] = None,
) -> Scorecard:
    frame, book = view.frame, reader.book
    if queue != ALL and queue not in book.queues():
        raise _invalid("queue", f"unknown queue {queue!r}: no numbers for it, and it is not configured")
    today = book.business_date(queue, frame.as_of)
    day = today if date is None else date
    oldest = today - timedelta(days=settings.kpi.history_days - 1)
    if day > today:
        raise _invalid("date", f"{day} is after today ({today} in queue {queue!r})")
    if day < oldest:
        raise _invalid("date", f"{day} is before the oldest day kept, {oldest} (kpi.history_days)")
    scorecard: Scorecard = frame.cached(
        ("scorecard", queue, day), lambda: build(frame, book, targets, queue, day, day == today)
    )
    return scorecard
