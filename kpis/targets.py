"""Targets: where a KPI is going, by when (a SMART goal), as opposed to the alert thresholds, which
say when to act now. A target moves a KPI from a ``baseline`` on its ``start`` date to ``target``
on its ``due`` date; on the way, the straight line between them is the value expected on each day,
and a KPI at least as good as that is on track.

Like thresholds, a target applies to every queue and channel unless it names a queue, a channel or
both, and the most specific one that matches a row wins (queue and channel, then queue, then
channel, then none). Days are the queue's local business days, so a target due on the 31st is met
or missed on that queue's own calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from kpis.book import ALL
from kpis.buckets import BucketStats
from kpis.catalog import JUDGED, KPIS_BY_NAME, Counters, compute
from kpis.problems import parse_document
from kpis.scales import Better
from kpis.windows import Window

# Expected values and gaps are rounded to this many decimals: the straight line's arithmetic leaves
# binary noise (three quarters of the way from 0.65 to 0.80 comes out as 0.7625000000000001), which
# would otherwise judge an actual of exactly 0.7625 behind.
DECIMALS = 9


class Target(BaseModel):
    """One entry of the targets file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kpi: str
    queue: str | None = Field(default=None, min_length=1, max_length=200)
    channel: str | None = Field(default=None, min_length=1, max_length=50)
    target: float
    baseline: float
    start: date
    due: date
    benchmark: float | None = Field(default=None, description="an industry reference, shown, never judged")
    window: Window = Field(default=Window.TODAY, description="the /v1/kpis window live rows are judged on")
    name: str | None = None
    note: str | None = None

    @field_validator("kpi")
    @classmethod
    def _judged(cls, value: str) -> str:
        judged = ", ".join(kpi.name for kpi in JUDGED)
        if value not in KPIS_BY_NAME:
            raise ValueError(f"unknown KPI {value}; targets can be set on {judged}")
        if not KPIS_BY_NAME[value].judged:
            raise ValueError(f"{value} is a count, neither better high nor low: it takes no target; targets can be set on {judged}")
        return value

    @field_validator("queue", "channel")
    @classmethod
    def _named(cls, value: str | None) -> str | None:
        if value == ALL:
            raise ValueError(f"leave the key out to cover every one; {ALL} is not a name")
        return value

    @field_validator("target", "baseline", "benchmark")
    @classmethod
    def _in_unit(cls, value: float | None, info: ValidationInfo) -> float | None:
        """A ratio written as a percentage (80 for 80%) would be a target no KPI can ever reach."""
        kpi = KPIS_BY_NAME.get(info.data.get("kpi", ""))
        if value is None or kpi is None:
            return value
        if kpi.unit == "ratio" and not 0 <= value <= 1:
            raise ValueError(f"{kpi.name} is a ratio from 0 to 1 (80% is 0.8), not {value}")
        if kpi.unit in ("seconds", "count") and value < 0:
            raise ValueError(f"{kpi.name} is never negative, not {value}")
        return value

    @field_validator("due")
    @classmethod
    def _after_start(cls, value: date, info: ValidationInfo) -> date:
        start = info.data.get("start")
        if start is not None and value < start:
            raise ValueError(f"due {value} is before start {start}")
        return value

    @property
    def specificity(self) -> int:
        return (2 if self.queue is not None else 0) + (1 if self.channel is not None else 0)

    @property
    def better(self) -> Better:
        better = KPIS_BY_NAME[self.kpi].better
        assert better is not None, "only judged KPIs pass validation"
        return better

    def selects(self, queue: str, channel: str) -> bool:
        return (self.queue is None or self.queue == queue) and (self.channel is None or self.channel == channel)

    def describe(self) -> str:
        return f"kpi {self.kpi}, queue {self.queue or 'any'}, channel {self.channel or 'any'}"


class TargetsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    targets: list[Target] = Field(default_factory=list)


def elapsed(target: Target, day: date) -> float:
    """The share of the way from start to due that ``day`` is: 0 up to the start, 1 from the due
    date on (so a target starting and due on the same day is expected in full from that day)."""
    if day >= target.due:
        return 1.0
    if day <= target.start:
        return 0.0
    return (day - target.start).days / (target.due - target.start).days


def expected(target: Target, day: date) -> float:
    """The value on the straight line from baseline to target on a local business day."""
    return round(target.baseline + (target.target - target.baseline) * elapsed(target, day), DECIMALS)


def at_least_as_good(value: float, reference: float, better: Better) -> bool:
    return value >= reference if better == "higher" else value <= reference


@dataclass(frozen=True, slots=True)
class Judgement:
    """An actual value against a target on one day; all None but ``expected`` without an actual."""

    actual: float | None
    expected: float
    gap: float | None
    on_track: bool | None
    met: bool | None


def judge(target: Target, actual: float | None, day: date) -> Judgement:
    """``gap`` is actual minus target in the KPI's unit, signed whichever way is better: -0.02 on a
    service level of 78% against 80%, +30 on an AHT 30 s above its target."""
    now = expected(target, day)
    if actual is None:
        return Judgement(None, now, None, None, None)
    return Judgement(
        actual=actual,
        expected=now,
        gap=round(actual - target.target, DECIMALS),
        on_track=at_least_as_good(actual, now, target.better),
        met=at_least_as_good(actual, target.target, target.better),
    )


def over_days(kpi: str, days: Iterable[Counters]) -> float | None:
    """A KPI over a run of days: their counters added, then its formula. None for a live value,
    which has no history. Customers at the run's start are its first day's, and its length in years
    the days' sum."""
    stats, numerator, denominator, years = BucketStats(), 0, 0, 0.0
    cost: float | None = 0.0
    first = Counters(BucketStats(), 0, 0)
    for index, counters in enumerate(days):
        if index == 0:
            first = counters
        stats.add(counters.stats)
        numerator += counters.sl_numerator
        denominator += counters.sl_denominator
        cost = None if cost is None or counters.cost is None else cost + counters.cost
        years += counters.years
    stats.customers_at_start = first.stats.customers_at_start
    value = compute(Counters(stats, numerator, denominator, cost, years, first.company, first.lifespan_years)).get(kpi)
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class Trend:
    """``slope_per_day`` is the least-squares slope of the daily values (KPI unit per day);
    ``toward_target`` is whether it points the better way: toward the target, or further beyond it
    once passed. Both None with fewer than two days that have a value."""

    slope_per_day: float | None
    toward_target: bool | None


def trend(daily: Sequence[float | None], better: Better) -> Trend:
    """Days without a value keep their place, so a gap in the data does not compress time."""
    points = [(float(day), value) for day, value in enumerate(daily) if value is not None]
    if len(points) < 2:
        return Trend(None, None)
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    slope = round(slope, DECIMALS)
    return Trend(slope, slope > 0 if better == "higher" else slope < 0)


class Targets:
    """The targets of a file, and the ``target`` object they put on a row of /v1/kpis."""

    def __init__(self, document: TargetsFile) -> None:
        self.entries: tuple[Target, ...] = tuple(document.targets)
        first: dict[tuple[str, str | None, str | None], int] = {}
        for index, entry in enumerate(self.entries):
            selector = (entry.kpi, entry.queue, entry.channel)
            if selector in first:
                raise ValueError(f"targets.{index}: a second target for {entry.describe()} (the first is targets.{first[selector]})")
            first[selector] = index

    def for_row(self, queue: str, channel: str) -> list[Target]:
        """Per KPI the most specific target that applies to the row, in the file's order; a roll-up
        row (``*``) is matched like any name, so only targets for every queue or channel apply."""
        best: dict[str, Target] = {}
        for entry in self.entries:
            known = best.get(entry.kpi)
            if entry.selects(queue, channel) and (known is None or entry.specificity > known.specificity):
                best[entry.kpi] = entry
        return sorted(best.values(), key=self.entries.index)

    def marks(
        self, rows_by_window: Callable[[Window], Mapping[str, Any] | None], queue: str, channel: str, day: date
    ) -> dict[str, dict[str, Any]]:
        """The ``target`` object of a row: per KPI with a target, judged on the target's window
        whatever the row's window. ``rows_by_window`` gives this queue's and channel's row in a
        window; ``day`` is the queue's local business date."""
        result: dict[str, dict[str, Any]] = {}
        for entry in self.for_row(queue, channel):
            row = rows_by_window(entry.window)
            value = None if row is None else row.get(entry.kpi)
            judged = judge(entry, None if value is None else float(value), day)
            result[entry.kpi] = {
                "target": entry.target,
                "expected": judged.expected,
                "actual": judged.actual,
                "gap": judged.gap,
                "on_track": judged.on_track,
                "met": judged.met,
                "window": entry.window.value,
                "due": entry.due.isoformat(),
                "benchmark": entry.benchmark,
            }
        return result


def parse_targets(document: Any) -> Targets:
    """The targets of a document (the parsed YAML); reading the file is the caller's."""
    return parse_document(document, TargetsFile, Targets)
