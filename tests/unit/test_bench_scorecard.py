"""``cxpulse bench scorecard`` on a small simulated stretch: what it reports adds up."""

from __future__ import annotations

from adapters.simulator import generate
from bench import scorecard


def test_a_day_of_tickets_and_accounts_is_folded_and_reported() -> None:
    result = scorecard.measure(days=1, rate_scale=0.2, seed=3)
    kinds = [e["type"] for e in generate(scorecard.START, 86400.0, seed=3, rate_scale=0.2, cx=True)]
    assert result["ticket_events"] == sum(kind.startswith("ticket.") for kind in kinds) > 0
    assert result["account_events"] == sum(kind.startswith("customer.") for kind in kinds) > 0
    assert result["events"] == result["ticket_events"] + result["account_events"]
    assert result["weeks"] == []  # no simulated week ended within one day
    created = sum(kind == "ticket.created" for kind in kinds)
    assert 0 < result["end"]["tickets_held"] <= created
    assert result["end"]["rss_mb"] > 0
