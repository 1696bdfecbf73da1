"""Numbers are served only once they are whole.

A process that has not read the snapshot topics to their end holds some partitions' buckets and
not others: its rows are partial (zeros where the true value is 3), and they would look fresh,
since records are arriving. So until the reader is ready, and the view has computed a frame after
that, the endpoints that serve numbers answer 503 with ``Retry-After`` (as ``/readyz`` does); an
API process that restarts has no earlier frame of its own to offer instead.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException

from api.deps import get_reader, get_view
from api.snapshots import SnapshotReader
from api.view import KpiView

RETRY_AFTER_S = 1
NOT_READY_RESPONSE: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The process is still reading the snapshot topics (see /readyz); retry after `Retry-After` seconds.",
        "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}},
        "content": {"application/json": {"example": {"detail": "starting: 40 snapshot records read, not yet all"}}},
    }
}


def _starting(reader: SnapshotReader) -> HTTPException:
    return HTTPException(
        503,
        detail=f"starting: {reader.records} snapshot records read, not yet all",
        headers={"Retry-After": str(RETRY_AFTER_S), "Cache-Control": "no-store"},
    )


def ready_view(view: Annotated[KpiView, Depends(get_view)], reader: Annotated[SnapshotReader, Depends(get_reader)]) -> KpiView:
    if not view.frame.ready:
        raise _starting(reader)
    return view


def ready_reader(reader: Annotated[SnapshotReader, Depends(get_reader)]) -> SnapshotReader:
    if not reader.ready.is_set():
        raise _starting(reader)
    return reader
