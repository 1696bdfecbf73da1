"""What request handlers share: this process's snapshot reader and settings, set up by the lifespan."""

from fastapi import Request

from api.snapshots import SnapshotReader
from service.settings import Settings


def get_reader(request: Request) -> SnapshotReader:
    reader: SnapshotReader = request.app.state.reader
    return reader


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings
