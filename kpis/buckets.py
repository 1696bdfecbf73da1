"""Per-bucket counters: the additive unit of KPI state.

Everything here is a sum, a max or a histogram, so buckets merge across partitions and compose into
any window made of whole buckets; KPIs are computed from merged counters, never averaged from
averages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Iterable

from kpis.scales import SURVEY_SCALES, SurveyScale


def wait_bin(wait_s: float) -> int:
    """The histogram bin of a wait: its upper bound in seconds (1 s up to 5 min, then coarser)."""
    if wait_s <= 0:
        return 0
    if wait_s <= 300:
        return math.ceil(wait_s)
    if wait_s <= 1800:
        return math.ceil(wait_s / 10) * 10
    if wait_s <= 7200:
        return math.ceil(wait_s / 60) * 60
    return math.ceil(wait_s / 600) * 600


@dataclass(slots=True)
class BucketStats:
    """The counters of one bucket. ``scores`` holds, per survey scale that has answers, one count per
    answer (index 0 = the scale's lowest); a scale without answers is simply absent."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    handled: int = 0
    surveys: int = 0
    answered_wait_sum_s: float = 0.0
    answered_with_wait: int = 0
    abandoned_wait_sum_s: float = 0.0
    abandoned_with_wait: int = 0
    max_wait_s: float = 0.0
    wait_bins: dict[int, int] = field(default_factory=dict)
    answered_within_sl: int = 0
    abandoned_within_sl: int = 0
    talk_sum_s: float = 0.0
    hold_sum_s: float = 0.0
    acw_sum_s: float = 0.0
    scores: dict[str, list[int]] = field(default_factory=dict)
    resolved_true: int = 0
    resolved_answers: int = 0
    known_customer_offered: int = 0
    repeat_offered: int = 0
    missed: int = 0
    transferred: int = 0
    missed_by_agent: dict[str, int] = field(default_factory=dict)
    # Agent time (kpis/agents.py): seconds of closed state segments, split over the queues served.
    staffed_s: float = 0.0
    available_s: float = 0.0
    on_contact_s: float = 0.0
    agent_acw_s: float = 0.0
    aux_s: float = 0.0
    aux_reason_s: dict[str, float] = field(default_factory=dict)
    # Customers' chat messages and survey comments scored by `cxpulse sentiment` (chat.sentiment).
    messages_scored: int = 0
    sentiment_positive: int = 0
    sentiment_neutral: int = 0
    sentiment_negative: int = 0
    sentiment_score_sum: float = 0.0
    # Tickets (kpis/tickets.py): steps booked at their own time, durations from the ticket's creation.
    tickets_created: int = 0
    tickets_resolved: int = 0
    tickets_reopened: int = 0
    complaints: int = 0
    resolution_sum_s: float = 0.0
    resolutions_timed: int = 0
    resolution_bins: dict[int, int] = field(default_factory=dict)
    first_response_sum_s: float = 0.0
    first_responses: int = 0
    ticket_categories: dict[str, int] = field(default_factory=dict)
    # Customers (kpis/accounts.py), company-wide: ``customers_net`` is the change in active customers
    # (joins less leavings) and ``customers_at_start`` is set by the read side, never booked.
    customers_joined: int = 0
    customers_churned: int = 0
    customers_net: int = 0
    customers_at_start: int = 0
    purchases: int = 0
    revenue: float = 0.0

    def add(self, other: BucketStats) -> None:
        """Written out field by field: serving sums thousands of buckets per refresh, and this is
        several times faster than a loop over field names (``test_add_covers_every_field`` keeps
        it complete)."""
        self.offered += other.offered
        self.answered += other.answered
        self.abandoned += other.abandoned
        self.short_abandoned += other.short_abandoned
        self.handled += other.handled
        self.surveys += other.surveys
        self.answered_wait_sum_s += other.answered_wait_sum_s
        self.answered_with_wait += other.answered_with_wait
        self.abandoned_wait_sum_s += other.abandoned_wait_sum_s
        self.abandoned_with_wait += other.abandoned_with_wait
        if other.max_wait_s > self.max_wait_s:
            self.max_wait_s = other.max_wait_s
        self.answered_within_sl += other.answered_within_sl
        self.abandoned_within_sl += other.abandoned_within_sl
        self.talk_sum_s += other.talk_sum_s
        self.hold_sum_s += other.hold_sum_s
        self.acw_sum_s += other.acw_sum_s
        self.resolved_true += other.resolved_true
        self.resolved_answers += other.resolved_answers
        self.known_customer_offered += other.known_customer_offered
        self.repeat_offered += other.repeat_offered
        self.missed += other.missed
        self.transferred += other.transferred
        self.staffed_s += other.staffed_s
        self.available_s += other.available_s
        self.on_contact_s += other.on_contact_s
        self.agent_acw_s += other.agent_acw_s
        self.aux_s += other.aux_s
        self.messages_scored += other.messages_scored
        self.sentiment_positive += other.sentiment_positive
        self.sentiment_neutral += other.sentiment_neutral
        self.sentiment_negative += other.sentiment_negative
        self.sentiment_score_sum += other.sentiment_score_sum
        self.tickets_created += other.tickets_created
        self.tickets_resolved += other.tickets_resolved
        self.tickets_reopened += other.tickets_reopened
        self.complaints += other.complaints
        self.resolution_sum_s += other.resolution_sum_s
        self.resolutions_timed += other.resolutions_timed
        self.first_response_sum_s += other.first_response_sum_s
        self.first_responses += other.first_responses
        self.customers_joined += other.customers_joined
        self.customers_churned += other.customers_churned
        self.customers_net += other.customers_net
        self.customers_at_start += other.customers_at_start
        self.purchases += other.purchases
        self.revenue += other.revenue
        if other.resolution_bins:
            _add_counts(self.resolution_bins, other.resolution_bins)
        if other.ticket_categories:
            _add_counts(self.ticket_categories, other.ticket_categories)
        if other.missed_by_agent:
            missed = self.missed_by_agent
            for agent, count in other.missed_by_agent.items():
                missed[agent] = missed.get(agent, 0) + count
        if other.aux_reason_s:
            reasons = self.aux_reason_s
            for reason, seconds in other.aux_reason_s.items():
                reasons[reason] = reasons.get(reason, 0.0) + seconds
        if other.wait_bins:
            bins = self.wait_bins
            for upper, count in other.wait_bins.items():
                bins[upper] = bins.get(upper, 0) + count
        if other.scores:
            scores = self.scores
            for name, theirs in other.scores.items():
                mine = scores.get(name)
                if mine is None:
                    scores[name] = list(theirs)
                else:
                    for index, count in enumerate(theirs):
                        mine[index] += count

    def subtract(self, other: BucketStats) -> None:
        """Undo an ``add`` of the additive counters, for sums that follow replaced buckets;
        ``max_wait_s`` is not additive and is left as it is. Written out like ``add``: the read side
        takes every replaced bucket out of the sums that hold it
        (``test_subtract_undoes_add_except_the_maximum`` keeps it complete)."""
        self.offered -= other.offered
        self.answered -= other.answered
        self.abandoned -= other.abandoned
        self.short_abandoned -= other.short_abandoned
        self.handled -= other.handled
        self.surveys -= other.surveys
        self.answered_wait_sum_s -= other.answered_wait_sum_s
        self.answered_with_wait -= other.answered_with_wait
        self.abandoned_wait_sum_s -= other.abandoned_wait_sum_s
        self.abandoned_with_wait -= other.abandoned_with_wait
        self.answered_within_sl -= other.answered_within_sl
        self.abandoned_within_sl -= other.abandoned_within_sl
        self.talk_sum_s -= other.talk_sum_s
        self.hold_sum_s -= other.hold_sum_s
        self.acw_sum_s -= other.acw_sum_s
        self.resolved_true -= other.resolved_true
        self.resolved_answers -= other.resolved_answers
        self.known_customer_offered -= other.known_customer_offered
        self.repeat_offered -= other.repeat_offered
        self.missed -= other.missed
        self.transferred -= other.transferred
        self.staffed_s -= other.staffed_s
        self.available_s -= other.available_s
        self.on_contact_s -= other.on_contact_s
        self.agent_acw_s -= other.agent_acw_s
        self.aux_s -= other.aux_s
        self.messages_scored -= other.messages_scored
        self.sentiment_positive -= other.sentiment_positive
        self.sentiment_neutral -= other.sentiment_neutral
        self.sentiment_negative -= other.sentiment_negative
        self.sentiment_score_sum -= other.sentiment_score_sum
        self.tickets_created -= other.tickets_created
        self.tickets_resolved -= other.tickets_resolved
        self.tickets_reopened -= other.tickets_reopened
        self.complaints -= other.complaints
        self.resolution_sum_s -= other.resolution_sum_s
        self.resolutions_timed -= other.resolutions_timed
        self.first_response_sum_s -= other.first_response_sum_s
        self.first_responses -= other.first_responses
        self.customers_joined -= other.customers_joined
        self.customers_churned -= other.customers_churned
        self.customers_net -= other.customers_net
        self.customers_at_start -= other.customers_at_start
        self.purchases -= other.purchases
        self.revenue -= other.revenue
        if other.resolution_bins:
            _add_counts(self.resolution_bins, other.resolution_bins, -1)
        if other.ticket_categories:
            _add_counts(self.ticket_categories, other.ticket_categories, -1)
        if other.wait_bins:
            bins = self.wait_bins
            for upper, count in other.wait_bins.items():
                bins[upper] = bins.get(upper, 0) - count
        if other.scores:
            for name, theirs in other.scores.items():
                mine = self.scores.setdefault(name, [0] * len(theirs))
                for index, count in enumerate(theirs):
                    mine[index] -= count
        if other.missed_by_agent:
            missed = self.missed_by_agent
            for agent, count in other.missed_by_agent.items():
                missed[agent] = missed.get(agent, 0) - count
        if other.aux_reason_s:
            reasons = self.aux_reason_s
            for reason, seconds in other.aux_reason_s.items():
                reasons[reason] = reasons.get(reason, 0.0) - seconds

    def round_durations(self) -> None:
        """Sums of seconds to the microsecond (and of sentiment scores, given to 4 decimals, to 6): a
        sum kept up to date by adding and subtracting buckets then equals the same sum made afresh,
        where the last binary digits would differ."""
        self.answered_wait_sum_s = round(self.answered_wait_sum_s, 6)
        self.abandoned_wait_sum_s = round(self.abandoned_wait_sum_s, 6)
        self.talk_sum_s = round(self.talk_sum_s, 6)
        self.hold_sum_s = round(self.hold_sum_s, 6)
        self.acw_sum_s = round(self.acw_sum_s, 6)
        self.staffed_s = round(self.staffed_s, 6)
        self.available_s = round(self.available_s, 6)
        self.on_contact_s = round(self.on_contact_s, 6)
        self.agent_acw_s = round(self.agent_acw_s, 6)
        self.aux_s = round(self.aux_s, 6)
        self.sentiment_score_sum = round(self.sentiment_score_sum, 6)
        self.resolution_sum_s = round(self.resolution_sum_s, 6)
        self.first_response_sum_s = round(self.first_response_sum_s, 6)
        self.revenue = round(self.revenue, 6)
        if self.aux_reason_s:
            self.aux_reason_s = {reason: round(seconds, 6) for reason, seconds in self.aux_reason_s.items()}

    def score_counts(self, scale: SurveyScale) -> list[int]:
        """Answers per score of the scale, zeros when it has none (do not modify: may be a new list)."""
        return self.scores.get(scale.name) or [0] * scale.size

    def add_score(self, scale: SurveyScale, answer: int) -> None:
        counts = self.scores.get(scale.name)
        if counts is None:
            counts = self.scores[scale.name] = [0] * scale.size
        counts[answer - scale.lowest] += 1

    def add_sentiment(self, score: float, label: str) -> None:
        """One scored message. The label is the scorer's (kept with the score on the topic), so the
        counts never depend on this code's idea of the thresholds."""
        self.messages_scored += 1
        self.sentiment_score_sum += score
        if label == "positive":
            self.sentiment_positive += 1
        elif label == "negative":
            self.sentiment_negative += 1
        else:
            self.sentiment_neutral += 1

    def add_wait(self, wait_s: float) -> None:
        """A known wait of an answered or (not short) abandoned contact, for max and p90."""
        if wait_s > self.max_wait_s:
            self.max_wait_s = wait_s
        upper = wait_bin(wait_s)
        self.wait_bins[upper] = self.wait_bins.get(upper, 0) + 1

    def add_resolution(self, seconds: float) -> None:
        """A resolved ticket's time from creation, for the mean and (binned like waits) the p90."""
        self.resolution_sum_s += seconds
        self.resolutions_timed += 1
        upper = wait_bin(seconds)
        self.resolution_bins[upper] = self.resolution_bins.get(upper, 0) + 1

    def to_json(self) -> dict[str, Any]:
        """Non-zero fields only. Written out like ``add``: the worker encodes every changed bucket at
        every write (``test_json_round_trip_covers_every_field`` keeps it complete)."""
        data: dict[str, Any] = {}
        if self.offered:
            data["offered"] = self.offered
        if self.answered:
            data["answered"] = self.answered
        if self.abandoned:
            data["abandoned"] = self.abandoned
        if self.short_abandoned:
            data["short_abandoned"] = self.short_abandoned
        if self.handled:
            data["handled"] = self.handled
        if self.surveys:
            data["surveys"] = self.surveys
        if self.answered_wait_sum_s:
            data["answered_wait_sum_s"] = self.answered_wait_sum_s
        if self.answered_with_wait:
            data["answered_with_wait"] = self.answered_with_wait
        if self.abandoned_wait_sum_s:
            data["abandoned_wait_sum_s"] = self.abandoned_wait_sum_s
        if self.abandoned_with_wait:
            data["abandoned_with_wait"] = self.abandoned_with_wait
        if self.max_wait_s:
            data["max_wait_s"] = self.max_wait_s
        if self.answered_within_sl:
            data["answered_within_sl"] = self.answered_within_sl
        if self.abandoned_within_sl:
            data["abandoned_within_sl"] = self.abandoned_within_sl
        if self.talk_sum_s:
            data["talk_sum_s"] = self.talk_sum_s
        if self.hold_sum_s:
            data["hold_sum_s"] = self.hold_sum_s
        if self.acw_sum_s:
            data["acw_sum_s"] = self.acw_sum_s
        if self.resolved_true:
            data["resolved_true"] = self.resolved_true
        if self.resolved_answers:
            data["resolved_answers"] = self.resolved_answers
        if self.known_customer_offered:
            data["known_customer_offered"] = self.known_customer_offered
        if self.repeat_offered:
            data["repeat_offered"] = self.repeat_offered
        if self.missed:
            data["missed"] = self.missed
        if self.transferred:
            data["transferred"] = self.transferred
        if self.missed_by_agent:
            data["missed_by_agent"] = self.missed_by_agent
        if self.staffed_s:
            data["staffed_s"] = self.staffed_s
        if self.available_s:
            data["available_s"] = self.available_s
        if self.on_contact_s:
            data["on_contact_s"] = self.on_contact_s
        if self.agent_acw_s:
            data["agent_acw_s"] = self.agent_acw_s
        if self.aux_s:
            data["aux_s"] = self.aux_s
        if self.aux_reason_s:
            data["aux_reason_s"] = self.aux_reason_s
        if self.messages_scored:
            data["messages_scored"] = self.messages_scored
        if self.sentiment_positive:
            data["sentiment_positive"] = self.sentiment_positive
        if self.sentiment_neutral:
            data["sentiment_neutral"] = self.sentiment_neutral
        if self.sentiment_negative:
            data["sentiment_negative"] = self.sentiment_negative
        if self.sentiment_score_sum:
            data["sentiment_score_sum"] = self.sentiment_score_sum
        for name in _TICKETS_AND_CUSTOMERS:
            value = getattr(self, name)
            if value:
                data[name] = value
        if self.ticket_categories:
            data["ticket_categories"] = self.ticket_categories
        if self.resolution_bins:
            data["resolution_bins"] = {str(upper): count for upper, count in self.resolution_bins.items()}
        if self.wait_bins:
            data["wait_bins"] = {str(upper): count for upper, count in self.wait_bins.items()}
        for name, counts in self.scores.items():
            if any(counts):
                data[f"{name}_counts"] = counts
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BucketStats:
        """Unknown keys are ignored and missing ones default, so old and new snapshots both load."""
        stats = cls(**{k: v for k, v in data.items() if k in _SCALARS})
        stats.wait_bins = {int(upper): count for upper, count in data.get("wait_bins", {}).items()}
        stats.missed_by_agent = dict(data.get("missed_by_agent", {}))
        stats.aux_reason_s = dict(data.get("aux_reason_s", {}))
        stats.resolution_bins = {int(upper): count for upper, count in data.get("resolution_bins", {}).items()}
        stats.ticket_categories = dict(data.get("ticket_categories", {}))
        for scale in SURVEY_SCALES:
            if scale.counts_key in data:
                stats.scores[scale.name] = list(data[scale.counts_key])
        return stats

    @classmethod
    def merged(cls, parts: Iterable[BucketStats]) -> BucketStats:
        total = cls()
        for part in parts:
            total.add(part)
        return total


def _add_counts(mine: dict[Any, Any], theirs: dict[Any, Any], sign: int = 1) -> None:
    for key, count in theirs.items():
        mine[key] = mine.get(key, 0) + sign * count


_DICTS = ("wait_bins", "scores", "missed_by_agent", "aux_reason_s", "resolution_bins", "ticket_categories")
_SCALARS = frozenset(f.name for f in fields(BucketStats) if f.name not in _DICTS)
# The scalars the ticket and customer folds add, written out by name in ``to_json`` (a loop: they
# are rarer than the contact counters written out one by one above them).
_TICKETS_AND_CUSTOMERS = tuple(
    f.name for f in fields(BucketStats)
    if f.name.startswith(("tickets_", "customers_")) or f.name in (
        "complaints", "resolution_sum_s", "resolutions_timed", "first_response_sum_s", "first_responses", "purchases", "revenue",
    )
)  # fmt: skip
