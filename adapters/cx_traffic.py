"""The simulator's CX layer: tickets, customer accounts, chat messages and survey comments.

It rides on the contact simulation (adapters/simulator.py) rather than beside it, because the CX
scorecard is about links between them: churn rises after a customer's abandoned contact or negative
chat, and a chat's text turns sour after a long wait. It draws from its own ``random.Random``, so the
contacts' timing, queues and waits are the same with or without it; only the contacts' customer ids
change: a tenth of the callers are account holders, the others guests without an account.

Events dated before the simulation's start (the customer base's joins, the open tickets of the last
two days) come out first, as ``opening``; everything else goes through the simulation's heap.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any, Final

Action = Callable[[float], list[dict[str, Any]]]
Schedule = Callable[[float, Action], None]
Formatter = Callable[[float], str]

DAY_S: Final = 86_400.0
YEAR_S: Final = 365.0 * DAY_S
CURRENCY: Final = "EUR"

# The base: 20,000 accounts joined over the three years before the start, whatever the traffic (a
# base that grew with it took the worker minutes to fold at a demo's start). A tenth of the callers
# are account holders (the rest, guests, have no account): with everyone an account holder, a base
# small enough to publish at the start would call back every few days, and repeat contacts would be
# the norm.
BASE_CUSTOMERS: Final = 20_000
HOLDER_SHARE: Final = 0.1
_BASE_JOINED_OVER_S: Final = 3 * YEAR_S
_YEARLY_CHURN: Final = 0.20
_YEARLY_JOIN_SHARE: Final = 0.22
_PURCHASES_PER_YEAR: Final = 4.0
_PURCHASE_MEAN_EUR: Final = 100.0
_PURCHASE_SIGMA: Final = 0.5
# A bad contact makes the customer leave within a day with this probability.
CHURN_AFTER_ABANDON: Final = 0.04
CHURN_AFTER_NEGATIVE_CHAT: Final = 0.08
_CHURN_DELAY_S: Final = (1800.0, DAY_S)

# Tickets: a tenth of the contact rate, over written channels.
_TICKETS_PER_CONTACT: Final = 0.1
TICKET_CHANNELS: Final = (("email", 0.60), ("web_form", 0.25), ("social", 0.15))
TICKET_CATEGORIES: Final = (("billing", 0.35), ("technical", 0.30), ("account", 0.20), ("delivery", 0.15))
# Where a category's tickets go when the queue exists; otherwise any queue.
_CATEGORY_QUEUE: Final = {"billing": "billing", "technical": "support", "account": "retention", "delivery": "sales"}
COMPLAINT_SHARE: Final = 0.05
_TICKET_UNKNOWN_CUSTOMER: Final = 0.10
# Lognormal delays: (median seconds, sigma). First response within hours, resolution within a day or two.
_FIRST_RESPONSE: Final = (1.5 * 3600, 0.8)
_RESOLUTION: Final = (20 * 3600, 0.6)
_REOPEN_PROBABILITY: Final = 0.08
_REOPEN_AFTER_S: Final = (2 * 3600.0, 2 * DAY_S)
_RESOLVE_AGAIN: Final = (8 * 3600, 0.6)
_BACKLOG_FROM_S: Final = 2 * DAY_S

# Chats: the wait that makes a customer happy or cross, and how often they write while waiting.
SHORT_WAIT_S: Final = 30.0
LONG_WAIT_S: Final = 120.0
_WAITING_MESSAGE_PROBABILITY: Final = 0.5
_COMMENT_PROBABILITY: Final = 0.4

POSITIVE_CLOSINGS: Final = (
    "Great, thanks so much for the quick help!",
    "Perfect, that solved it. Thank you!",
    "Wonderful, I really appreciate the fast answer.",
)
NEUTRAL_CLOSINGS: Final = (
    "I see. I will check the invoice again tomorrow.",
    "Ok. I will try that this evening.",
    "Understood, I will wait for the email.",
)
NEGATIVE_CLOSINGS: Final = (
    "It took far too long to get an answer. Very disappointed.",
    "This is terrible service, I waited forever.",
    "Awful experience, the wait was ridiculous and I am still angry.",
)
NEUTRAL_OPENINGS: Final = (
    "Hello, I have a question about my {topic}.",
    "Hi, I need to ask about my {topic}.",
)
NEGATIVE_OPENINGS: Final = (
    "I have been waiting for ages, this is ridiculous. It is about my {topic}.",
    "Finally! Terrible wait. I need help with my {topic}.",
)
AGENT_REPLIES: Final = (
    "Hello, thank you for waiting. Let me look into that for you.",
    "Hi, I can help with that. One moment please.",
)
WAITING_MESSAGES: Final = (
    "Is anyone there? This is terrible, I have waited forever.",
    "Still waiting... awful service.",
)
_TOPICS: Final = ("invoice", "order", "account", "delivery", "password", "contract")
POSITIVE_COMMENTS: Final = ("Friendly and quick, thank you!", "Great help, very happy with the service.")
NEUTRAL_COMMENTS: Final = ("The call was about my invoice.", "I spoke with the team on Tuesday.")
NEGATIVE_COMMENTS: Final = ("Terrible wait and the problem is still not solved.", "Very disappointed, nobody helped me.")


def _weighted(rng: random.Random, choices: Sequence[tuple[str, float]]) -> str:
    return rng.choices([name for name, _ in choices], [weight for _, weight in choices])[0]


def _lognormal(rng: random.Random, median_s: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median_s), sigma)


class _Customers:
    """The accounts: an id per customer ever joined, and the active ones in a list (swap-remove) for an
    O(1) draw of a random active customer."""

    __slots__ = ("count", "active", "index")

    def __init__(self) -> None:
        self.count = 0
        self.active: list[str] = []
        self.index: dict[str, int] = {}

    def join(self) -> str:
        customer_id = f"cust-{self.count:06d}"
        self.count += 1
        self.index[customer_id] = len(self.active)
        self.active.append(customer_id)
        return customer_id

    def leave(self, customer_id: str) -> bool:
        """False when the customer is not active (already gone)."""
        position = self.index.pop(customer_id, None)
        if position is None:
            return False
        last = self.active.pop()
        if position < len(self.active):
            self.active[position] = last
            self.index[last] = position
        return True


class CxLayer:
    """Tickets, accounts, chat messages and survey comments for one simulation run.

    ``schedule`` puts an action on the simulation's heap; an action returns the events it emits.
    ``peak_contacts_per_hour`` (all queues at the peak, after ``rate_scale``) sizes the ticket rate; ``load`` thins ticket arrivals by hour like the contacts'.
    """

    def __init__(
        self,
        seed: int,
        start: float,
        id_prefix: str,
        queue_names: Sequence[str],
        peak_contacts_per_hour: float,
        load: Sequence[float],
        schedule: Schedule,
        format_time: Formatter,
    ) -> None:
        self._rng = random.Random(f"cx-{seed}")
        self._start = start
        self._prefix = id_prefix
        self._queues = tuple(dict.fromkeys(queue_names))
        self._load = tuple(load)
        self._schedule = schedule
        self._format = format_time
        self._events = 0
        self._tickets = 0
        self._customers = _Customers()
        self._ticket_rate = peak_contacts_per_hour * _TICKETS_PER_CONTACT / 3600.0
        base = BASE_CUSTOMERS
        self.opening: list[dict[str, Any]] = []
        self._open_base(base)
        self._open_backlog()
        self.opening.sort(key=lambda event: event["time"])
        for index, event in enumerate(self.opening, start=1):
            event["event_id"] = f"{id_prefix}x{index:012d}"
        self._events = len(self.opening)
        self._join_rate = base * _YEARLY_JOIN_SHARE / YEAR_S
        self._next_join(start)
        self._next_churn(start)
        self._next_purchase(start)
        self._next_ticket(start)

    # -- customers --------------------------------------------------------------------------------

    def holder(self, draw: float) -> str | None:
        """The account holder behind a contact, from the contact simulation's own draw in [0, 1) (so
        that the contacts' random sequence stays as it is), or None for a guest; former customers
        still call now and then."""
        if draw >= HOLDER_SHARE:
            return None
        return f"cust-{int(draw / HOLDER_SHARE * self._customers.count):06d}"

    def _open_base(self, base: int) -> None:
        rng = self._rng
        for _ in range(base):
            joined = self._start - rng.uniform(DAY_S, _BASE_JOINED_OVER_S)
            self.opening.append(self._account("customer.joined", joined, self._customers.join(), numbered=False))

    def _next_join(self, after: float) -> None:
        self._schedule(after + self._rng.expovariate(self._join_rate), self._join)

    def _join(self, now: float) -> list[dict[str, Any]]:
        self._next_join(now)
        return [self._account("customer.joined", now, self._customers.join())]

    def _next_churn(self, after: float) -> None:
        """The background churn: every active customer leaves at the yearly rate (a Poisson process
        over the whole base, redrawn at each event as the base changes)."""
        rate = max(1, len(self._customers.active)) * _YEARLY_CHURN / YEAR_S
        self._schedule(after + self._rng.expovariate(rate), self._churn_someone)

    def _churn_someone(self, now: float) -> list[dict[str, Any]]:
        self._next_churn(now)
        active = self._customers.active
        if not active:
            return []
        return self._churn(active[int(self._rng.random() * len(active))], now)

    def _churn(self, customer_id: str, now: float) -> list[dict[str, Any]]:
        if not self._customers.leave(customer_id):
            return []
        return [self._account("customer.churned", now, customer_id)]

    def _maybe_churn_later(self, now: float, customer_id: str | None, probability: float) -> None:
        """A bad contact: the customer may leave within a day (if still a customer then)."""
        if customer_id is None or customer_id not in self._customers.index or self._rng.random() >= probability:
            return
        self._schedule(now + self._rng.uniform(*_CHURN_DELAY_S), lambda moment: self._churn(customer_id, moment))

    def _next_purchase(self, after: float) -> None:
        rate = max(1, len(self._customers.active)) * _PURCHASES_PER_YEAR / YEAR_S
        self._schedule(after + self._rng.expovariate(rate), self._purchase)

    def _purchase(self, now: float) -> list[dict[str, Any]]:
        self._next_purchase(now)
        rng, active = self._rng, self._customers.active
        if not active:
            return []
        event = self._account("customer.purchase", now, active[int(rng.random() * len(active))])
        mu = math.log(_PURCHASE_MEAN_EUR) - _PURCHASE_SIGMA**2 / 2
        event["amount"] = round(rng.lognormvariate(mu, _PURCHASE_SIGMA), 2)
        event["currency"] = CURRENCY
        return [event]

    def _account(self, event_type: str, moment: float, customer_id: str, numbered: bool = True) -> dict[str, Any]:
        return {
            "event_id": self._event_id() if numbered else "",
            "type": event_type,
            "time": self._format(moment),
            "customer_id": customer_id,
        }

    # -- tickets ----------------------------------------------------------------------------------

    def _open_backlog(self) -> None:
        """The tickets created in the two days before the start, so the backlog is not empty at first:
        their steps before the start come out at once, the rest in their time."""
        rng, moment = self._rng, self._start - _BACKLOG_FROM_S
        while self._ticket_rate > 0:
            moment += rng.expovariate(self._ticket_rate)
            if moment >= self._start:
                return
            if rng.random() < self._load[int(moment // 3600) % 24]:
                self._ticket(moment, opening=True)

    def _next_ticket(self, after: float) -> None:
        if self._ticket_rate <= 0:
            return
        rng, moment = self._rng, after
        while True:
            moment += rng.expovariate(self._ticket_rate)
            if rng.random() < self._load[int(moment // 3600) % 24]:
                break
        self._schedule(moment, self._new_ticket)

    def _new_ticket(self, now: float) -> list[dict[str, Any]]:
        self._next_ticket(now)
        return self._ticket(now, opening=False)

    def _ticket(self, created: float, opening: bool) -> list[dict[str, Any]]:
        """Draw a ticket's whole life at its creation; steps are emitted at their own times."""
        rng = self._rng
        self._tickets += 1
        ticket_id = f"{self._prefix}t{self._tickets}"
        customers = self._customers.count
        customer_id = None if rng.random() < _TICKET_UNKNOWN_CUSTOMER else f"cust-{int(rng.random() * customers):06d}"
        category = _weighted(rng, TICKET_CATEGORIES)
        queue = _CATEGORY_QUEUE[category]
        if queue not in self._queues:
            queue = self._queues[int(rng.random() * len(self._queues))]
        first = created + _lognormal(rng, *_FIRST_RESPONSE)
        resolved = max(first, created + _lognormal(rng, *_RESOLUTION)) + 60.0
        steps = [("ticket.first_response", first), ("ticket.resolved", resolved)]
        if rng.random() < _REOPEN_PROBABILITY:
            reopened = resolved + rng.uniform(*_REOPEN_AFTER_S)
            steps += [("ticket.reopened", reopened), ("ticket.resolved", reopened + _lognormal(rng, *_RESOLVE_AGAIN))]
        created_event = self._ticket_event("ticket.created", created, ticket_id, customer_id, numbered=not opening)
        created_event.update(
            queue=queue, channel=_weighted(rng, TICKET_CHANNELS), category=category,
            complaint=rng.random() < COMPLAINT_SHARE,
        )  # fmt: skip
        for event_type, moment in steps:
            if opening and moment < self._start:
                self.opening.append(self._ticket_event(event_type, moment, ticket_id, customer_id, numbered=False))
            else:
                self._schedule(moment, self._ticket_step(event_type, ticket_id, customer_id))
        if opening:
            self.opening.append(created_event)
            return []
        return [created_event]

    def _ticket_step(self, event_type: str, ticket_id: str, customer_id: str | None) -> Action:
        return lambda moment: [self._ticket_event(event_type, moment, ticket_id, customer_id)]

    def _ticket_event(
        self, event_type: str, moment: float, ticket_id: str, customer_id: str | None, numbered: bool = True
    ) -> dict[str, Any]:
        """Every step carries the customer id: it is the record key, which keeps a ticket in one partition."""
        event: dict[str, Any] = {
            "event_id": self._event_id() if numbered else "",
            "type": event_type,
            "time": self._format(moment),
            "ticket_id": ticket_id,
        }
        if customer_id is not None:
            event["customer_id"] = customer_id
        return event

    # -- contacts ---------------------------------------------------------------------------------

    def abandoned(self, now: float, contact: dict[str, Any], wait_s: float) -> None:
        """A waiting chat customer often writes before giving up; any abandoned customer may churn."""
        if contact["channel"] == "chat" and wait_s >= LONG_WAIT_S and self._rng.random() < _WAITING_MESSAGE_PROBABILITY:
            self._message(now, contact, "customer", self._rng.choice(WAITING_MESSAGES))
        self._maybe_churn_later(now, contact["customer_id"], CHURN_AFTER_ABANDON)

    def conversation(self, answered: float, ended: float, contact: dict[str, Any], wait_s: float) -> None:
        """A chat's messages: the customer's opening (cross after a long wait), the agent's reply, and
        the customer's closing, whose tone follows the wait: thanks after a short one, a complaint
        after a long one. A negative chat may cost the customer."""
        if contact["channel"] != "chat":
            return
        rng = self._rng
        topic = rng.choice(_TOPICS)
        cross = wait_s >= LONG_WAIT_S
        opening = rng.choice(NEGATIVE_OPENINGS if cross else NEUTRAL_OPENINGS).format(topic=topic)
        self._message(answered + rng.uniform(2.0, 10.0), contact, "customer", opening)
        self._message(answered + rng.uniform(12.0, 20.0), contact, "agent", rng.choice(AGENT_REPLIES))
        closing = NEGATIVE_CLOSINGS if cross else POSITIVE_CLOSINGS if wait_s < SHORT_WAIT_S else NEUTRAL_CLOSINGS
        self._message(max(ended - 1.0, answered + 21.0), contact, "customer", rng.choice(closing))
        if cross:
            self._maybe_churn_later(ended, contact["customer_id"], CHURN_AFTER_NEGATIVE_CHAT)

    def _message(self, moment: float, contact: dict[str, Any], sender: str, text: str) -> None:
        def emit(now: float) -> list[dict[str, Any]]:
            event = {
                "event_id": self._event_id(),
                "type": "chat.message",
                "time": self._format(now),
                "contact_id": contact["contact_id"],
                "customer_id": contact["customer_id"],
                "queue": contact["queue"],
                "channel": contact["channel"],
                "sender": sender,
                "text": text,
            }
            return [event]

        self._schedule(moment, emit)

    def comment(self, survey: dict[str, Any]) -> None:
        """Some surveys carry a comment in the tone of their scores (CSAT, else the other answers)."""
        rng = self._rng
        if rng.random() >= _COMMENT_PROBABILITY:
            return
        tone = _tone(survey)
        pool = POSITIVE_COMMENTS if tone > 0 else NEGATIVE_COMMENTS if tone < 0 else NEUTRAL_COMMENTS
        survey["comment"] = rng.choice(pool)

    def _event_id(self) -> str:
        self._events += 1
        return f"{self._prefix}x{self._events:012d}"


def _tone(survey: dict[str, Any]) -> int:
    """+1, 0 or -1 from the survey's scores: CSAT 4-5 / 1-2, else NPS 9-10 / 0-6, else CES 6-7 / 1-3."""
    for name, low, high in (("csat", 2, 4), ("nps", 6, 9), ("ces", 3, 6)):
        value = survey.get(name)
        if value is not None:
            return 1 if value >= high else -1 if value <= low else 0
    return 0
