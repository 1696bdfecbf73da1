"""What the ingest routes share: reading a body within its size limit, the per-item answer, and
publishing with the outcome counted, so each route only parses its own platform's format."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from fastapi import HTTPException, Request, Response
from pydantic import BaseModel, Field

from adapters.publisher import topic_of
from api.ingest import BrokerUnavailable, IngestPublisher
from api.ingest_metrics import IngestMetrics
from service.settings import IngestSettings, Settings
from streams import topics
from streams.contract import ACCOUNT_TYPES, AGENT_TYPES, CHAT_TYPES, SURVEY_TYPE, TICKET_TYPES, validate

Status = Literal["accepted", "rejected", "skipped"]


class ItemResult(BaseModel):
    """One element of the request (its position in the array, 0 for a single object)."""

    index: int
    status: Status = Field(description="accepted: on its topic, acknowledged by the broker; rejected: see reason; skipped: valid, but no contract-v1 counterpart")
    event_id: str | None = Field(default=None, description="the contract event's id, when accepted (the first one's, when the item made several)")
    event_ids: list[str] | None = Field(default=None, description="every contract event's id, when a platform's event made more than one (a reservation accepted: the contact answered and the agent on it)")
    reason: str | None = Field(default=None, description="why it was rejected, or the platform's type when skipped")


class IngestResponse(BaseModel):
    """Counts and one result per item, in request order."""

    accepted: int
    rejected: int
    skipped: int
    items: list[ItemResult]


TOKEN_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body is not JSON"},
    401: {"description": "no token, or an unknown or revoked one"},
    403: {"description": "the token lacks the ingest scope, or ingest is off (no api.tokens_file)"},
}
ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": "the body is larger than api.ingest.max_body_bytes (or the array than api.ingest.max_batch)"},
    503: {"description": "the broker did not acknowledge within api.ingest.ack_timeout_seconds: nothing is confirmed, send again"},
}


async def read_json(request: Request, settings: IngestSettings, metrics: IngestMetrics, source: str) -> Any:
    """The body as JSON: 413 when too large, 400 (counted as ``not_json`` for the source) when not JSON."""
    body = await read_body(request, settings)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        metrics.rejected.labels(source, "not_json").inc()
        raise HTTPException(400, detail=f"body is not JSON: {exc}") from exc


async def read_body(request: Request, settings: IngestSettings) -> bytes:
    """The body, refused with 413 as soon as it is known to be too large (before reading it when the
    client says its length), so an oversized upload costs no memory."""
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, detail=f"body of {declared} bytes is over api.ingest.max_body_bytes ({limit})")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, detail=f"body is over api.ingest.max_body_bytes ({limit})")
        chunks.append(chunk)
    return b"".join(chunks)


def check(event: dict[str, Any]) -> None:
    """Raises InvalidEvent unless the event satisfies the contract (its topic's schema), so the
    worker never sees from an HTTP door what it would dead-letter."""
    routed = (SURVEY_TYPE, *AGENT_TYPES, *TICKET_TYPES, *ACCOUNT_TYPES, *CHAT_TYPES)
    validate(event, topic_of(event) if event.get("type") in routed else topics.CALLS)


# The ingest dependencies are coroutines: FastAPI runs a plain function in a worker thread, and at a
# few hundred requests a second the hand-over to and from that thread cost more than the lookup.


async def get_publisher(request: Request) -> IngestPublisher:
    publisher: IngestPublisher = request.app.state.ingest_publisher
    return publisher


async def get_ingest_metrics(request: Request) -> IngestMetrics:
    metrics: IngestMetrics = request.app.state.ingest_metrics
    return metrics


async def get_ingest_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class Outcome:
    """Collects one request's items, then publishes the accepted events and answers."""

    def __init__(self, source: str, metrics: IngestMetrics) -> None:
        self.source = source
        self._metrics = metrics
        self.items: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.rejected = 0
        self.skipped = 0

    def accept(self, index: int, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.items.append({"index": index, "status": "accepted", "event_id": event["event_id"]})

    def accept_all(self, index: int, events: list[dict[str, Any]]) -> None:
        """One platform event that made several contract events: one item, every id."""
        if len(events) == 1:
            self.accept(index, events[0])
            return
        self.events.extend(events)
        ids = [event["event_id"] for event in events]
        self.items.append({"index": index, "status": "accepted", "event_id": ids[0], "event_ids": ids})

    def reject(self, index: int, kind: str, reason: str) -> None:
        self.rejected += 1
        self._metrics.rejected.labels(self.source, kind).inc()
        self.items.append({"index": index, "status": "rejected", "reason": reason})

    def skip(self, index: int, platform_type: str) -> None:
        self.skipped += 1
        self._metrics.skipped.labels(self.source, platform_type).inc()
        self.items.append({"index": index, "status": "skipped", "reason": platform_type})

    async def publish(self, publisher: IngestPublisher) -> None:
        """Raises 503 when the broker does not acknowledge: no item may then be reported accepted."""
        if not self.events:
            return
        try:
            seconds = await publisher.publish(self.events)
        except BrokerUnavailable as exc:
            raise HTTPException(503, detail=str(exc)) from exc
        self._metrics.broker_seconds.labels(self.source).observe(seconds)
        self._metrics.accepted.labels(self.source).inc(len(self.events))

    def response(self, status_code: int) -> Response:
        accepted = len(self.items) - self.rejected - self.skipped
        body = {"accepted": accepted, "rejected": self.rejected, "skipped": self.skipped, "items": self.items}
        return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


async def dead_letter(publisher: IngestPublisher, raw: bytes, kind: str, reason: str, source: str, index: int | None) -> None:
    """A webhook sender cannot read our reasons, so what it sent is kept on cx.deadletter instead."""
    try:
        await publisher.dead_letter(raw, kind, reason, source, index)
    except BrokerUnavailable as exc:
        raise HTTPException(503, detail=str(exc)) from exc
