"""What request handlers share: this process's snapshot reader, KPI view, settings, thresholds and
targets (the reader and view set up by the lifespan)."""

from fastapi import Request

from api.snapshots import SnapshotReader
from api.view import KpiView
from kpis.targets import Targets
from kpis.thresholds import Thresholds
from service.settings import Settings


def get_reader(request: Request) -> SnapshotReader:
    reader: SnapshotReader = request.app.state.reader
    return reader


def get_view(request: Request) -> KpiView:
    view: KpiView = request.app.state.view
    return view


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_targets(request: Request) -> Targets | None:
    targets: Targets | None = request.app.state.targets
    return targets


def get_thresholds(request: Request) -> Thresholds | None:
    thresholds: Thresholds | None = request.app.state.thresholds
    return thresholds
