"""Plausible agent days as contract-v1 `cx.agents` events, for comparing the agents board with the
reference (tests/agents_reference.py), and the way they arrive: shuffled, some twice.

A day starts with a login (available, with queues, channel, capacity and name) and moves through
the states a contact center sees: contacts (sometimes one straight after another), after-contact
work, pauses with or without a reason, logouts and logins again, queue changes in the middle of a
state. Every event of an agent has its own time (whole milliseconds, written with one of several
UTC offsets), so the order of an agent's events never rests on a tie. A day ends logged out, or
available or in a pause with the agent still working: never in a contact, so every contact an agent
took is a closed segment.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

QUEUES = ("sales", "support", "billing")
REASONS = ("break", "lunch", "meeting", "training", None)
OFFSETS = (timezone.utc, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30)))
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# The state that may follow each state, the first repeated to make it the likeliest.
NEXT = {
    "available": ("on_contact", "on_contact", "on_contact", "aux", "logged_out"),
    "on_contact": ("after_contact_work", "after_contact_work", "on_contact", "available"),
    "after_contact_work": ("available", "available", "on_contact", "aux"),
    "aux": ("available", "available", "aux", "logged_out"),
    "logged_out": ("available",),
}


def rfc3339(ms: int, rng: random.Random | None = None) -> str:
    """Epoch milliseconds as RFC 3339, exactly (integer arithmetic), in one of several offsets."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    if rng is not None:
        moment = moment.astimezone(rng.choice(OFFSETS))
    return moment.isoformat(timespec="milliseconds")


class AgentDays:
    """A source of event and contact ids unique across every day it writes."""

    def __init__(self, prefix: str = "ag") -> None:
        self._prefix = prefix
        self._ids = itertools.count(1)

    def _id(self, kind: str) -> str:
        return f"{self._prefix}-{kind}-{next(self._ids):06d}"

    def day(
        self, rng: random.Random, agent_id: str, start_ms: int, max_events: int = 25, max_hours: float = 12, log_out: bool = False
    ) -> list[dict[str, Any]]:
        """One agent's day from its login at ``start_ms``: at most ``max_events`` state changes, and
        over within ``max_hours`` plus 3 hours (the segment that passes ``max_hours`` is dropped,
        and up to two of at most an hour each close the day), ending logged out when ``log_out``."""
        events: list[dict[str, Any]] = []
        queues = rng.sample(QUEUES, rng.randint(1, len(QUEUES)))
        t = start_ms
        state = "available"
        events.append(
            self._event(
                rng, agent_id, t, state=state, queues=queues, channel=rng.choice(("voice", "voice", "chat")),
                capacity=rng.randint(1, 3), agent_name=f"Agent {agent_id}",
            )
        )
        end_ms = start_ms + int(max_hours * 3_600_000)
        for _ in range(rng.randint(1, max_events)):
            length = self._length(rng)
            if rng.random() < 0.15 and length > 2:
                queues = rng.sample(QUEUES, rng.randint(1, len(QUEUES)))
                extra: dict[str, Any] = {"channel": rng.choice(("voice", "chat"))} if rng.random() < 0.3 else {}
                events.append(self._event(rng, agent_id, t + rng.randint(1, length - 1), queues=queues, **extra))
            t += length
            if t > end_ms:
                break
            state = rng.choice(NEXT[state])
            events.append(self._state(rng, agent_id, t, state, queues))
        closing: tuple[str, ...] = ()
        if state == "on_contact":
            closing = ("after_contact_work", "logged_out")
        elif state == "after_contact_work" or (state != "logged_out" and (log_out or rng.random() < 0.7)):
            closing = ("logged_out",)
        for last in closing:
            t += self._length(rng)
            events.append(self._state(rng, agent_id, t, last, queues))
        return events

    def _length(self, rng: random.Random) -> int:
        """A segment's milliseconds: seconds to an hour, now and then not whole seconds."""
        whole = rng.choice((rng.randint(1, 60), rng.randint(60, 900), rng.randint(900, 3600)))
        return whole * 1000 + (rng.randint(1, 999) if rng.random() < 0.2 else 0)

    def _state(self, rng: random.Random, agent_id: str, t: int, state: str, queues: list[str]) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if state == "on_contact":
            extra = {"contact_id": self._id("contact"), "queue": rng.choice(queues)}
        elif state == "aux" and (reason := rng.choice(REASONS)) is not None:
            extra = {"reason": reason}
        return self._event(rng, agent_id, t, state=state, **extra)

    def _event(self, rng: random.Random, agent_id: str, t: int, **fields: Any) -> dict[str, Any]:
        kind = "agent.state_changed" if "state" in fields else "agent.queues_changed"
        return {"event_id": self._id("ev"), "type": kind, "time": rfc3339(t, rng), "agent_id": agent_id, **fields}


def arrivals(events: list[dict[str, Any]], rng: random.Random, duplicate_share: float = 0.15) -> list[dict[str, Any]]:
    """The events in a random arrival order, a share of them twice (a copy of the same event)."""
    delivered = [*events, *(dict(e) for e in events if rng.random() < duplicate_share)]
    rng.shuffle(delivered)
    return delivered


def days_of(
    rng: random.Random, source: AgentDays, agents: int, first_ms: int, spread_hours: float, **day: Any
) -> Iterator[dict[str, Any]]:
    """Days of several agents, logging in at random in ``spread_hours`` from ``first_ms`` (``day``:
    options of AgentDays.day)."""
    for number in range(agents):
        login = first_ms + rng.randint(0, int(spread_hours * 3600)) * 1000
        yield from source.day(rng, f"agent-{number:02d}", login, **day)
