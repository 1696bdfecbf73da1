"""``HeadAsGet``: HEAD answered wherever GET is, with GET's status and headers and no body.

FastAPI routes a path for the methods it was declared with, so ``HEAD /v1/kpis`` would be a 405
although monitors, caches and ``curl -I`` expect the headers a GET gives (status, ``ETag``,
``Content-Length``). Doing it once here keeps every router GET-only.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """Runs a HEAD request as a GET and sends only its response start and an empty final body.

    A streaming GET (``/v1/stream``) never ends by itself, so the request is finished, and the
    endpoint cancelled, as soon as its headers have gone out.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        answered = asyncio.Event()

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if answered.is_set():
                    return
                answered.set()
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        endpoint = asyncio.ensure_future(self.app({**scope, "method": "GET"}, receive, send_headers_only))
        headers_sent = asyncio.ensure_future(answered.wait())
        try:
            await asyncio.wait((endpoint, headers_sent), return_when=asyncio.FIRST_COMPLETED)
        finally:
            headers_sent.cancel()
            endpoint.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await endpoint
