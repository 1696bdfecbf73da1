"""The FastAPI application: routers per resource, the snapshot reader started by the lifespan."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI

from api.metrics import build_registry
from api.routers import health, history, kpis, metrics, queues, status, wallboard
from api.snapshots import SnapshotReader
from kpis.book import KpiBook
from service.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reader = SnapshotReader(settings, KpiBook(settings.rules, settings.queues))
        app.state.reader = reader
        app.state.settings = settings
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
    for module in (kpis, history, status, queues, health, metrics, wallboard):
        app.include_router(module.router)
    return app
