"""Current KPI values per queue and channel for a window ending now, served from the shared frame."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import StringConstraints

from api.readiness import NOT_READY_RESPONSE, ready_view
from api.view import KpiView, Selection
from kpis.windows import Window

router = APIRouter(prefix="/v1", tags=["kpis"])

QueueFilter = Annotated[str | None, Query(min_length=1, max_length=200, description="only this queue (* = the all-queues roll-up)")]
ChannelFilter = Annotated[str | None, Query(min_length=1, max_length=50, description="only this channel (* = the all-channels roll-up)")]
QueueName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ChannelName = Annotated[str, StringConstraints(min_length=1, max_length=50)]
QueuesFilter = Annotated[
    list[QueueName] | None,
    Query(alias="queue", max_length=500, description="only these queues, repeatable (* = the all-queues roll-up)"),
]
ChannelsFilter = Annotated[
    list[ChannelName] | None,
    Query(alias="channel", max_length=50, description="only these channels, repeatable (* = the all-channels roll-up)"),
]
WINDOW_HELP = "15m/30m/60m rolling, today since the queue's local day start, or the current 15-minute interval"

KPIS_EXAMPLE = {
    "as_of": "2026-11-22T14:05:03.120Z",
    "stale": False,
    "items": [{"queue": "billing", "channel": "voice", "window": "15m", "offered": 42, "abandon_rate": 0.05}],
}


def matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison: ``*`` or any listed tag equal to ours, ignoring ``W/`` on either."""
    ours = etag.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == ours for tag in (t.strip() for t in if_none_match.split(",")))


@router.get(
    "/kpis",
    summary="Current KPIs per queue and channel",
    responses={
        200: {
            "description": "Rows per (queue, channel) with ``*`` roll-ups; ``stale`` when the workers have gone quiet.",
            "content": {"application/json": {"example": KPIS_EXAMPLE}},
        },
        304: {"description": "The rows are those of the ETag given in If-None-Match."},
        **NOT_READY_RESPONSE,
    },
)
async def get_kpis(
    view: Annotated[KpiView, Depends(ready_view)],
    queue: QueuesFilter = None,
    channel: ChannelsFilter = None,
    window: Annotated[Window, Query(description=WINDOW_HELP)] = Window.M15,
    if_none_match: Annotated[str | None, Header(description="an ETag from an earlier answer")] = None,
) -> Response:
    body = view.body(Selection.of(queue, channel, (window,)))
    headers = {"ETag": body.etag, "Cache-Control": "no-cache"}
    if if_none_match is not None and matches(if_none_match, body.etag):
        return Response(status_code=304, headers=headers)
    return Response(body.content, media_type="application/json", headers=headers)
