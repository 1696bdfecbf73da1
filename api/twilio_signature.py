"""X-Twilio-Signature: proof that a form-encoded callback comes from the Twilio account it claims.

Twilio signs the full URL it requested followed by every form parameter, sorted by name, each as
name + value (several values of one name sorted too), with HMAC-SHA1 keyed by the account's auth
token, base64-encoded. Twilio's own validator (twilio-python ``RequestValidator``) accepts the URL
with and without the default port, since Twilio is inconsistent about it; so does this one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Iterable
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"https": 443, "http": 80}


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    payload = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    without = urlunsplit(parts._replace(netloc=host))
    port = parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
    with_port = urlunsplit(parts._replace(netloc=f"{host}:{port}"))
    return [without, with_port]


def is_valid(auth_token: str, url: str, params: Iterable[tuple[str, str]], claimed: str | None) -> bool:
    """Constant-time comparison against both URL forms; a missing signature is simply invalid."""
    if not claimed:
        return False
    pairs = list(params)
    return any(hmac.compare_digest(signature(auth_token, variant, pairs), claimed) for variant in _url_variants(url))
