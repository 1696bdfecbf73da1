"""Liveness and readiness for orchestrators and load balancers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.deps import get_reader
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
async def readyz(reader: Annotated[SnapshotReader, Depends(get_reader)]) -> JSONResponse:
    ready = reader.ready.is_set()
    return JSONResponse(
        {"status": "ready" if ready else "starting", "snapshot_records": reader.records},
        status_code=200 if ready else 503,
    )
