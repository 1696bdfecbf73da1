"""Current KPI values per queue and channel for a window ending now."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import get_reader
from api.snapshots import SnapshotReader
from kpis.windows import Window, iso

router = APIRouter(prefix="/v1", tags=["kpis"])

QueueFilter = Annotated[str | None, Query(min_length=1, max_length=200, description="only this queue (* = the all-queues roll-up)")]
ChannelFilter = Annotated[str | None, Query(min_length=1, max_length=50, description="only this channel (* = the all-channels roll-up)")]


@router.get("/kpis", summary="Current KPIs per queue and channel")
async def get_kpis(
    reader: Annotated[SnapshotReader, Depends(get_reader)],
    queue: QueueFilter = None,
    channel: ChannelFilter = None,
    window: Annotated[
        Window, Query(description="15m/30m/60m rolling, today since the queue's local day start, or the current 15-minute interval")
    ] = Window.M15,
) -> dict[str, Any]:
    now = time.time()
    return {
        "as_of": iso(now),
        "stale": reader.stale(now),
        "items": reader.book.rows(window, now, queue, channel),
    }
