"""Builders of contract-v1 event dicts for tests, so each test states only what matters to it."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from typing import Any

from streams.contract import Event, decode_record

_ids = itertools.count(1)


def at(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).isoformat()


def contact_event(
    kind: str, contact: str, epoch_s: float, queue: str = "billing", channel: str = "voice", **extra: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": extra.pop("event_id", f"ev-{next(_ids)}"),
        "type": f"contact.{kind}",
        "time": at(epoch_s),
        "contact_id": contact,
        "customer_id": extra.pop("customer_id", f"cust-{contact}"),
        "queue": queue,
        "channel": channel,
    }
    event.update(extra)
    return event


def decode(raw: bytes | None, topic: str) -> Event:
    """The one event of a one-event record (what most tests publish), errors raised as InvalidEvent."""
    [item] = decode_record(raw, topic).items
    assert isinstance(item, Event), item
    return item
