"""Current KPI values per queue and channel for a rolling window."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import get_reader
from api.snapshots import SnapshotReader
from kpis.book import iso
from kpis.windows import RollingWindow, rolling_span

router = APIRouter(prefix="/v1", tags=["kpis"])


@router.get("/kpis", summary="Current KPIs per queue and channel")
async def get_kpis(
    reader: Annotated[SnapshotReader, Depends(get_reader)],
    queue: Annotated[str | None, Query(min_length=1, max_length=200, description="only this queue (* = all queues)")] = None,
    channel: Annotated[str | None, Query(min_length=1, max_length=50, description="only this channel (* = all channels)")] = None,
    window: Annotated[RollingWindow, Query(description="rolling window ending now")] = RollingWindow.M15,
) -> dict[str, Any]:
    now = time.time()
    return {
        "as_of": iso(now),
        "items": reader.book.rows(rolling_span(window, now), window.value, queue, channel),
    }
