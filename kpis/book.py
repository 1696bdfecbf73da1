"""The read side: bucket counters from every partition, merged into KPI rows per window and grouping.

``*`` in a row's queue or channel means "all of them". Rows exist for every (queue, channel) seen and
for every configured queue, even when the window is empty (zero counts, null ratios): an idle queue
is not a missing one. Each queue's row uses that queue's own rules (time zone and day start for
"today", service-level formula); roll-ups add the queues' own counts and service-level terms.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import date, timedelta
from typing import Any, Callable, Iterable, NamedTuple

from kpis import formulas
from kpis.accounts import Anchor
from kpis.agents import DAY_FIELDS, LOGGED_OUT, STATE_FIELDS
from kpis.buckets import BucketStats
from kpis.catalog import Counters, compute
from kpis.customers import CustomerLedger
from kpis.rules import AccountRules, QueueRules
from kpis.state import INTERVAL, MINUTE, BucketKey
from kpis.windows import HistoryInterval, Span, Window, business_date, history_periods, iso, local_day_start, span


def _with_open_time(stats: BucketStats, segments: list[_Open], window_span: Span, now: float) -> BucketStats:
    """The window's counters plus the part of agents' open segments inside it (the worker books
    segments once they end; the read side adds the open ones at its own clock)."""
    added = BucketStats()
    end = min(now, window_span.end)
    for segment in segments:
        seconds = (end - max(segment.start, window_span.start)) * segment.share
        if seconds <= 0:
            continue
        added.staffed_s += seconds
        state_field = STATE_FIELDS[segment.state]
        setattr(added, state_field, getattr(added, state_field) + seconds)
        if segment.reason is not None:
            added.aux_reason_s[segment.reason] = added.aux_reason_s.get(segment.reason, 0.0) + seconds
    if not added.staffed_s:
        return stats
    added.add(stats)
    added.round_durations()
    return added

def _categories(stats: BucketStats) -> dict[str, int]:
    """Tickets created per category in a row's span (the category is a counter, not a row key)."""
    return {name: count for name, count in sorted(stats.ticket_categories.items()) if count}


ALL = "*"
Pair = tuple[str, str]
# Window sums remembered per (size, pair): the served windows' spans of this minute and the last.
SPANS_KEPT = 8


def _groups(queue: str, channel: str) -> tuple[Pair, ...]:
    return ((queue, channel), (queue, ALL), (ALL, channel), (ALL, ALL))


def _change(before: BucketStats | None, after: BucketStats | None) -> BucketStats:
    """What replacing ``before`` by ``after`` adds to a sum holding it (its maximum is ``after``'s):
    worked out once per replaced bucket, then added to every sum that holds the bucket."""
    change = BucketStats.merged(() if after is None else (after,))
    if before is not None:
        change.subtract(before)
    return change


class _Open(NamedTuple):
    """An agent's open segment: its state from ``start`` until now, a share of it per served queue."""

    start: float
    state: str
    reason: str | None
    share: float


# The live agent counts of a row, by the state they count.
AGENT_COUNTS = {
    "agents_available": "available", "agents_on_contact": "on_contact", "agents_acw": "after_contact_work", "agents_aux": "aux",
}  # fmt: skip


class _Group(NamedTuple):
    """A row's merged counters and the terms summed per queue beforehand (kpis/catalog.py ``Counters``)."""

    stats: BucketStats
    numerator: int
    denominator: int
    start: int
    end: int
    cost: float | None


class KpiBook:
    def __init__(
        self, rules: Callable[[str], QueueRules], configured_queues: Iterable[str] = (), accounts: AccountRules | None = None
    ) -> None:
        self._rules = functools.cache(rules)  # Settings.rules goes through pydantic attribute lookup
        self._configured = tuple(configured_queues)
        self._lifespan_years = None if accounts is None else accounts.lifespan_years
        self._customers = CustomerLedger()
        self._backlog: dict[int, dict[Pair, int]] = {}
        self._parts: dict[BucketKey, dict[int, BucketStats]] = {}
        self._merged: dict[int, dict[Pair, dict[int, BucketStats]]] = {MINUTE: defaultdict(dict), INTERVAL: defaultdict(dict)}
        self._waiting: dict[int, dict[Pair, tuple[int, float]]] = {}
        self.progress: dict[int, dict[str, int]] = {}
        self._running: dict[Pair, BucketStats] = {}
        self._sums: dict[tuple[int, Pair], dict[Span, BucketStats]] = {}
        self._days: dict[Pair, dict[tuple[int, int], BucketStats]] = {}
        self._agents: dict[int, list[dict[str, Any]]] = {}
        # Open segments and agents present, derived from the live records: made once per change of
        # them, not once per window of every refresh.
        self._agent_views: tuple[dict[Pair, list[_Open]], dict[Pair, dict[str, set[str]]]] | None = None

    # -- updates ------------------------------------------------------------------------------

    def put(self, partition: int, key: BucketKey, stats: BucketStats | None) -> None:
        """A partition's share of a bucket (None: the share is gone); the merged value is redone."""
        parts = self._parts.setdefault(key, {})
        if stats is None:
            parts.pop(partition, None)
        else:
            parts[partition] = stats
        pair = (key.queue, key.channel)
        by_start = self._merged[key.size][pair]
        before = by_start.get(key.start)
        after = None
        if parts:
            after = by_start[key.start] = parts[next(iter(parts))] if len(parts) == 1 else BucketStats.merged(parts.values())
        else:
            del self._parts[key]
            by_start.pop(key.start, None)
        change = _change(before, after)
        self._update_sums(key, pair, before, after, change)
        if key.size == INTERVAL:
            days = self._days.get(pair)
            if days:
                for day in [d for d in days if d[0] <= key.start < d[1]]:
                    del days[day]
            self._running.setdefault(pair, BucketStats()).add(change)

    def _update_sums(
        self, key: BucketKey, pair: Pair, before: BucketStats | None, after: BucketStats | None, change: BucketStats
    ) -> None:
        """Bring the remembered window sums that contain the bucket up to date: one bucket out, one
        in, instead of summing the whole window again at the next refresh. A maximum cannot be
        taken out, so a sum whose maximum may have gone down is dropped and summed again."""
        spans = self._sums.get((key.size, pair))
        if not spans:
            return
        lowered = before is not None and before.max_wait_s > (0.0 if after is None else after.max_wait_s)
        for window_span in [s for s in spans if s.start <= key.start < s.end]:
            if lowered:
                del spans[window_span]
                continue
            total = spans[window_span]
            total.add(change)
            total.round_durations()

    def put_waiting(self, partition: int, waiting: dict[Pair, tuple[int, float]]) -> None:
        self._waiting[partition] = waiting

    def put_agents(self, partition: int, records: list[dict[str, Any]]) -> None:
        """A partition's live agent records (kpis/agents.py), replacing the previous ones."""
        self._agents[partition] = records
        self._agent_views = None

    def put_backlog(self, partition: int, backlog: dict[Pair, int]) -> None:
        """A partition's open tickets per (queue, channel) (kpis/tickets.py), replacing the previous ones."""
        self._backlog[partition] = backlog

    def put_customers(self, partition: int, key: BucketKey, stats: BucketStats | None) -> None:
        """A partition's company-wide customer bucket (kpis/accounts.py; None: gone); the key's pair is ignored."""
        self._customers.put(partition, key.size, key.start, stats)

    def put_customer_anchor(self, partition: int, anchor: Anchor) -> None:
        self._customers.put_anchor(partition, anchor)

    def prune(self, size: int, before: float) -> int:
        """Forget buckets of one size that start before ``before``; returns how many."""
        old = [key for key in self._parts if key.size == size and key.start < before]
        for key in old:
            del self._parts[key]
            self._merged[size][(key.queue, key.channel)].pop(key.start, None)
        self._customers.prune(size, before)
        for (sums_size, _), spans in self._sums.items():
            if sums_size == size:
                for window_span in [s for s in spans if s.start < before]:
                    del spans[window_span]
        if size == INTERVAL:
            for days in self._days.values():
                for day in [d for d in days if d[0] < before]:
                    del days[day]
        return len(old)

    # -- reading ------------------------------------------------------------------------------

    def running_totals(self) -> dict[Pair, BucketStats]:
        """Per (queue, channel): every 15-minute bucket put so far, net of replaced values and not
        reduced by pruning, so the additive counters only grow with counted contacts (the source of
        the Prometheus counters; ``max_wait_s`` is meaningless here)."""
        return self._running

    def pairs(self) -> set[Pair]:
        seen = {pair for merged in self._merged.values() for pair, starts in merged.items() if starts}
        seen |= {pair for waiting in self._waiting.values() for pair in waiting}
        seen |= {(queue, record["channel"]) for record in self._agent_records() for queue in record["queues"]}
        seen |= {pair for backlog in self._backlog.values() for pair, count in backlog.items() if count}
        channels = {channel for _, channel in seen} or {"voice"}
        seen |= {(queue, channel) for queue in self._configured for channel in channels}
        return seen

    def queues(self) -> set[str]:
        return {queue for queue, _ in self.pairs()}

    def business_date(self, queue: str, now: float) -> date:
        """The queue's local business date at ``now``; over all queues (``*``) by the default rules."""
        return business_date(now, self._rules(queue))

    def _sum(self, pair: Pair, window_span: Span) -> BucketStats:
        """The pair's buckets over the span, kept up to date as buckets change (``_update_sums``):
        most buckets of a window are settled, and summing them at every refresh of the served rows
        was most of the API's time. Callers must not modify the result."""
        spans = self._sums.get((window_span.size, pair))
        if spans is None:
            spans = self._sums[window_span.size, pair] = {}
        known = spans.get(window_span)
        if known is not None:
            return known
        total = self._added(pair, window_span)
        if len(spans) >= SPANS_KEPT:
            del spans[next(iter(spans))]
        spans[window_span] = total
        return total

    def _added(self, pair: Pair, window_span: Span) -> BucketStats:
        by_start = self._merged[window_span.size].get(pair, {})
        total = BucketStats()
        for start in window_span.starts():
            part = by_start.get(start)
            if part is not None:
                total.add(part)
        total.round_durations()
        return total

    def _day_sum(self, pair: Pair, day_span: Span) -> BucketStats:
        """The pair's buckets over one local day, remembered until one of them changes (``put``):
        past days rarely do, and a target's period to date reads up to ``history_days`` of them.
        Kept apart from the window sums so as not to push those out. Callers must not modify the
        result."""
        days = self._days.setdefault(pair, {})
        known = days.get((day_span.start, day_span.end))
        if known is None:
            known = days[day_span.start, day_span.end] = self._added(pair, day_span)
        return known

    def _service_level_terms(self, queue: str, stats: BucketStats) -> tuple[int, int]:
        return formulas.service_level_terms(
            self._rules(queue).service_level_formula,
            stats.answered, stats.abandoned, stats.answered_within_sl, stats.abandoned_within_sl,
        )

    def _waiting_now(self) -> dict[Pair, tuple[int, float]]:
        totals: dict[Pair, tuple[int, float]] = {}
        for waiting in self._waiting.values():
            for (queue, channel), (count, oldest) in waiting.items():
                if count <= 0:
                    continue
                for group in _groups(queue, channel):
                    seen, first = totals.get(group, (0, oldest))
                    totals[group] = (seen + count, min(first, oldest))
        return totals

    def _rows(
        self,
        spans: Callable[[str], Span],
        pairs: Iterable[Pair],
        queue: str | None,
        channel: str | None,
        now: float | None = None,
    ) -> dict[Pair, _Group]:
        """Per group: merged stats, the terms summed per queue, span start and end. With ``now``,
        agents' open segments count up to it."""
        open_segments = self._derived_from_agents()[0] if now is not None else {}
        summed: dict[Pair, tuple[BucketStats, Span]] = {}
        for pair in pairs:
            window_span = spans(pair[0])
            stats = self._sum(pair, window_span)
            if now is not None and pair in open_segments:
                stats = _with_open_time(stats, open_segments[pair], window_span, now)
            summed[pair] = (stats, window_span)
        costs = self._costs(summed)
        members = {p: v for p, v in summed.items() if queue in (None, ALL, p[0]) and channel in (None, ALL, p[1])}
        totals: dict[Pair, list[Any]] = {}
        for pair, (stats, window_span) in members.items():
            numerator, denominator = self._service_level_terms(pair[0], stats)
            cost = costs[pair]
            for group in _groups(*pair):
                entry = totals.setdefault(group, [BucketStats(), 0, 0, window_span.start, window_span.end, 0.0])
                entry[0].add(stats)
                entry[1] += numerator
                entry[2] += denominator
                entry[3] = min(entry[3], window_span.start)
                entry[4] = max(entry[4], window_span.end)
                entry[5] = None if entry[5] is None or cost is None else entry[5] + cost
        if self._customers.seen and (ALL, ALL) not in totals:
            company = spans(ALL)  # account events with no queue activity: the company row still shows them
            totals[ALL, ALL] = [BucketStats(), 0, 0, company.start, company.end, 0.0]
        return {
            group: _Group(*values)
            for group, values in totals.items()
            if (queue is None or group[0] == queue) and (channel is None or group[1] == channel)
        }

    def _costs(self, summed: dict[Pair, tuple[BucketStats, Span]]) -> dict[Pair, float | None]:
        """Each pair's cost over its span; a queue's fixed cost is shared by the queue's pairs in
        ``summed`` (every pair of it: callers pass whole queues)."""
        handled: dict[str, int] = defaultdict(int)
        channels: dict[str, int] = defaultdict(int)
        for (queue, _), (stats, _) in summed.items():
            handled[queue] += stats.handled
            channels[queue] += 1
        return {
            pair: self._cost(pair[0], stats, window_span, stats.handled / handled[pair[0]] if handled[pair[0]] else 1 / channels[pair[0]])
            for pair, (stats, window_span) in summed.items()
        }

    def _cost(self, queue: str, stats: BucketStats, window_span: Span, share: float) -> float | None:
        """A pair's cost: its staffed time at the queue's hourly cost, and its share (by handled
        contacts, equal among the queue's channels when none) of the queue's fixed cost prorated by the
        span's length. None when the pair has work but its queue no hourly cost; 0 when it has none."""
        rules = self._rules(queue)
        if not stats.handled and not stats.staffed_s:
            return 0.0
        if not rules.hourly_cost:
            return None
        days = (window_span.end - window_span.start) / 86400
        return stats.staffed_s * rules.hourly_cost / 3600 + rules.fixed_cost_per_day * days * share

    def _counters(self, group: Pair, row: _Group, company_span: Span) -> Counters:
        """The formulas' input for one row: company-wide customer counters join the all-queues row."""
        stats = row.stats
        company = group == (ALL, ALL)
        if company and self._customers.seen:
            stats = BucketStats.merged((row.stats, self._customers.counters(company_span)))
        years = (row.end - row.start) / formulas.YEAR_S
        return Counters(stats, row.numerator, row.denominator, row.cost, years, company, self._lifespan_years)

    def totals(self, window_span: Span) -> dict[Pair, dict[str, Any]]:
        """KPIs of every group over one span of buckets (benchmarks and tests compare these)."""
        grouped = self._rows(lambda _: window_span, self.pairs(), None, None)
        return {group: compute(self._counters(group, row, window_span)) for group, row in grouped.items()}

    def rows(self, window: Window, now: float, queue: str | None = None, channel: str | None = None) -> list[dict[str, Any]]:
        waiting = self._waiting_now()
        agents = self._derived_from_agents()[1]
        rows = []
        backlog = self._backlog_now()
        company_span = span(window, now, self._rules(ALL))
        grouped = self._rows(lambda q: span(window, now, self._rules(q)), self.pairs(), queue, channel, now)
        for (row_queue, row_channel), row in sorted(grouped.items()):
            count, oldest = waiting.get((row_queue, row_channel), (0, now))
            present = agents.get((row_queue, row_channel), {})
            available = len(present.get("available", ()))
            rows.append(
                {
                    "queue": row_queue,
                    "channel": row_channel,
                    "window": window.value,
                    "start": iso(row.start),
                    "end": iso(row.end),
                    **compute(self._counters((row_queue, row_channel), row, company_span)),
                    "waiting_now": count,
                    "longest_waiting_s": round(max(0.0, now - oldest), 3) if count else None,
                    "agents_staffed": len(present.get("staffed", ())),
                    **{name: len(present.get(state, ())) for name, state in AGENT_COUNTS.items()},
                    "waiting_per_available": round(count / available, 3) if available else None,
                    "tickets_backlog": backlog.get((row_queue, row_channel), 0),
                    "tickets_by_category": _categories(row.stats),
                    "agents_aux_by_reason": {
                        reason[4:]: len(ids) for reason, ids in sorted(present.items()) if reason.startswith("aux:")
                    },
                }
            )
        return rows

    # -- agents -------------------------------------------------------------------------------

    def _backlog_now(self) -> dict[Pair, int]:
        totals: dict[Pair, int] = {}
        for backlog in self._backlog.values():
            for (queue, channel), count in backlog.items():
                for group in _groups(queue, channel):
                    totals[group] = totals.get(group, 0) + count
        return totals

    def _agent_records(self) -> Iterable[dict[str, Any]]:
        for records in self._agents.values():
            yield from records

    def _derived_from_agents(self) -> tuple[dict[Pair, list[_Open]], dict[Pair, dict[str, set[str]]]]:
        if self._agent_views is None:
            self._agent_views = (self._open_segments(), self._agents_now())
        return self._agent_views

    def _open_segments(self) -> dict[Pair, list[_Open]]:
        segments: dict[Pair, list[_Open]] = {}
        for record in self._agent_records():
            if record["state"] == LOGGED_OUT:
                continue
            queues = record["queues"]
            segment = _Open(record["open_from"], record["state"], record["reason"], 1 / len(queues))
            for queue in queues:
                segments.setdefault((queue, record["channel"]), []).append(segment)
        return segments

    def _agents_now(self) -> dict[Pair, dict[str, set[str]]]:
        """Per row group: the agents in each state now, and ``staffed`` and ``aux:<reason>``; an agent
        is counted in every queue it serves, and once in a roll-up."""
        present: dict[Pair, dict[str, set[str]]] = {}
        for record in self._agent_records():
            state = record["state"]
            if state == LOGGED_OUT:
                continue
            keys = ("staffed", state) if state != "aux" else ("staffed", state, f"aux:{record['reason']}")
            for queue in record["queues"]:
                for group in _groups(queue, record["channel"]):
                    by_state = present.setdefault(group, {})
                    for key in keys:
                        by_state.setdefault(key, set()).add(record["agent_id"])
        return present

    def agents(self, now: float, queue: str | None = None, channel: str | None = None) -> list[dict[str, Any]]:
        """The agents board: each agent serving the queue (all agents without one) who is logged in,
        or logged out since the start of today, with today's values up to ``now``."""
        rules = self._rules(ALL)
        today = business_date(now, rules)
        day_start = local_day_start(today, rules)
        missed = self._missed_by_agent(Span(day_start, local_day_start(today + timedelta(days=1), rules), INTERVAL))
        listed = []
        for record in sorted(self._agent_records(), key=lambda r: str(r["agent_id"])):
            if queue not in (None, ALL) and queue not in record["queues"]:
                continue
            if channel not in (None, ALL) and channel != record["channel"]:
                continue
            state = record["state"]
            if state == LOGGED_OUT and record["since"] < day_start:
                continue
            totals = {name: 0.0 for name in ("staffed_s", *DAY_FIELDS.values())}
            totals.update(record["days"].get(today.isoformat(), {}))
            handled = int(totals.pop("handled", 0))
            if state != LOGGED_OUT:
                seconds = max(0.0, now - max(record["open_from"], day_start))
                totals["staffed_s"] += seconds
                totals[DAY_FIELDS[state]] += seconds
            contact = None
            if state == "on_contact" and record["contact_since"] is not None:
                contact = {"contact_id": record["contact_id"], "queue": record["contact_queue"],
                           "duration_s": round(max(0.0, now - record["contact_since"]), 3)}  # fmt: skip
            listed.append(
                {
                    "agent_id": record["agent_id"], "name": record["name"], "state": state, "reason": record["reason"],
                    "since": iso(record["since"]), "time_in_state_s": round(max(0.0, now - record["since"]), 3),
                    "queues": record["queues"], "channel": record["channel"], "capacity": record["capacity"],
                    "contact": contact,
                    "today": {
                        "date": today.isoformat(), "handled": handled,
                        "aht_s": round((totals["on_contact_s"] + totals["after_contact_work_s"]) / handled, 3) if handled else None,
                        "missed": missed.get(record["agent_id"], 0),
                        **{name: round(value, 3) for name, value in totals.items()},
                    },
                }
            )  # fmt: skip
        return listed

    def agent_summary(self, now: float, queue: str | None = None, channel: str | None = None) -> dict[str, Any]:
        """Counts by state over the agents ``agents`` lists (``logged_out``: since today's start)."""
        summary: dict[str, Any] = {"staffed": 0, **{state: 0 for state in STATE_FIELDS}, LOGGED_OUT: 0, "aux_by_reason": {}}
        for entry in self.agents(now, queue, channel):
            state = entry["state"]
            summary[state] += 1
            if state != LOGGED_OUT:
                summary["staffed"] += 1
            if state == "aux":
                reasons = summary["aux_by_reason"]
                reasons[entry["reason"]] = reasons.get(entry["reason"], 0) + 1
        return summary

    def _missed_by_agent(self, day_span: Span) -> dict[str, int]:
        missed: dict[str, int] = {}
        for by_start in self._merged[INTERVAL].values():
            for start in day_span.starts():
                stats = by_start.get(start)
                if stats is not None:
                    for agent_id, count in stats.missed_by_agent.items():
                        missed[agent_id] = missed.get(agent_id, 0) + count
        return missed

    def daily(self, first: date, last: date, queue: str, channel: str) -> list[tuple[date, Counters]]:
        """One group's counters per local business day from ``first`` to ``last`` (the queue's days;
        over all queues, the default rules'). Counters, not KPIs, so a run of days can be added up
        before its formulas are applied: a period's ratio is weighted by volume, never a mean of
        daily ratios."""
        rules = self._rules(queue)
        whole = [p for p in self.pairs() if queue in (ALL, p[0])]  # every channel: the fixed cost's shares
        company = (queue, channel) == (ALL, ALL)
        days = []
        day = first
        while day <= last:
            following = day + timedelta(days=1)
            day_span = Span(local_day_start(day, rules), local_day_start(following, rules), INTERVAL)
            summed = {pair: (self._day_sum(pair, day_span), day_span) for pair in whole}
            costs = self._costs(summed)
            stats, numerator, denominator = BucketStats(), 0, 0
            cost: float | None = 0.0
            for pair, (part, _) in summed.items():
                if channel not in (ALL, pair[1]):
                    continue
                stats.add(part)
                terms = self._service_level_terms(pair[0], part)
                numerator += terms[0]
                denominator += terms[1]
                pair_cost = costs[pair]
                cost = None if cost is None or pair_cost is None else cost + pair_cost
            if company and self._customers.seen:
                stats.add(self._customers.counters(day_span))
            years = (day_span.end - day_span.start) / formulas.YEAR_S
            days.append((day, Counters(stats, numerator, denominator, cost, years, company, self._lifespan_years)))
            day = following
        return days

    def history(
        self, first: date, last: date, interval: HistoryInterval, queue: str | None = None, channel: str | None = None
    ) -> list[dict[str, Any]]:
        """Rows per local period, ordered by queue, channel and time. Each queue uses its own local
        days; roll-ups over queues (queue ``*``) use the default time zone and day start."""
        pairs = self.pairs()
        queues = [*sorted({q for q, _ in pairs}), ALL] if queue is None else [queue]
        rows = []
        for row_queue in queues:
            members = pairs if row_queue == ALL else {p for p in pairs if p[0] == row_queue}
            for period in history_periods(first, last, interval, self._rules(row_queue)):
                grouped = self._rows(lambda _: period.span, members, None, channel)
                for group, row in grouped.items():
                    if group[0] != row_queue:
                        continue
                    rows.append(
                        {
                            "queue": group[0],
                            "channel": group[1],
                            "window": interval.value,
                            "date": period.day.isoformat(),
                            "start": iso(row.start),
                            "end": iso(row.end),
                            **compute(self._counters(group, row, period.span)),
                            "tickets_by_category": _categories(row.stats),
                        }
                    )
        rows.sort(key=lambda row: (row["queue"], row["channel"], row["start"]))
        return rows
