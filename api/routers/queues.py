"""The queues cxpulse knows (configured or seen) and the settings that apply to each."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.deps import get_reader, get_settings
from api.snapshots import SnapshotReader
from service.settings import Settings

router = APIRouter(prefix="/v1", tags=["queues"])


@router.get("/queues", summary="Configured and seen queues with their settings")
async def get_queues(
    reader: Annotated[SnapshotReader, Depends(get_reader)], settings: Annotated[Settings, Depends(get_settings)]
) -> dict[str, Any]:
    pairs = reader.book.pairs()
    items = []
    for queue in sorted({q for q, _ in pairs} | set(settings.queues)):
        items.append(
            {
                "queue": queue,
                "configured": queue in settings.queues,
                "channels": sorted(c for q, c in pairs if q == queue),
                "settings": settings.rules(queue).model_dump(mode="json"),
            }
        )
    return {"items": items}
