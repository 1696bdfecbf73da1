"""``TicketBoard``: one source partition's tickets, from their events to counts and durations per bucket.

Recomputed like agent time (kpis/entities.py): a ticket's share of every bucket is a function of its
set of events in event-time order, so a resolution that arrives before its creation, a duplicate, or
a restart changes nothing. Each step is booked in the (queue, channel) of the ticket at the step's
time: created, first response (the first only, timed from creation), resolved (timed from creation,
also after a reopening), reopened. The backlog (tickets open now) is a live value per (queue, channel).

Memory: a ticket leaves state ``tickets.horizon_days`` after its last event; an open ticket untouched
for that long leaves the backlog with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kpis.buckets import BucketStats
from kpis.entities import RecomputedBoard, buckets_at
from kpis.event import TicketEvent
from kpis.state import UNKNOWN, BucketKey, Pair, Slot

# Events this far behind the partition's newest ticket event are late: buckets before it are final.
HORIZON_S = 36 * 3600.0
DEFAULT_KEEP_DAYS = 90.0
# Tickets past their horizon are looked for when the settled line has moved this far since the last
# look: a scan of every ticket at each 15-minute move would cost a replayed month more than its fold.
SCAN_EVERY_S = 86400.0


@dataclass(slots=True)
class _Walk:
    """A ticket as of a point of its timeline: its properties carry forward from the latest event
    that gave them (before the first, the first given, so no step is booked as unknown that the
    ticket's own events place)."""

    queue: str | None = None
    channel: str | None = None
    category: str | None = None
    complaint: bool = False
    created_at: float | None = None
    responded: bool = False
    open: bool = False
    resolved: bool = False

    @classmethod
    def starting(cls, events: list[TicketEvent]) -> _Walk:
        walk = cls()
        walk.queue = next((e.queue for e in events if e.queue is not None), None)
        walk.channel = next((e.channel for e in events if e.channel is not None), None)
        walk.category = next((e.category for e in events if e.category is not None), None)
        walk.complaint = next((e.complaint for e in events if e.complaint is not None), False)
        return walk

    @property
    def pair(self) -> Pair:
        return (self.queue or UNKNOWN, self.channel or UNKNOWN)

    def carry(self, event: TicketEvent) -> None:
        if event.queue is not None:
            self.queue = event.queue
        if event.channel is not None:
            self.channel = event.channel
        if event.category is not None:
            self.category = event.category
        if event.complaint is not None:
            self.complaint = event.complaint


class TicketBoard(RecomputedBoard[TicketEvent]):
    """The tickets whose events are in one partition of ``cx.tickets`` (keyed by customer id)."""

    def __init__(self, keep_days: float = DEFAULT_KEEP_DAYS, horizon_s: float = HORIZON_S) -> None:
        super().__init__(horizon_s)
        self._keep_s = keep_days * 86400.0
        self._open: dict[str, Pair] = {}
        self._backlog_changed = False
        self._scanned = 0.0

    def _entity_id(self, event: TicketEvent) -> str:
        return event.ticket_id

    @staticmethod
    def _encode(event: TicketEvent) -> list[Any]:
        return [event.event_id, event.type, event.time, event.customer_id, event.queue, event.channel,
                event.category, event.complaint]  # fmt: skip

    def backlog(self) -> dict[Pair, int]:
        """Tickets open now per (queue, channel)."""
        self._recompute()
        counts: dict[Pair, int] = {}
        for pair in self._open.values():
            counts[pair] = counts.get(pair, 0) + 1
        return dict(sorted(counts.items()))

    def take_changes(self) -> tuple[dict[Slot, dict[Pair, BucketStats]], dict[Pair, int] | None, dict[str, list[Any] | None]]:
        """Whole slots of ticket buckets that changed, the backlog (None when unchanged), and the
        events to persist per ticket (None: the ticket left state)."""
        self._recompute()
        slots = self._buckets.take_slots()
        backlog = self.backlog() if self._backlog_changed else None
        self._backlog_changed = False
        return slots, backlog, self._take_persisted()

    def _settle(self, previous: float, settled: float) -> None:
        """A ticket whose last event is ``keep_days`` behind the newest event, and before the line
        (so all its shares are final), leaves state; looked for once a day of the line's moves."""
        if settled < self._scanned + SCAN_EVERY_S:
            return
        self._scanned = settled
        forget_before = min(self._sets.newest - self._keep_s, settled)
        for ticket_id, timeline in list(self._sets.timelines.items()):
            if timeline.events[-1].time < forget_before:
                self._sets.drop(ticket_id)
                self._buckets.forget(ticket_id)
                self._changed.add(ticket_id)
                if self._open.pop(ticket_id, None) is not None:
                    self._backlog_changed = True

    def _targets(self, shares: dict[BucketKey, BucketStats], walk: _Walk, event: TicketEvent) -> list[BucketStats]:
        """Where a step counts: its buckets of every size, none before the settled line (final)."""
        return buckets_at(shares, walk.pair, event.time) if event.time >= self._settled else []

    def _recompute_entity(self, ticket_id: str) -> None:
        events = self._sets.timelines[ticket_id].events
        shares: dict[BucketKey, BucketStats] = {}
        walk = _Walk.starting(events)
        for event in events:
            walk.carry(event)
            if event.type == "ticket.created" and walk.created_at is None:
                walk.created_at, walk.open = event.time, True
                for stats in self._targets(shares, walk, event):
                    stats.tickets_created += 1
                    stats.complaints += walk.complaint
                    category = walk.category or UNKNOWN
                    stats.ticket_categories[category] = stats.ticket_categories.get(category, 0) + 1
            elif event.type == "ticket.first_response" and not walk.responded:
                walk.responded = True
                if walk.created_at is not None:
                    for stats in self._targets(shares, walk, event):
                        stats.first_response_sum_s += event.time - walk.created_at
                        stats.first_responses += 1
            elif event.type == "ticket.resolved" and (walk.open or (walk.created_at is None and not walk.resolved)):
                # Without its creation (created before the events kept) a ticket still counts as resolved, untimed.
                walk.open, walk.resolved = False, True
                for stats in self._targets(shares, walk, event):
                    stats.tickets_resolved += 1
                    if walk.created_at is not None:
                        stats.add_resolution(event.time - walk.created_at)
            elif event.type == "ticket.reopened" and not walk.open:
                walk.open = True
                for stats in self._targets(shares, walk, event):
                    stats.tickets_reopened += 1
        self._buckets.replace(ticket_id, shares)
        before = self._open.get(ticket_id)
        after = walk.pair if walk.open else None
        if before != after:
            if after is None:
                del self._open[ticket_id]
            else:
                self._open[ticket_id] = after
            self._backlog_changed = True


def decode_events(ticket_id: str, rows: list[list[Any]]) -> list[TicketEvent]:
    """The events of ``TicketBoard.events`` back, for ``TicketBoard.restore``."""
    return [
        TicketEvent(str(event_id), str(kind), float(at), ticket_id, customer, queue, channel, category, complaint)
        for event_id, kind, at, customer, queue, channel, category, complaint in rows
    ]
