"""Liveness and readiness for orchestrators and load balancers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.snapshots import SnapshotReader

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The process has caught up with the snapshot log and can serve numbers",
    responses={
        200: {"description": "ready", "content": {"application/json": {"example": {"status": "ready", "snapshot_records": 1200}}}},
        503: {
            "description": "still reading the snapshot topics",
            "content": {"application/json": {"example": {"status": "starting", "snapshot_records": 40}}},
        },
    },
)
async def readyz(request: Request) -> JSONResponse:
    """An ingest-only process (api.role ingest) reads no snapshots: it is ready once it serves, since
    its producer started before the first request."""
    reader: SnapshotReader | None = getattr(request.app.state, "reader", None)
    if reader is None:
        return JSONResponse({"status": "ready", "snapshot_records": 0})
    ready = reader.ready.is_set()
    return JSONResponse(
        {"status": "ready" if ready else "starting", "snapshot_records": reader.records},
        status_code=200 if ready else 503,
    )
