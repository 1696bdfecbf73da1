"""The FastAPI application: routers per resource; the snapshot reader and the KPI view run in the lifespan."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack, asynccontextmanager
from typing import AsyncIterator

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry

from api.auth import TokenStore, authorize
from api.head import HeadAsGet
from api.ingest import IngestPublisher
from api.ingest_metrics import IngestMetrics
from api.metrics import build_registry
from api.routers import (
    agents, amazon_connect, catalog, events, health, history, kpis, metrics, queues, status, stream, targets, twilio,
    wallboard,
)
from api.snapshots import SnapshotReader
from api.validation import validation_failed
from api.view import KpiView
from kpis.book import KpiBook
from service.settings import Settings, load_targets, load_thresholds

DESCRIPTION = """\
Contact-center KPIs per queue and channel, seconds after the events. Values come from the workers'
snapshot topics, so every API process answers for every queue. `/v1` needs a bearer token when
`api.tokens_file` is set; `/metrics`, `/healthz`, `/readyz` and the wallboard page stay open.
Events come in on Kafka, or over HTTP: `POST /v1/events` (contract v1), Twilio TaskRouter and
Amazon Connect webhooks under `/v1/ingest`; writing always needs a token with the `ingest` scope
(Twilio's callbacks are authenticated by their signature instead). With `api.role: ingest` a process
serves only the ingest routes, `/healthz`, `/readyz` and `/metrics`."""


def create_app(settings: Settings) -> FastAPI:
    """Raises ConfigError when the tokens, thresholds or targets file is unusable, so a bad file
    stops start-up."""
    tokens = TokenStore(settings.api.tokens_file) if settings.api.tokens_file is not None else None
    thresholds = load_thresholds(settings.alerts.thresholds_file) if settings.alerts.thresholds_file is not None else None
    kpi_targets = load_targets(settings.targets.file) if settings.targets.file is not None else None

    serving = settings.api.role == "all"

    @asynccontextmanager
    async def serve_kpis(app: FastAPI) -> AsyncIterator[None]:
        reader = SnapshotReader(settings, KpiBook(settings.rules, settings.queues, settings.accounts))
        view = KpiView(reader, settings.api.refresh_seconds, settings.api.sse_heartbeat_seconds, thresholds, kpi_targets)
        app.state.reader = reader
        app.state.view = view
        app.state.registry = build_registry(reader, view, kpi_targets)
        await reader.start()
        refresher = asyncio.create_task(view.run(), name="kpi-view")
        try:
            yield
        finally:
            refresher.cancel()
            await asyncio.gather(refresher, return_exceptions=True)
            await reader.stop()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as running:
            if serving:
                await running.enter_async_context(serve_kpis(app))
            else:
                app.state.registry = CollectorRegistry()
            app.state.ingest_metrics = IngestMetrics(app.state.registry)
            publisher = IngestPublisher(settings.bootstrap, settings.api.ingest.ack_timeout_seconds)
            app.state.ingest_publisher = publisher
            await publisher.start()
            running.push_async_callback(publisher.stop)
            yield

    app = FastAPI(title="cxpulse", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.tokens = tokens
    app.state.targets = kpi_targets
    app.state.thresholds = thresholds
    app.add_exception_handler(RequestValidationError, validation_failed)
    guarded = [Depends(authorize)] if tokens is not None else []
    for module in (kpis, agents, catalog, stream, history, targets, status, queues) if serving else ():
        app.include_router(module.router, dependencies=guarded)
    for module in (health, metrics, wallboard) if serving else (health, metrics):
        app.include_router(module.router)
    for module in (events, twilio, amazon_connect):
        app.include_router(module.router)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["GET", "HEAD"],
            allow_headers=["Authorization", "If-None-Match", "Last-Event-ID"],
            expose_headers=["ETag"],
            max_age=600,
        )
    app.add_middleware(HeadAsGet)
    return app
