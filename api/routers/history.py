"""KPI values per past interval or local day."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from api.deps import get_reader, get_settings
from api.routers.kpis import ChannelFilter, QueueFilter
from api.snapshots import SnapshotReader
from kpis.windows import HistoryInterval
from service.settings import Settings

router = APIRouter(prefix="/v1", tags=["kpis"])


@router.get("/history", summary="KPIs per 15/30/60-minute interval or per local day")
async def get_history(
    reader: Annotated[SnapshotReader, Depends(get_reader)],
    settings: Annotated[Settings, Depends(get_settings)],
    first: Annotated[date, Query(alias="from", description="first local date, YYYY-MM-DD")],
    last: Annotated[date, Query(alias="to", description="last local date, YYYY-MM-DD (inclusive)")],
    queue: QueueFilter = None,
    channel: ChannelFilter = None,
    interval: Annotated[HistoryInterval, Query(description="15m, 30m, 60m or 1d (the queue's local business day)")] = HistoryInterval.DAY,
) -> dict[str, Any]:
    if last < first:
        raise HTTPException(422, detail=[{"loc": ["query", "to"], "msg": "'to' is before 'from'", "type": "value_error"}])
    days = (last - first).days + 1
    if days > settings.kpi.history_days + 1:
        raise HTTPException(
            422,
            detail=[{"loc": ["query", "to"], "msg": f"at most {settings.kpi.history_days + 1} days per request", "type": "value_error"}],
        )
    return {"items": reader.book.history(first, last, interval, queue, channel)}
