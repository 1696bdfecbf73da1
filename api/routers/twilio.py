"""POST /v1/ingest/twilio/taskrouter: TaskRouter's Event Callback URL (mapping in adapters.twilio)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from adapters.mapping import Skip, Unmappable
from adapters.twilio import map_callback
from api.ingest import IngestPublisher
from api.ingest_http import ERRORS, IngestResponse, Outcome, check, dead_letter, get_ingest_metrics, get_ingest_settings, get_publisher, read_body
from api.ingest_metrics import MAPPING_REASON, IngestMetrics
from api.twilio_signature import is_valid
from service.settings import Settings
from streams.contract import InvalidEvent

router = APIRouter(prefix="/v1/ingest", tags=["ingest"])
SOURCE = "twilio"
PATH = "/v1/ingest/twilio/taskrouter"

DESCRIPTION = """\
Set this as the Workspace's Event Callback URL. The form-encoded callback must carry a valid
`X-Twilio-Signature` for `api.ingest.twilio.auth_token` (403 otherwise); behind a proxy set
`api.ingest.twilio.public_base_url` to the scheme and host Twilio calls. The answer (200) comes once
the broker has the events: a task's steps become contact events, a reservation's the offer to its
worker (ringing, missed) and the worker's state, an activity update the worker's state
(`api.ingest.twilio.activity_states`); callbacks without a contract-v1 counterpart are `skipped`, and one that cannot be mapped is
kept on `cx.deadletter` with the reason (Twilio would only send it again)."""


def _signed_url(request: Request, settings: Settings) -> str:
    base = settings.api.ingest.twilio.public_base_url
    if base is None:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return base.rstrip("/") + request.url.path + query


@router.post(
    "/twilio/taskrouter", summary="Twilio TaskRouter event callbacks", description=DESCRIPTION,
    response_model=IngestResponse, responses={403: {"description": "missing or wrong X-Twilio-Signature, or no auth token configured"}, **ERRORS},
    openapi_extra={"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}}}},
)  # fmt: skip
async def taskrouter_callback(
    request: Request,
    settings: Annotated[Settings, Depends(get_ingest_settings)],
    publisher: Annotated[IngestPublisher, Depends(get_publisher)],
    metrics: Annotated[IngestMetrics, Depends(get_ingest_metrics)],
) -> Response:
    token = settings.api.ingest.twilio.auth_token
    if token is None:
        raise HTTPException(403, detail="the Twilio endpoint is off: set api.ingest.twilio.auth_token")
    body = await read_body(request, settings.api.ingest)
    params = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    if not is_valid(token.get_secret_value(), _signed_url(request, settings), params, request.headers.get("x-twilio-signature")):
        raise HTTPException(403, detail="missing or wrong X-Twilio-Signature for this URL and api.ingest.twilio.auth_token")
    outcome = Outcome(SOURCE, metrics)
    try:
        mapped = map_callback(dict(params), settings.api.ingest.twilio.activity_states)
        if not isinstance(mapped, Skip):
            for event in mapped:
                check(event)
    except (Unmappable, InvalidEvent) as exc:
        kind = exc.kind if isinstance(exc, InvalidEvent) else MAPPING_REASON
        await dead_letter(publisher, body, kind, str(exc), PATH, None)
        outcome.reject(0, kind, str(exc))
    else:
        if isinstance(mapped, Skip):
            outcome.skip(0, mapped.type)
        else:
            outcome.accept_all(0, mapped)
    await outcome.publish(publisher)
    return outcome.response(200)
