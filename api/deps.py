"""What request handlers share: the snapshot reader of this process, set up by the app's lifespan."""

from fastapi import Request

from api.snapshots import SnapshotReader


def get_reader(request: Request) -> SnapshotReader:
    reader: SnapshotReader = request.app.state.reader
    return reader
