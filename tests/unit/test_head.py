"""HEAD is answered wherever GET is: GET's status and headers, no body, also for an endless stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from api.head import HeadAsGet


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/things")
    async def things() -> dict[str, list[int]]:
        return {"items": [1, 2, 3]}

    @app.get("/forever")
    async def forever() -> StreamingResponse:
        async def ticks() -> AsyncIterator[bytes]:
            while True:
                yield b"data: tick\n\n"
                await asyncio.sleep(0.01)

        return StreamingResponse(ticks(), media_type="text/event-stream")

    @app.post("/write")
    async def write() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(HeadAsGet)
    return app


async def test_head_gives_the_status_and_headers_of_get_without_a_body() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url="http://t") as client:
        got = await client.get("/things")
        head = await client.head("/things")
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(got.content)) == str(len(b"{\"items\":[1,2,3]}"))
    assert head.headers["content-type"] == "application/json"


async def test_head_of_an_endless_stream_ends_once_the_headers_are_out() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url="http://t") as client:
        head = await asyncio.wait_for(client.head("/forever"), 10)
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/event-stream")
    assert head.content == b""


async def test_head_where_get_is_not_allowed_stays_405_and_unknown_paths_404() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url="http://t") as client:
        assert (await client.head("/write")).status_code == 405
        assert (await client.head("/nowhere")).status_code == 404
