"""``AccountBoard``: one source partition's customers, from account events to company-wide counters.

Recomputed like agent time (kpis/entities.py): a customer's share of every bucket is a function of
its set of events. A customer joins once (its earliest customer.joined) and churns once (its earliest
customer.churned); every purchase counts. Account events are company-wide: every bucket is booked
under the pair ``COMPANY`` and served only in the roll-up rows.

Customers at a period's start cannot be summed from the period's buckets, so each bucket also holds
``customers_net``: +1 in the slot of a customer's join, -1 in the slot it stops being active (its
churn, or its join when it churned before joining). Active customers at a time t are then those at an
anchor plus the nets between the anchor and t (kpis/customers.py). The anchor is the settled line:
events before it are late, so the active count there never changes once the line has passed it.

Memory: purchases leave with the settled line; a customer who churned before the line leaves state
(it is active at no time after the line); one still active keeps its join event only.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from kpis.buckets import BucketStats
from kpis.entities import RecomputedBoard, buckets_at
from kpis.event import AccountEvent
from kpis.state import BucketKey, Pair, Slot

# Events this far behind the partition's newest account event are late: buckets before it are final.
HORIZON_S = 36 * 3600.0
# Customers are looked over (purchases dropped, churned ones forgotten) when the settled line has
# moved this far since the last look, not at every 15-minute move.
SCAN_EVERY_S = 86400.0
COMPANY: Final[Pair] = ("*", "*")
JOINED, CHURNED, PURCHASE = "customer.joined", "customer.churned", "customer.purchase"


class Anchor(NamedTuple):
    """Customers of the partition active at ``line`` (joined before it, not churned before it)."""

    line: float
    active: int


class _Life(NamedTuple):
    joined: float | None
    churned: float | None

    @property
    def inactive_from(self) -> float | None:
        """When a customer who joined stops being active: its churn, or its join if it churned first."""
        if self.joined is None or self.churned is None:
            return None
        return max(self.joined, self.churned)

    def active_at(self, at: float) -> bool:
        inactive = self.inactive_from
        return self.joined is not None and self.joined < at and (inactive is None or inactive >= at)


def _life(events: list[AccountEvent]) -> _Life:
    joined = next((e.time for e in events if e.type == JOINED), None)
    churned = next((e.time for e in events if e.type == CHURNED), None)
    return _Life(joined, churned)


class AccountBoard(RecomputedBoard[AccountEvent]):
    """The customers whose account events are in one partition of ``cx.accounts``."""

    def __init__(self, horizon_s: float = HORIZON_S) -> None:
        super().__init__(horizon_s)
        self._anchor: Anchor | None = None
        self._anchor_changed = False
        self._scanned = 0.0

    def _entity_id(self, event: AccountEvent) -> str:
        return event.customer_id

    @staticmethod
    def _encode(event: AccountEvent) -> list[Any]:
        return [event.event_id, event.type, event.time, event.amount, event.currency]

    def anchor(self) -> Anchor | None:
        self._recompute()
        return self._anchor

    def take_changes(self) -> tuple[dict[Slot, dict[Pair, BucketStats]], Anchor | None, dict[str, list[Any] | None]]:
        """Whole slots of customer buckets that changed, the anchor (None when unchanged), and the
        events to persist per customer (None: the customer left state)."""
        self._recompute()
        slots = self._buckets.take_slots()
        anchor = self._anchor if self._anchor_changed else None
        self._anchor_changed = False
        return slots, anchor, self._take_persisted()

    def _settle(self, previous: float, settled: float) -> None:
        """The anchor moves by the nets between the two lines (counted afresh from the customers the
        first time). Once a day of the line's moves, customers not active at the line with nothing
        after it leave state, and the others drop their purchases of before it."""
        if self._anchor is None:
            active = sum(_life(timeline.events).active_at(settled) for timeline in self._sets.timelines.values())
        else:
            active = self._anchor.active + self._buckets.net_between(previous, settled)
        self._anchor = Anchor(settled, active)
        self._anchor_changed = True
        if settled < self._scanned + SCAN_EVERY_S:
            return
        self._scanned = settled
        for customer_id, timeline in list(self._sets.timelines.items()):
            cut = timeline.cut(settled)
            if cut == 0:
                continue
            if cut == len(timeline.events) and not _life(timeline.events).active_at(settled):
                self._sets.drop(customer_id)
                self._buckets.forget(customer_id)
            else:
                head = timeline.events[:cut]
                firsts = [first for kind in (JOINED, CHURNED) if (first := next((e for e in head if e.type == kind), None))]
                timeline.replace_head(cut, sorted(firsts, key=lambda e: (e.time, e.event_id)))
            self._changed.add(customer_id)

    def _recompute_entity(self, customer_id: str) -> None:
        events = self._sets.timelines[customer_id].events
        life = _life(events)
        shares: dict[BucketKey, BucketStats] = {}

        def book(at: float | None) -> list[BucketStats]:
            return buckets_at(shares, COMPANY, at) if at is not None and at >= self._settled else []

        for stats in book(life.joined):
            stats.customers_joined += 1
            stats.customers_net += 1
        for stats in book(life.churned):
            stats.customers_churned += 1
        for stats in book(life.inactive_from):
            stats.customers_net -= 1
        for event in events:
            if event.type == PURCHASE:
                for stats in book(event.time):
                    stats.purchases += 1
                    stats.revenue += event.amount or 0.0
        self._buckets.replace(customer_id, shares)


def decode_events(customer_id: str, rows: list[list[Any]]) -> list[AccountEvent]:
    """The events of ``AccountBoard.events`` back, for ``AccountBoard.restore``."""
    return [
        AccountEvent(str(event_id), str(kind), float(at), customer_id, amount, currency)
        for event_id, kind, at, amount, currency in rows
    ]
