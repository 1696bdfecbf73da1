"""``Event``: one contract event as the core folds it, whatever source or decoder produced it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Event:
    """A validated contract event with its time parsed to epoch seconds (UTC). Treated as read-only
    but not frozen: a frozen dataclass takes twice as long to build, once per event. The optional
    measures are attributes, not a dict of the document, because the fold reads them for every
    event and a survey's answers only for surveys."""

    event_id: str
    type: str
    time: float
    contact_id: str
    customer_id: str | None
    queue: str | None
    channel: str | None
    agent_id: str | None
    wait_s: float | None = None
    talk_s: float | None = None
    hold_s: float | None = None
    acw_s: float | None = None
    answers: dict[str, Any] | None = None  # a survey's scores by scale name, and ``resolved``
    score: float | None = None  # a chat.sentiment's compound score, -1..1
    label: str | None = None  # a chat.sentiment's label: positive, neutral or negative


AGENT_STATES = ("logged_out", "available", "on_contact", "after_contact_work", "aux")


@dataclass(slots=True)
class AgentEvent:
    """A validated agent event (cx.agents). ``state`` is None for a change of queues only, ``queues``
    None when the event leaves them as they were: the timeline carries each forward separately."""

    event_id: str
    type: str
    time: float
    agent_id: str
    state: str | None = None
    reason: str | None = None
    queues: tuple[str, ...] | None = None
    channel: str | None = None
    capacity: int | None = None
    contact_id: str | None = None
    contact_queue: str | None = None
    name: str | None = None


@dataclass(slots=True)
class TicketEvent:
    """A validated ticket event (cx.tickets). ``queue``, ``channel``, ``category`` and ``complaint``
    are None when the event leaves them as they were: the ticket carries each forward from the
    event that gave it (ticket.created, normally)."""

    event_id: str
    type: str
    time: float
    ticket_id: str
    customer_id: str | None = None
    queue: str | None = None
    channel: str | None = None
    category: str | None = None
    complaint: bool | None = None


@dataclass(slots=True)
class AccountEvent:
    """A validated account event (cx.accounts). ``currency`` is as published (None: the configured
    one): which currencies count is the fold's decision, the contract only checks the form."""

    event_id: str
    type: str
    time: float
    customer_id: str
    amount: float | None = None
    currency: str | None = None


Decoded = Event | AgentEvent | TicketEvent | AccountEvent
