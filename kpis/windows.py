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

from kpis.rules import QueueRules
from kpis.state import INTERVAL, MINUTE


class Window(str, Enum):
    """The windows of GET /v1/kpis; the value is the name used in the API and in metric labels."""

    M15 = "15m"
    M30 = "30m"
    M60 = "60m"
    TODAY = "today"
    INTERVAL = "interval"


class HistoryInterval(str, Enum):
    """Intervals inside local business days, or whole business days, weeks and calendar months."""

    M15 = "15m"
    M30 = "30m"
    M60 = "60m"
    DAY = "1d"
    WEEK = "1w"
    MONTH = "1mo"

    @property
    def seconds(self) -> int | None:
        """None for the calendar periods, whose length in seconds varies (DST, month lengths)."""
        return _INTRADAY_SECONDS.get(self)


_INTRADAY_SECONDS = {HistoryInterval.M15: 900, HistoryInterval.M30: 1800, HistoryInterval.M60: 3600}


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
    """One row of history: its local business date (a week's or month's first) and its span."""

    day: date
    span: Span


# The dates history can be asked for: the periods around them, up to a month either side, stay
# within what ``date`` and epoch-second conversions can represent.
FIRST_HISTORY_DATE = date(1970, 1, 1)
LAST_HISTORY_DATE = date(9998, 12, 31)


def _first_day(day: date, interval: HistoryInterval, rules: QueueRules) -> date:
    """Weeks start on the queue's own ``week_start``: conventions differ between centers."""
    if interval is HistoryInterval.WEEK:
        return day - timedelta(days=(day.weekday() - rules.week_start.number) % 7)
    if interval is HistoryInterval.MONTH:
        return day.replace(day=1)
    return day


def _next_first_day(day: date, interval: HistoryInterval) -> date:
    """Day 28 exists in every month, and four days later is always in the next one."""
    if interval is HistoryInterval.WEEK:
        return day + timedelta(days=7)
    if interval is HistoryInterval.MONTH:
        return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day + timedelta(days=1)


def history_periods(first: date, last: date, interval: HistoryInterval, rules: QueueRules) -> list[Period]:
    """Every period that overlaps the dates [first, last], whole: a week or month is reported as one
    number even when the range starts or ends inside it. Calendar periods run from the local day
    start of their first date to that of the date after their last, so they are whole business
    days whatever daylight saving does in between."""
    periods: list[Period] = []
    day = _first_day(first, interval, rules)
    while day <= last:
        following = _next_first_day(day, interval)
        start, end = local_day_start(day, rules), local_day_start(following, rules)
        step = interval.seconds or end - start
        periods.extend(Period(day, Span(s, min(s + step, end), INTERVAL)) for s in range(start, end, step))
        day = following
    return periods


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).isoformat().replace("+00:00", "Z")
