"""422 answers that name the problem without echoing a huge input back.

FastAPI's own handler returns each error's ``input`` whole: a 10,000-character query parameter came
back as 10,000 characters, once per error, to whoever sent it (and into any log that keeps bodies).
The location, message and type are what a client needs; the input is kept only as a prefix.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

INPUT_SHOWN = 200
KEPT = ("loc", "msg", "type", "ctx")


def shortened(value: Any, limit: int = INPUT_SHOWN) -> Any:
    """``value`` when its text is at most ``limit`` characters; else a string of its first ``limit``
    characters and a marker saying how many were left out. A non-string is judged by its JSON."""
    text = value if isinstance(value, str) else json.dumps(jsonable_encoder(value), ensure_ascii=False)
    if len(text) <= limit:
        return value
    return f"{text[:limit]}… [{len(text) - limit:,} more characters cut]"


def _entry(error: dict[str, Any]) -> dict[str, Any]:
    entry = {key: error[key] for key in KEPT if key in error}
    if "input" in error:
        entry["input"] = shortened(jsonable_encoder(error["input"]))
    if "ctx" in entry:
        entry["ctx"] = {key: shortened(value) for key, value in jsonable_encoder(entry["ctx"]).items()}
    return entry


async def validation_failed(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's answer (422, ``{"detail": [...]}``), each input cut to ``INPUT_SHOWN`` characters."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": [_entry(error) for error in exc.errors()]})
