"""KPI values per past interval, local day, week or month, as JSON or as a CSV download."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from api import csv_export
from api.deps import get_settings
from api.readiness import NOT_READY_RESPONSE, ready_reader
from api.routers.kpis import ChannelFilter, QueueFilter
from api.snapshots import SnapshotReader
from kpis.windows import FIRST_HISTORY_DATE, LAST_HISTORY_DATE, HistoryInterval
from service.settings import Settings

router = APIRouter(prefix="/v1", tags=["kpis"])


class HistoryFormat(str, Enum):
    JSON = "json"
    CSV = "csv"


INTERVAL_HELP = (
    "15m, 30m, 60m, 1d (the queue's local business day), 1w (business weeks from the queue's week_start) "
    "or 1mo (calendar months of business days)"
)
HISTORY_DESCRIPTION = f"""\
One row per period, queue and channel, each queue in its own local business days (time zone and
`day_start`); roll-ups over queues (queue `*`) use the default rules. Every period that overlaps
`from`..`to` is reported whole: a week or month that starts before `from` or ends after `to` is
not cut at the range, so a month's row is the month's number, and its `date` is its first
business date; a week starts on the queue's `week_start` (Monday unless configured). `to` may be
at most `kpi.history_days` days after `from` (history is kept that long), whatever the interval; a
period reaching back beyond the kept history counts only the days still kept. `format=csv` sends the same rows as a `text/csv` attachment: a header row, then
`queue, channel, window, date, start, end` and the KPIs in the order of the JSON keys; an empty
cell is null. Dates from {FIRST_HISTORY_DATE} to {LAST_HISTORY_DATE}."""


def _invalid(parameter: str, message: str) -> HTTPException:
    return HTTPException(422, detail=[{"loc": ["query", parameter], "msg": message, "type": "value_error"}])


def check_range(first: date, last: date, history_days: int) -> None:
    """The limit is on the dates asked for, not on the whole weeks or months they touch, so any
    month can be had by naming a day of it; the most it can add is a period at either end."""
    for parameter, day in (("from", first), ("to", last)):
        if not FIRST_HISTORY_DATE <= day <= LAST_HISTORY_DATE:
            raise _invalid(parameter, f"'{parameter}' must be from {FIRST_HISTORY_DATE} to {LAST_HISTORY_DATE}")
    if last < first:
        raise _invalid("to", "'to' is before 'from'")
    most = history_days + 1
    if (last - first).days + 1 > most:
        raise _invalid("to", f"at most {most} days from 'from' to 'to' (history is kept {history_days} days)")


@router.get(
    "/history",
    summary="KPIs per 15/30/60-minute interval, local day, week or month, as JSON or CSV",
    description=HISTORY_DESCRIPTION,
    response_model=None,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **NOT_READY_RESPONSE},
)
async def get_history(
    reader: Annotated[SnapshotReader, Depends(ready_reader)],
    settings: Annotated[Settings, Depends(get_settings)],
    first: Annotated[date, Query(alias="from", description="first local date, YYYY-MM-DD")],
    last: Annotated[date, Query(alias="to", description="last local date, YYYY-MM-DD (inclusive)")],
    queue: QueueFilter = None,
    channel: ChannelFilter = None,
    interval: Annotated[HistoryInterval, Query(description=INTERVAL_HELP)] = HistoryInterval.DAY,
    output: Annotated[HistoryFormat, Query(alias="format", description="json, or csv for a download")] = HistoryFormat.JSON,
) -> dict[str, Any] | Response:
    check_range(first, last, settings.kpi.history_days)
    rows = reader.book.history(first, last, interval, queue, channel)
    if output is HistoryFormat.CSV:
        filename = f"cxpulse-history-{first}-{last}-{interval.value}.csv"
        return Response(
            csv_export.render(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return {"items": rows}
