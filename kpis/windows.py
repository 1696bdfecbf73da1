"""Windows as spans of whole buckets.

State is kept in one-minute buckets (for the rolling windows) and 15-minute buckets (for today, the
current interval and history), both aligned to the UTC epoch. Every real time zone's offset is a
multiple of 15 minutes, so local days and local 15/30/60-minute intervals are unions of whole
15-minute buckets, daylight-saving days (23 or 25 hours) included.

A rolling window of N minutes "ending now" is the N one-minute buckets ending with the current,
still filling, minute: it spans between N-1 and N minutes of wall-clock time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from zoneinfo import ZoneInfo

from kpis.state import INTERVAL, MINUTE
from kpis.rules import QueueRules


class Window(str, Enum):
    """The windows of GET /v1/kpis; the value is the name used in the API and in metric labels."""

    M15 = "15m"
    M30 = "30m"
    M60 = "60m"
    TODAY = "today"
    INTERVAL = "interval"


class HistoryInterval(str, Enum):
    M15 = "15m"
    M30 = "30m"
    M60 = "60m"
    DAY = "1d"

    @property
    def seconds(self) -> int | None:
        return None if self is HistoryInterval.DAY else int(self.value[:-1]) * 60


ROLLING = (Window.M15, Window.M30, Window.M60)


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open interval [start, end) of epoch seconds made of buckets of ``size`` seconds."""

    start: int
    end: int
    size: int

    def starts(self) -> range:
        return range(self.start, self.end, self.size)


def local_day_start(day: date, rules: QueueRules) -> int:
    """Epoch seconds of the queue's business-day start on a local date (its zone, DST included)."""
    zone = ZoneInfo(rules.timezone)
    hours, minutes = divmod(rules.day_start_seconds // 60, 60)
    return int(datetime.combine(day, time(hours, minutes), tzinfo=zone).timestamp())


def business_date(epoch_s: float, rules: QueueRules) -> date:
    """The local business date an instant belongs to (before day_start it is still yesterday)."""
    local = datetime.fromtimestamp(epoch_s, tz=ZoneInfo(rules.timezone))
    shifted = local - timedelta(seconds=rules.day_start_seconds)
    return shifted.date()


def span(window: Window, now: float, rules: QueueRules) -> Span:
    if window in ROLLING:
        end = int(now // MINUTE) * MINUTE + MINUTE
        return Span(end - int(window.value[:-1]) * 60, end, MINUTE)
    current = int(now // INTERVAL) * INTERVAL
    if window is Window.INTERVAL:
        return Span(current, current + INTERVAL, INTERVAL)
    start = local_day_start(business_date(now, rules), rules)
    return Span(start, current + INTERVAL, INTERVAL)


@dataclass(frozen=True, slots=True)
class Period:
    """One row of history: a local business date and a span inside it."""

    day: date
    span: Span


def history_periods(first: date, last: date, interval: HistoryInterval, rules: QueueRules) -> list[Period]:
    periods: list[Period] = []
    day = first
    while day <= last:
        start = local_day_start(day, rules)
        end = local_day_start(day + timedelta(days=1), rules)
        step = interval.seconds or end - start
        periods.extend(Period(day, Span(s, min(s + step, end), INTERVAL)) for s in range(start, end, step))
        day += timedelta(days=1)
    return periods


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).isoformat().replace("+00:00", "Z")
