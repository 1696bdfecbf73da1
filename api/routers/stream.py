"""Server-Sent Events for wallboards: the current rows on connect, then only what changed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from api.auth import still_authorized
from api.readiness import NOT_READY_RESPONSE, ready_view
from api.routers.kpis import WINDOW_HELP, ChannelsFilter, QueuesFilter
from api.view import KpiView, Selection
from kpis.windows import Window

router = APIRouter(prefix="/v1", tags=["kpis"])

STREAM_DESCRIPTION = """\
A `text/event-stream`. Every connection, first or reconnecting, starts with `event: snapshot` holding
all the selected rows; then `event: update` holds only the rows that changed (a row is identified by
queue, channel and window), also sent when `stale` flips; `event: heartbeat` comes when nothing changed
for `api.sse_heartbeat_seconds`. A client too slow to take every update gets a new `snapshot` (all its
rows again) instead of the ones it missed: replace, don't merge. Each `data:` is JSON with `as_of`, `stale` and (not on heartbeats)
`items`, the rows of `GET /v1/kpis`."""


@router.get(
    "/stream",
    summary="Live KPI rows as Server-Sent Events",
    description=STREAM_DESCRIPTION,
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "snapshot, then updates and heartbeats"},
        **NOT_READY_RESPONSE,
    },
)
async def stream(
    request: Request,
    view: Annotated[KpiView, Depends(ready_view)],
    queue: QueuesFilter = None,
    channel: ChannelsFilter = None,
    window: Annotated[list[Window] | None, Query(max_length=5, description=f"repeatable; {WINDOW_HELP}")] = None,
) -> StreamingResponse:
    selection = Selection.of(queue, channel, window or (Window.M15,))
    return StreamingResponse(
        view.events(selection, lambda: still_authorized(request)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
