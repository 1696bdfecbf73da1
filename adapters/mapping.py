"""What a platform adapter's mapping returns besides a contract event: a payload that is fine but has
no contract-v1 counterpart (``Skip``: counted by type, nothing published), or one that cannot be
mapped (``Unmappable``: dead-lettered with the reason, since its sender cannot read our answer)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from streams.contract import InvalidEvent, parse_time


@dataclass(frozen=True)
class Skip:
    """``type`` is the platform's own event type, a metric label: a bounded set chosen by the platform."""

    type: str


class Unmappable(ValueError):
    """The payload lacks what the contract needs (a queue, a time, a contact id); the message says what."""


def rfc3339(epoch_s: float) -> str:
    """UTC with milliseconds: the precision every platform here reports."""
    moment = datetime.fromtimestamp(round(epoch_s, 3), timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds_between(start: float, end: float) -> float:
    """A duration from two platform timestamps; clock steps can make it negative, which no KPI allows."""
    return round(max(0.0, end - start), 3)


def required(mapping: Mapping[str, Any], key: str, what: str) -> Any:
    value = mapping.get(key)
    if value in (None, ""):
        raise Unmappable(f"{what}: {key} is missing")
    return value


def epoch(text: Any, where: str) -> float:
    """An RFC 3339 timestamp of the payload in epoch seconds; ``where`` names the field in the error."""
    if not isinstance(text, str):
        raise Unmappable(f"{where} is missing")
    try:
        return parse_time(text)
    except InvalidEvent as exc:
        raise Unmappable(f"{where}: {exc}") from exc


def last_part(arn: Any, where: str) -> str:
    """The resource id at the end of an ARN (a queue's, an agent's)."""
    if not isinstance(arn, str) or "/" not in arn:
        raise Unmappable(f"{where} is not an ARN: {arn!r}")
    return arn.rsplit("/", 1)[1]
