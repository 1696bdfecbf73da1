"""cx.tickets and cx.accounts: documented shapes decode, bad ones name what is wrong, keys and topics route."""

from __future__ import annotations

import json

import pytest

from adapters.publisher import topic_of
from api.ingest_http import check
from kpis.event import AccountEvent, TicketEvent
from streams import topics
from streams.contract import InvalidEvent, Rejected, decode_record, record_key

def decode(raw: bytes, topic: str) -> object:
    """The one event of a one-event record."""
    [item] = decode_record(raw, topic).items
    if isinstance(item, Rejected):
        raise item.error
    return item


# The shapes the spec documents (scorecard-spec.md, contract additions), written out in full.
CREATED = {
    "event_id": "t1-c", "type": "ticket.created", "time": "2026-03-01T10:00:00+01:00", "ticket_id": "T-1",
    "customer_id": "cust-9", "queue": "billing", "channel": "email", "category": "refund", "complaint": True,
}  # fmt: skip
RESOLVED = {"event_id": "t1-r", "type": "ticket.resolved", "time": "2026-03-02T09:00:00Z", "ticket_id": "T-1"}
PURCHASE = {
    "event_id": "p1", "type": "customer.purchase", "time": "2026-03-01T12:00:00Z", "customer_id": "cust-9",
    "amount": 99.5, "currency": "EUR",
}  # fmt: skip


def test_a_created_ticket_carries_everything_and_a_later_step_may_omit_it() -> None:
    created = decode(json.dumps(CREATED).encode(), topics.TICKETS)
    assert created == TicketEvent("t1-c", "ticket.created", 1772355600.0, "T-1", "cust-9", "billing", "email", "refund", True)
    resolved = decode(json.dumps(RESOLVED).encode(), topics.TICKETS)
    assert resolved == TicketEvent("t1-r", "ticket.resolved", 1772442000.0, "T-1")  # 2026-03-02 09:00 UTC, by hand


def test_account_events_decode_with_amount_and_currency() -> None:
    assert decode(json.dumps(PURCHASE).encode(), topics.ACCOUNTS) == AccountEvent(
        "p1", "customer.purchase", 1772366400.0, "cust-9", 99.5, "EUR"
    )
    joined = {"event_id": "j1", "type": "customer.joined", "time": "2026-03-01T00:00:00Z", "customer_id": "cust-9"}
    assert decode(json.dumps(joined).encode(), topics.ACCOUNTS) == AccountEvent("j1", "customer.joined", 1772323200.0, "cust-9")


@pytest.mark.parametrize(
    ("document", "topic", "fragment"),
    [
        ({**CREATED, "type": "ticket.escalated"}, topics.TICKETS, "type"),
        ({k: v for k, v in CREATED.items() if k != "ticket_id"}, topics.TICKETS, "ticket_id"),
        ({**CREATED, "complaint": "yes"}, topics.TICKETS, "complaint"),
        ({**PURCHASE, "amount": -1}, topics.ACCOUNTS, "amount"),
        ({**PURCHASE, "currency": "euro"}, topics.ACCOUNTS, "currency"),
        ({k: v for k, v in PURCHASE.items() if k != "amount"}, topics.ACCOUNTS, "amount"),
        ({k: v for k, v in PURCHASE.items() if k != "customer_id"}, topics.ACCOUNTS, "customer_id"),
    ],
)
def test_bad_ticket_and_account_events_name_the_field(document: dict[str, object], topic: str, fragment: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode(json.dumps(document).encode(), topic)
    assert caught.value.kind == "schema" and fragment in str(caught.value)


def test_one_bad_event_of_an_array_is_rejected_alone() -> None:
    raw = json.dumps([CREATED, {**RESOLVED, "time": "yesterday"}]).encode()
    first, second = decode_record(raw, topics.TICKETS).items
    assert isinstance(first, TicketEvent) and isinstance(second, Rejected) and second.index == 1


def test_keys_and_topics() -> None:
    assert record_key(CREATED) == b"cust-9"
    assert record_key(RESOLVED) == b"T-1"  # no customer: the ticket id keeps a ticket's events together
    assert record_key(PURCHASE) == b"cust-9"
    assert topic_of(CREATED) == topic_of(RESOLVED) == topics.TICKETS
    assert topic_of(PURCHASE) == topics.ACCOUNTS
    assert {topics.TICKETS, topics.ACCOUNTS} <= set(topics.FOLDED_TOPICS)


def test_the_http_door_checks_tickets_and_accounts_against_their_own_schemas() -> None:
    check(CREATED)
    check(PURCHASE)
    with pytest.raises(InvalidEvent, match="amount"):
        check({k: v for k, v in PURCHASE.items() if k != "amount"})
    with pytest.raises(InvalidEvent, match="ticket_id"):
        check({k: v for k, v in CREATED.items() if k != "ticket_id"})
