"""POST /v1/events: contract-v1 events over HTTP, for senders that do not speak Kafka."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from api.auth import authorize_ingest
from api.ingest import IngestPublisher
from api.ingest_http import (
    ERRORS,
    TOKEN_ERRORS,
    IngestResponse,
    Outcome,
    check,
    get_ingest_metrics,
    get_ingest_settings,
    get_publisher,
    read_json,
)
from api.ingest_metrics import IngestMetrics
from service.settings import Settings
from streams.contract import AGENT_SCHEMA_FILE, CONTACT_SCHEMA_FILE, SURVEY_SCHEMA_FILE, InvalidEvent
from streams.schema_types import load_schema

router = APIRouter(prefix="/v1", tags=["ingest"])
SOURCE = "events"


def _request_schema() -> dict[str, Any]:
    """The contract's own schema files (draft-07 keywords OpenAPI 3.1 reads), so the docs cannot drift."""
    one = {"oneOf": [_schema(CONTACT_SCHEMA_FILE), _schema(SURVEY_SCHEMA_FILE), _schema(AGENT_SCHEMA_FILE)]}
    return {"oneOf": [one, {"type": "array", "items": one}]}


def _schema(name: str) -> dict[str, Any]:
    return {key: value for key, value in load_schema(name).items() if key not in ("$schema", "$id")}


DESCRIPTION = """\
One contract-v1 event (a JSON object) or a JSON array of up to `api.ingest.max_batch` of them. Each is
validated against the contract's JSON Schema on its own; the valid ones are put on their topic
(`cx.calls` for voice, `cx.chats` for other channels, `cx.surveys`, `cx.agents` for agent events) with the contract's key, and the
answer comes only once the broker has acknowledged them. `items` has one result per element, in
order. **202** when at least one element was accepted (check `items` for the rejected ones), **422**
with the same body when none was, **400** when the body is not JSON or neither an object nor an
array, **413** when it is too large, **503** when the broker did not acknowledge in time (nothing is
confirmed: send again; the worker drops repeats by `event_id`). Needs a token with the `ingest`
scope (`Authorization: Bearer` or `X-Api-Key`), also when reading is open."""


@router.post(
    "/events", status_code=202, summary="Publish contract-v1 events", description=DESCRIPTION,
    response_model=IngestResponse, responses={422: {"model": IngestResponse, "description": "no element was valid"}, **TOKEN_ERRORS, **ERRORS},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _request_schema()}}}},
    dependencies=[Depends(authorize_ingest)],
)  # fmt: skip
async def post_events(
    request: Request,
    settings: Annotated[Settings, Depends(get_ingest_settings)],
    publisher: Annotated[IngestPublisher, Depends(get_publisher)],
    metrics: Annotated[IngestMetrics, Depends(get_ingest_metrics)],
) -> Response:
    document = await read_json(request, settings.api.ingest, metrics, SOURCE)
    if isinstance(document, dict):
        elements: list[Any] = [document]
    elif isinstance(document, list):
        elements = document
    else:
        metrics.rejected.labels(SOURCE, "not_object").inc()
        raise HTTPException(400, detail=f"body must be a JSON object or array, not {type(document).__name__}")
    limit = settings.api.ingest.max_batch
    if len(elements) > limit:
        raise HTTPException(413, detail=f"{len(elements)} events is over api.ingest.max_batch ({limit})")
    outcome = Outcome(SOURCE, metrics)
    for index, element in enumerate(elements):
        try:
            if not isinstance(element, dict):
                raise InvalidEvent("not_object", f"not a JSON object but {type(element).__name__}")
            check(element)
        except InvalidEvent as exc:
            outcome.reject(index, exc.kind, str(exc))
        else:
            outcome.accept(index, element)
    await outcome.publish(publisher)
    return outcome.response(202 if outcome.events or not elements else 422)

