"""The wallboard page: plain HTML, CSS and JS served as files, no build step.

A small router rather than a StaticFiles mount: it needs nothing in api/app.py, it serves a fixed
allow-list (no part of the URL ever becomes a file-system path), and like /docs it stays open when
/v1/* requires a token, because the page hands its ``access_token`` to /v1/stream itself.
The files are package data next to this package (api/wallboard/), found from ``__file__`` so a
checkout and an installed wheel serve the same files.

The page reads its settings from its own URL: ``queue`` (repeatable or comma-separated; default
every queue), ``channel`` (default ``*``, the all-channels roll-up), ``window`` (default 15m),
``access_token``, ``max_silence`` (seconds without any stream message before the board is
marked stale; default 35, above two of the default 15 s heartbeats), ``agents`` (0 hides the agents
strip and board) and ``agents_poll`` (seconds between polls of /v1/agents; default 5).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

FILES: Final = Path(__file__).resolve().parent.parent / "wallboard"
ASSETS: Final = {
    "wallboard.css": "text/css; charset=utf-8",
    "wallboard.js": "text/javascript; charset=utf-8",
}
# A TV stays on for weeks: no-cache makes a reload revalidate (ETag) and pick up a new version.
CACHING: Final = {"Cache-Control": "no-cache"}
# Everything the page loads comes from this server: no CDN, no external font, no inline script.
# Its URL may hold an access_token: never send it on as a Referer.
PAGE_HEADERS: Final = {
    **CACHING,
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(tags=["wallboard"])


@router.get(
    "/wallboard",
    response_class=FileResponse,
    responses={
        200: {"content": {"text/html": {}}, "description": "the page; it loads wallboard/wallboard.css and .js"}
    },
    summary="Wallboard page: live KPI tiles per queue for a TV",
    description="Query parameters, read by the page: queue (repeatable or comma-separated), channel (default *), "
    "window (default 15m), access_token (passed on to /v1/stream and /v1/agents), max_silence (seconds, default 35), "
    "agents (0: no agents strip and board), agents_poll (seconds between polls of /v1/agents, default 5).",
)
async def page() -> FileResponse:
    return FileResponse(FILES / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@router.get("/wallboard/{name}", response_class=FileResponse, include_in_schema=False)
async def asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail=f"no wallboard file {name!r}")
    return FileResponse(FILES / name, media_type=media_type, headers=CACHING)
