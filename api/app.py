"""The FastAPI application: routers per resource, the snapshot reader started by the lifespan."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI

from api.metrics import build_registry
from api.routers import health, kpis, metrics
from api.snapshots import SnapshotReader
from kpis import snapshot
from kpis.book import KpiBook
from service.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reader = SnapshotReader(settings.bootstrap, snapshot.changelog_topic(settings.worker.app_id), KpiBook())
        app.state.reader = reader
        app.state.registry = build_registry(reader)
        await reader.start()
        try:
            yield
        finally:
            await reader.stop()

    app = FastAPI(
        title="cxpulse",
        version="0.1.0",
        summary="Real-time contact-center KPIs for wallboards, Grafana and alerts.",
        lifespan=lifespan,
    )
    app.include_router(kpis.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    return app
