"""Optional bearer tokens, one per screen or client, each revocable by deleting its line.

The tokens file maps a name to the SHA-256 of the token, so the file never holds a usable secret.
An entry is either the digest alone, which means scope ``read`` (every file written before scopes
existed keeps working, and a wallboard's token can never write), or ``{sha256: ..., scopes: [...]}``
with ``read`` and/or ``ingest``: writing events is a separate grant a reading screen never has.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from service.settings import ConfigError, read_yaml

log = logging.getLogger("cxpulse.api.auth")

_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHECK_EVERY_S = 1.0


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


READ = "read"
INGEST = "ingest"
SCOPES = (READ, INGEST)


@dataclass(frozen=True)
class Grant:
    """Who holds a token and what it may do."""

    name: str
    scopes: frozenset[str]


def _entry(path: Path, name: str, value: Any) -> tuple[str, frozenset[str]]:
    if isinstance(value, dict):
        digest, scopes = value.get("sha256"), value.get("scopes")
        unknown = set(value) - {"sha256", "scopes"}
        if unknown or not isinstance(scopes, list) or not scopes or not set(scopes) <= set(SCOPES):
            raise ConfigError(
                f"api.tokens_file {path}: {name!r} must be {{sha256: <64 hex digits>, scopes: [...]}} with scopes from "
                f"{', '.join(SCOPES)} (cxpulse token {name} --scope ingest)"
            )
    else:
        digest, scopes = value, [READ]
    if not isinstance(digest, str) or not _HEX_SHA256.match(digest.lower()):
        raise ConfigError(
            f"api.tokens_file {path}: {name!r} must be the token's SHA-256 as 64 hex digits (cxpulse token {name})"
        )
    return digest.lower(), frozenset(scopes)


def parse_tokens(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name → (SHA-256 hex, scopes); raises ConfigError naming the file and the bad entry."""
    document = read_yaml(path, "api.tokens_file") or {}
    if not isinstance(document, dict):
        raise ConfigError(f"api.tokens_file {path}: must map token names to SHA-256 hex digests")
    return {str(name): _entry(path, str(name), value) for name, value in document.items()}


def token_line(name: str, token: str, scopes: frozenset[str]) -> str:
    """The tokens-file line for a new token: the old short form when it only reads, so files stay as they were."""
    if scopes == {READ}:
        return f"{name}: {hash_token(token)}"
    ordered = ", ".join(scope for scope in SCOPES if scope in scopes)
    return f"{name}: {{sha256: {hash_token(token)}, scopes: [{ordered}]}}"


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

    def grant(self, token: str) -> Grant | None:
        """The token's entry, or None when it is unknown or revoked."""
        self._reload_if_changed()
        digest = hash_token(token)
        for name, (known, scopes) in self._tokens.items():
            if hmac.compare_digest(digest, known):
                return Grant(name, scopes)
        return None

    def holder(self, token: str) -> str | None:
        """The name of the token's entry, or None when it is unknown or revoked."""
        found = self.grant(token)
        return None if found is None else found.name


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
    require(store, token, READ)
    request.state.token = token


def require(store: TokenStore, token: str, scope: str) -> Grant:
    """401 for a token that is unknown or revoked, 403 for one without the scope."""
    found = store.grant(token)
    if found is None:
        raise HTTPException(
            401, detail="unknown or revoked token",
            headers={"WWW-Authenticate": 'Bearer realm="cxpulse", error="invalid_token"'},
        )
    if scope not in found.scopes:
        raise HTTPException(
            403, detail=f"token {found.name!r} lacks the {scope} scope (it has: {', '.join(sorted(found.scopes))})"
        )
    return found


def still_authorized(request: Request) -> bool:
    """For long-lived responses: whether the token the request came with is still valid now."""
    store: TokenStore | None = request.app.state.tokens
    token: str | None = getattr(request.state, "token", None)
    if store is None:
        return True
    found = None if token is None else store.grant(token)
    return found is not None and READ in found.scopes


_API_KEY = APIKeyHeader(
    name="X-Api-Key", auto_error=False,
    description="the ingest token in a named header, for senders that cannot send a bearer token (EventBridge API destinations)",
)


async def authorize_ingest(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    api_key: Annotated[str | None, Depends(_API_KEY)],
) -> Grant:
    """Writing always needs a token with the ingest scope, also when reading is open (no tokens file):
    an open read API shows numbers, an open write API would let anyone make them up. No query-string
    token here, since URLs end up in access logs."""
    store: TokenStore | None = request.app.state.tokens
    if store is None:
        raise HTTPException(
            403,
            detail="ingest is off: it needs api.tokens_file with a token of scope ingest (cxpulse token NAME --scope ingest)",
        )
    token = bearer.credentials if bearer is not None else api_key
    if not token:
        raise HTTPException(
            401, detail="a token with the ingest scope is required: Authorization: Bearer <token>, or X-Api-Key: <token>",
            headers={"WWW-Authenticate": 'Bearer realm="cxpulse"'},
        )
    return require(store, token, INGEST)
