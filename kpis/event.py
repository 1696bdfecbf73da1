"""``Event``: one contract event as the core folds it, whatever source or decoder produced it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Event:
    """A validated contract event with its time parsed to epoch seconds (UTC). Treated as read-only
    but not frozen: a frozen dataclass takes twice as long to build, once per event."""

    event_id: str
    type: str
    time: float
    contact_id: str
    customer_id: str | None
    queue: str | None
    channel: str | None
    agent_id: str | None
    fields: dict[str, Any]

    def number(self, name: str) -> float | None:
        """An optional numeric field such as ``wait_s`` or ``csat``."""
        value = self.fields.get(name)
        return None if value is None or isinstance(value, bool) else float(value)
