"""Each configured target and how far its KPI has come: today, over the period since its start, and
the direction of the last days. The live rows of /v1/kpis carry only today's judgement; this is
the report a team lead reads."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from api.deps import get_reader, get_settings, get_targets
from api.readiness import NOT_READY_RESPONSE, ready_view
from api.routers.kpis import ChannelFilter, QueueFilter
from api.snapshots import SnapshotReader
from api.view import Frame, KpiView
from kpis.book import ALL, KpiBook
from kpis.targets import Target, Targets, elapsed, judge, over_days, trend
from kpis.windows import Window, iso
from service.settings import Settings

router = APIRouter(prefix="/v1", tags=["targets"])

TREND_DAYS = 7


class Scope(BaseModel):
    queue: str | None = Field(description="the queue the target is set for; null: every queue")
    channel: str | None = Field(description="the channel the target is set for; null: every channel")


class Judged(BaseModel):
    actual: float | None = Field(description="the KPI's value; null without contacts to compute it from")
    gap: float | None = Field(description="actual minus target, in the KPI's unit")
    on_track: bool | None = Field(description="actual at least as good as the expected value now")
    met: bool | None = Field(description="actual at least as good as the target")


class PeriodToDate(Judged):
    model_config = ConfigDict(populate_by_name=True)

    first: date = Field(alias="from", description="the target's start, or the oldest day of history kept")
    last: date = Field(alias="to", description="today (local), inclusive")
    clipped: bool = Field(description="true when history no longer reaches back to the start (kpi.history_days)")


class TrendDay(BaseModel):
    date: date
    actual: float | None


class TargetTrend(BaseModel):
    days: list[TrendDay] = Field(description=f"the {TREND_DAYS} whole local days before today, oldest first")
    slope_per_day: float | None = Field(description="least-squares slope of those days' values, KPI unit per day")
    toward_target: bool | None = Field(
        description="the slope points the better way: toward the target, or further beyond it once passed"
    )


class TargetReport(BaseModel):
    kpi: str
    name: str | None
    note: str | None
    scope: Scope
    queue: str = Field(description="the queue whose numbers are judged (* = all queues)")
    channel: str = Field(description="the channel whose numbers are judged (* = all channels)")
    target: float
    baseline: float
    start: date
    due: date
    benchmark: float | None = Field(description="an industry reference; shown, never judged")
    window: Window = Field(description="the window /v1/kpis rows judge this target on")
    local_date: date = Field(description="today, on the judged queue's calendar")
    elapsed: float = Field(description="share of the time from start to due that has passed, 0..1")
    expected: float = Field(description="the value expected today on the straight line from baseline to target")
    today: Judged = Field(description="since today's local day start")
    period_to_date: PeriodToDate | None = Field(description="from the start (or the oldest day kept) to now; null before the start")
    trend: TargetTrend


class TargetsAnswer(BaseModel):
    as_of: str
    history_days: int = Field(description="days of history kept (kpi.history_days): how far back the period to date can reach")
    items: list[TargetReport]


# FastAPI leaves nulls out of examples in the schema: this one has none.
EXAMPLE: dict[str, Any] = {
    "as_of": "2026-12-02T10:15:00.120Z",
    "history_days": 35,
    "items": [
        {
            "kpi": "aht_s", "name": "Billing voice AHT down to 6 minutes", "note": "new knowledge base articles",
            "scope": {"queue": "billing", "channel": "voice"}, "queue": "billing", "channel": "voice",
            "target": 360, "baseline": 420, "start": "2026-10-01", "due": "2027-03-31", "benchmark": 360,
            "window": "today", "local_date": "2026-12-02", "elapsed": 0.342541, "expected": 399.447514,
            "today": {"actual": 391.4, "gap": 31.4, "on_track": True, "met": False},
            "period_to_date": {
                "from": "2026-10-29", "to": "2026-12-02", "clipped": True,
                "actual": 402.7, "gap": 42.7, "on_track": False, "met": False,
            },
            "trend": {
                "days": [{"date": f"2026-11-{day}", "actual": value} for day, value in
                         zip(range(25, 31), (405.2, 401.9, 398.0, 396.3, 399.1, 393.8))]
                + [{"date": "2026-12-01", "actual": 390.5}],
                "slope_per_day": -2.114286, "toward_target": True,
            },
        }
    ],
}  # fmt: skip

TARGETS_DESCRIPTION = """\
Without `queue` and `channel`: every configured target, each judged on the numbers of what it is set
for (a target for every queue on the all-queues roll-up `*`). With `queue` and/or `channel` (the
other one `*`): the targets that apply to that row of `/v1/kpis`, the most specific per KPI, judged
on its numbers. `today` is since the queue's local day start; `period_to_date` runs from the
target's `start` to now, but history is kept for `kpi.history_days` days only: an older start is
clipped to the oldest day kept (`clipped: true`). `expected` is the value on the straight line
from `baseline` on `start` to `target` on `due`, for today's local date; `on_track` is an actual at
least as good as that in the KPI's better direction, `met` at least as good as the target, and
`gap` is actual minus target. `trend` has the daily values of the last whole days and whether they
move the better way. Computed at most once per refresh of the served rows."""


def _judged(target: Target, actual: float | None, day: date) -> dict[str, Any]:
    judgement = judge(target, actual, day)
    return {"actual": judgement.actual, "gap": judgement.gap, "on_track": judgement.on_track, "met": judgement.met}


def _report(target: Target, queue: str, channel: str, frame: Frame, book: KpiBook, history_days: int) -> TargetReport:
    day = book.business_date(queue, frame.as_of)
    kept_from = day - timedelta(days=history_days - 1)
    trend_from = day - timedelta(days=TREND_DAYS)
    daily = dict(book.daily(max(min(target.start, trend_from), kept_from), day, queue, channel))
    today_row = frame.rows.get(Window.TODAY, {}).get((queue, channel, Window.TODAY.value))
    today_value = None if today_row is None or today_row.get(target.kpi) is None else float(today_row[target.kpi])
    period = None
    if target.start <= day:
        first = max(target.start, kept_from)
        actual = over_days(target.kpi, (counters for when, counters in daily.items() if when >= first))
        period = PeriodToDate.model_validate(
            {"from": first, "to": day, "clipped": first > target.start, **_judged(target, actual, day)}
        )
    trend_days = [trend_from + timedelta(days=n) for n in range(TREND_DAYS)]
    values = [over_days(target.kpi, [daily[when]]) if when in daily else None for when in trend_days]
    direction = trend(values, target.better)
    return TargetReport(
        kpi=target.kpi, name=target.name, note=target.note,
        scope=Scope(queue=target.queue, channel=target.channel), queue=queue, channel=channel,
        target=target.target, baseline=target.baseline, start=target.start, due=target.due,
        benchmark=target.benchmark, window=target.window, local_date=day,
        elapsed=round(elapsed(target, day), 6), expected=judge(target, None, day).expected,
        today=Judged.model_validate(_judged(target, today_value, day)),
        period_to_date=period,
        trend=TargetTrend(
            days=[TrendDay(date=when, actual=value) for when, value in zip(trend_days, values)],
            slope_per_day=direction.slope_per_day, toward_target=direction.toward_target,
        ),
    )  # fmt: skip


def _reports(targets: Targets, queue: str | None, channel: str | None, frame: Frame, book: KpiBook, history_days: int) -> TargetsAnswer:
    if queue is None and channel is None:
        judged = [(target, target.queue or ALL, target.channel or ALL) for target in targets.entries]
    else:
        row = (queue or ALL, channel or ALL)
        judged = [(target, *row) for target in targets.for_row(*row)]
    return TargetsAnswer(
        as_of=iso(frame.as_of),
        history_days=history_days,
        items=[_report(target, q, c, frame, book, history_days) for target, q, c in judged],
    )


@router.get(
    "/targets",
    summary="Each KPI target with its actual today and over the period to date, the expected value and the trend",
    description=TARGETS_DESCRIPTION,
    response_model=TargetsAnswer,
    responses={200: {"content": {"application/json": {"example": EXAMPLE}}}, **NOT_READY_RESPONSE},
)
async def get_targets_report(
    view: Annotated[KpiView, Depends(ready_view)],
    reader: Annotated[SnapshotReader, Depends(get_reader)],
    settings: Annotated[Settings, Depends(get_settings)],
    targets: Annotated[Targets | None, Depends(get_targets)],
    queue: QueueFilter = None,
    channel: ChannelFilter = None,
) -> TargetsAnswer:
    frame = view.frame
    if targets is None:
        return TargetsAnswer(as_of=iso(frame.as_of), history_days=settings.kpi.history_days, items=[])
    answer: TargetsAnswer = frame.cached(
        ("targets", queue, channel),
        lambda: _reports(targets, queue, channel, frame, reader.book, settings.kpi.history_days),
    )
    return answer
