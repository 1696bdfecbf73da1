"""How far the counted numbers are behind the source topics, and whether the broker answers.

Always 200 within the broker deadline (``SourceEnds``): the answer is a report, read by scripts
(``cxpulse replay --wait``) and people during exactly the faults it describes. When the broker does
not answer, it says so (``broker.reachable: false``, since when, why) and reports what it knows: the
processed offsets and the last end offsets the broker gave, with ``caught_up`` false because nothing
published since can be ruled out. Load balancers use ``/readyz``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.deps import get_reader, get_view
from api.snapshots import SnapshotReader, lag_entries
from api.view import KpiView
from kpis.windows import iso

router = APIRouter(prefix="/v1", tags=["status"])

STATUS_DESCRIPTION = """\
Per source partition the end offset, the offset the served rows include and the lag. Answers 200
within a few seconds even when the broker does not answer: then `broker.reachable` is false (with
`unreachable_s` and `error`), the end offsets are the last ones known (`broker.end_offsets_as_of`)
and `caught_up` is false. `events_processed` is the sum over source partitions of the next offset
whose effects the served numbers include; it never goes backwards."""


def _broker(reader: SnapshotReader, now: float) -> dict[str, Any]:
    outage = reader.ends.outage
    known_at = reader.ends.known_at
    return {
        "reachable": outage is None,
        "unreachable_s": None if outage is None else round(now - outage.since, 1),
        "error": None if outage is None else outage.error,
        "end_offsets_as_of": None if known_at is None else iso(known_at),
    }


@router.get("/status", summary="Processing lag: source events not yet reflected in the served numbers", description=STATUS_DESCRIPTION)
async def get_status(
    reader: Annotated[SnapshotReader, Depends(get_reader)], view: Annotated[KpiView, Depends(get_view)]
) -> dict[str, Any]:
    """Offsets are those of the rows /v1/kpis and /v1/stream serve now, so "caught up" means the
    numbers a client reads next include every counted event."""
    frame = view.frame
    fresh = await reader.lag(frame.processed)
    partitions = lag_entries(reader.ends.known, frame.processed) if fresh is None else fresh
    now = time.time()
    lag = sum(p["lag"] for p in partitions)
    age = reader.age_seconds(now)
    return {
        "as_of": iso(now),
        "ready": reader.ready.is_set(),
        "lag": lag,
        "caught_up": reader.ready.is_set() and fresh is not None and lag == 0,
        "events_processed": sum(frame.processed.values()),
        "snapshot_age_s": None if age is None else round(age, 3),
        "stale": reader.stale(now),
        "broker": _broker(reader, now),
        "partitions": partitions,
    }
