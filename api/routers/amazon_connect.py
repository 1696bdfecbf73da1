"""POST /v1/ingest/amazon-connect: EventBridge contact events and agent event stream records
(mapping in adapters.amazon_connect)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, Response

from adapters.amazon_connect import map_event
from adapters.mapping import Skip, Unmappable
from api.auth import authorize_ingest
from api.ingest import IngestPublisher
from api.ingest_http import (
    ERRORS,
    TOKEN_ERRORS,
    IngestResponse,
    Outcome,
    check,
    dead_letter,
    get_ingest_metrics,
    get_ingest_settings,
    get_publisher,
    read_json,
)
from api.ingest_metrics import MAPPING_REASON, IngestMetrics
from service.settings import Settings
from streams.contract import InvalidEvent

router = APIRouter(prefix="/v1/ingest", tags=["ingest"])
SOURCE = "amazon_connect"
PATH = "/v1/ingest/amazon-connect"

DESCRIPTION = """\
The target of an EventBridge API destination for "Amazon Connect Contact Event" events (one event
per request), or of a relay posting agent event stream records from Kinesis (an object or an array
of up to `api.ingest.max_batch`). Needs a token with the `ingest` scope: an EventBridge connection
with API key authorization sends it as `X-Api-Key`. The answer (200) comes once the broker has the
events; agent records become agent states (`api.ingest.amazon_connect.status_states`), missed contacts
and queue changes; records and contact events without a contract-v1 counterpart are `skipped`, and an
element that cannot be mapped is kept on `cx.deadletter` with the reason."""


@router.post(
    "/amazon-connect", summary="Amazon Connect contact events (EventBridge)", description=DESCRIPTION,
    response_model=IngestResponse, responses={**TOKEN_ERRORS, **ERRORS}, dependencies=[Depends(authorize_ingest)],
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}}}}},
)  # fmt: skip
async def connect_events(
    request: Request,
    settings: Annotated[Settings, Depends(get_ingest_settings)],
    publisher: Annotated[IngestPublisher, Depends(get_publisher)],
    metrics: Annotated[IngestMetrics, Depends(get_ingest_metrics)],
) -> Response:
    document = await read_json(request, settings.api.ingest, metrics, SOURCE)
    elements: list[Any] = document if isinstance(document, list) else [document]
    if len(elements) > settings.api.ingest.max_batch:
        raise HTTPException(413, detail=f"{len(elements)} events is over api.ingest.max_batch ({settings.api.ingest.max_batch})")
    outcome = Outcome(SOURCE, metrics)
    names = settings.api.ingest.amazon_connect.queue_names
    statuses = settings.api.ingest.amazon_connect.status_states
    for index, element in enumerate(elements):
        try:
            mapped = map_event(element, names, statuses)
            if not isinstance(mapped, Skip):
                for event in mapped:
                    check(event)
        except (Unmappable, InvalidEvent) as exc:
            kind = exc.kind if isinstance(exc, InvalidEvent) else MAPPING_REASON
            await dead_letter(publisher, orjson.dumps(element), kind, str(exc), PATH, index)
            outcome.reject(index, kind, str(exc))
            continue
        if isinstance(mapped, Skip):
            outcome.skip(index, mapped.type)
        else:
            outcome.accept_all(index, mapped)
    await outcome.publish(publisher)
    return outcome.response(200)
