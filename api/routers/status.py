"""How far the counted numbers are behind the source topics."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.deps import get_reader, get_view
from api.snapshots import SnapshotReader
from api.view import KpiView
from kpis.windows import iso

router = APIRouter(prefix="/v1", tags=["status"])


@router.get("/status", summary="Processing lag: source events not yet reflected in the served numbers")
async def get_status(
    reader: Annotated[SnapshotReader, Depends(get_reader)], view: Annotated[KpiView, Depends(get_view)]
) -> dict[str, Any]:
    """Offsets are those of the rows /v1/kpis and /v1/stream serve now, so "caught up" means the
    numbers a client reads next include every counted event."""
    now = time.time()
    partitions = await reader.lag(view.frame.processed)
    lag = sum(p["lag"] for p in partitions)
    age = reader.age_seconds(now)
    return {
        "as_of": iso(now),
        "ready": reader.ready.is_set(),
        "lag": lag,
        "caught_up": reader.ready.is_set() and lag == 0,
        "events_processed": sum(p["processed_offset"] for p in partitions),
        "snapshot_age_s": None if age is None else round(age, 3),
        "partitions": partitions,
    }
