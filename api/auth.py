"""Optional bearer tokens, one per screen or client, each revocable by deleting its line.

The tokens file maps a name to the SHA-256 of the token, so the file never holds a usable secret.
It is re-read when it changes (checked at most once a second), so revoking needs no restart; a file
that cannot be read or parsed rejects every token until it is fixed, because failing open would
revive revoked tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from pathlib import Path

from typing import Annotated


from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from service.settings import ConfigError, read_yaml

log = logging.getLogger("cxpulse.api.auth")

_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHECK_EVERY_S = 1.0


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def parse_tokens(path: Path) -> dict[str, str]:
    """name → SHA-256 hex; raises ConfigError naming the file and the bad entry."""
    document = read_yaml(path, "api.tokens_file") or {}
    if not isinstance(document, dict):
        raise ConfigError(f"api.tokens_file {path}: must map token names to SHA-256 hex digests")
    tokens: dict[str, str] = {}
    for name, digest in document.items():
        if not isinstance(digest, str) or not _HEX_SHA256.match(digest.lower()):
            raise ConfigError(
                f"api.tokens_file {path}: {name!r} must be the token's SHA-256 as 64 hex digits (cxpulse token {name})"
            )
        tokens[str(name)] = digest.lower()
    return tokens


class TokenStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._tokens = parse_tokens(path)
        self._mtime = self._stat()
        self._checked = time.monotonic()

    def _stat(self) -> float | None:
        try:
            return self._path.stat().st_mtime
        except OSError:
            return None

    def _reload_if_changed(self) -> None:
        now = time.monotonic()
        if now - self._checked < CHECK_EVERY_S:
            return
        self._checked = now
        mtime = self._stat()
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            self._tokens = parse_tokens(self._path)
            log.info("tokens file reloaded", extra={"tokens": sorted(self._tokens)})
        except ConfigError as exc:
            self._tokens = {}
            log.error("tokens file unusable: every token is rejected until it is fixed", extra={"error": str(exc)})

    def holder(self, token: str) -> str | None:
        """The name of the token's entry, or None when it is unknown or revoked."""
        self._reload_if_changed()
        digest = hash_token(token)
        for name, known in self._tokens.items():
            if hmac.compare_digest(digest, known):
                return name
        return None


_BEARER = HTTPBearer(auto_error=False, description="a token whose SHA-256 is in api.tokens_file")
_QUERY = APIKeyQuery(
    name="access_token", auto_error=False, description="the same token as a query parameter, for EventSource in browsers"
)


def authorize(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    query_token: Annotated[str | None, Depends(_QUERY)],
) -> None:
    """Dependency of every /v1 route when a tokens file is configured (so the OpenAPI schema declares
    the bearer scheme only when it is enforced)."""
    store: TokenStore = request.app.state.tokens
    token = bearer.credentials if bearer is not None else query_token
    if not token:
        raise HTTPException(
            401, detail="a bearer token is required: Authorization: Bearer <token>, or ?access_token=<token>",
            headers={"WWW-Authenticate": 'Bearer realm="cxpulse"'},
        )
    if store.holder(token) is None:
        raise HTTPException(
            401, detail="unknown or revoked token",
            headers={"WWW-Authenticate": 'Bearer realm="cxpulse", error="invalid_token"'},
        )
    request.state.token = token


def still_authorized(request: Request) -> bool:
    """For long-lived responses: whether the token the request came with is still valid now."""
    store: TokenStore | None = request.app.state.tokens
    token: str | None = getattr(request.state, "token", None)
    return store is None or (token is not None and store.holder(token) is not None)
