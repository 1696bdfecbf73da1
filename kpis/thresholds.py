"""Alert thresholds: one file that both the alert rules and the API's per-KPI status are made from,
so a wallboard tile turns red exactly when the on-call pager would.

Each KPI has a default rule and overrides by queue, by channel, or by both; the most specific
matching rule wins (queue and channel, then queue, then channel, then the default). A rule judges
the KPI on one window, and stays silent below a minimum volume: 2 abandons out of 3 calls at 3 a.m.
is not an incident.

The same file says how long an agent may stay in a state (``agent_states``) before the agents'
board turns amber or red, and how long contacts may wait with no agent available before the pager
goes (``staffing``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Final, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kpis.catalog import JUDGED, KPIS_BY_NAME
from kpis.problems import parse_document
from kpis.windows import ROLLING, Window


class Direction(str, Enum):
    ABOVE = "above"
    BELOW = "below"


class Level(str, Enum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"


_DURATION = re.compile(r"^([0-9]+)(s|m|h)$")


def duration_seconds(text: str) -> int:
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 30s, 2m or 1h")
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RuleSettings(_Strict):
    """The keys a default rule and an override share; an override leaves out what it inherits."""

    warning: float | None = None
    critical: float | None = None
    window: Window | None = None
    min_volume: int | None = Field(default=None, ge=0)
    for_: str | None = Field(default=None, alias="for")
    runbook: str | None = None
    team: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")

    @field_validator("for_")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            duration_seconds(value)
        return value

    @field_validator("window")
    @classmethod
    def _rolling(cls, value: Window | None) -> Window | None:
        if value is not None and value not in ROLLING:
            raise ValueError("a threshold is judged on a rolling window: 15m, 30m or 60m")
        return value


class Override(RuleSettings):
    queue: str | None = None
    channel: str | None = None

    @model_validator(mode="after")
    def _selects(self) -> Override:
        if self.queue is None and self.channel is None:
            raise ValueError("an override names a queue, a channel, or both")
        return self


class KpiThreshold(RuleSettings):
    direction: Direction
    overrides: list[Override] = Field(default_factory=list)


class PipelineThresholds(_Strict):
    no_events_minutes: float = Field(default=10, gt=0, description="no event on any source topic for this long")
    opening_hours_utc: tuple[int, int] = Field(
        default=(0, 24), description="[first hour, end hour) in UTC when silence is an incident"
    )
    lag_events: int = Field(default=10_000, ge=1, description="source events not yet reflected in served numbers")
    lag_for: str = "5m"
    sentiment_lag_records: int = Field(
        default=20_000, ge=1,
        description="records of cx.chats and cx.surveys the sentiment scorer has not read, held for sentiment_lag_for "
        "(a scorer behind by more than the grace period loses its scores as late)",
    )
    sentiment_lag_for: str = "10m"
    scrape_for: str = "2m"
    runbook: str = "https://runbooks.example.com/cxpulse/pipeline"
    team: str = Field(default="platform", pattern=r"^[A-Za-z0-9_.-]+$")

    @field_validator("lag_for", "scrape_for", "sentiment_lag_for")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration_seconds(value)
        return value

    @field_validator("opening_hours_utc")
    @classmethod
    def _hours(cls, value: tuple[int, int]) -> tuple[int, int]:
        first, end = value
        if not 0 <= first < end <= 24:
            raise ValueError("opening_hours_utc is [first, end) with 0 <= first < end <= 24")
        return value


# The agent states whose time can be judged: logged out is not time on the clock.
JUDGED_AGENT_STATES: Final = ("available", "on_contact", "after_contact_work", "aux")


class StateLimits(_Strict):
    """Seconds in a state above which an agent's status is warning or critical; a limit left out of
    a reason's entry is its state's."""

    warning: float | None = Field(default=None, gt=0)
    critical: float | None = Field(default=None, gt=0)


class StateThreshold(StateLimits):
    """A state's limits and, for aux above all, other limits per reason (lunch is longer than a break)."""

    reasons: dict[str, StateLimits] = Field(default_factory=dict)


class StaffingThresholds(_Strict):
    """Contacts waiting while no agent of their queue and channel is available: nobody can answer them."""

    unattended_for: str = Field(default="1m", description="how long before the alert fires")
    staffed_within: str = Field(
        default="24h",
        description="a queue and channel no agent was staffed in for this long is not judged: its agents do not "
        "report to cxpulse (no agent events) or it is closed",
    )
    runbook: str = "https://runbooks.example.com/cxpulse/staffing"
    team: str = Field(default="contact-center", pattern=r"^[A-Za-z0-9_.-]+$")

    @field_validator("unattended_for", "staffed_within")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration_seconds(value)
        return value


class SentimentJumpThresholds(_Strict):
    """Customers' mood turning: the last 15 minutes' share of negative messages above the day's (the
    last ``baseline``) by ``margin``, in a queue and channel. A jump, not a level: every queue has its
    own normal (a cancellations queue is gloomier than sales), which a fixed threshold cannot know."""

    margin: float = Field(default=0.15, gt=0, lt=1, description="how far the 15-minute share must be above the day's")
    min_volume: int = Field(default=20, ge=1, description="scored messages in the 15 minutes below which it never fires")
    baseline: str = Field(default="24h", description="how far back the day's share reaches (a Prometheus range)")
    for_: str = Field(default="5m", alias="for", description="how long the jump must hold before the alert fires")
    runbook: str = "https://runbooks.example.com/cxpulse/sentiment"
    team: str = Field(default="quality", pattern=r"^[A-Za-z0-9_.-]+$")

    @field_validator("baseline", "for_")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration_seconds(value)
        return value


class ThresholdsFile(_Strict):
    defaults: RuleSettings = RuleSettings()
    kpis: dict[str, KpiThreshold] = Field(default_factory=dict)
    pipeline: PipelineThresholds = PipelineThresholds()
    agent_states: dict[str, StateThreshold] = Field(default_factory=dict)
    staffing: StaffingThresholds = StaffingThresholds()
    sentiment_jump: SentimentJumpThresholds = SentimentJumpThresholds()

    @field_validator("agent_states")
    @classmethod
    def _states(cls, value: dict[str, StateThreshold]) -> dict[str, StateThreshold]:
        unknown = sorted(set(value) - set(JUDGED_AGENT_STATES))
        if unknown:
            raise ValueError(
                f"unknown agent state {', '.join(unknown)}; time in state is judged for {', '.join(JUDGED_AGENT_STATES)}"
            )
        return value

    @field_validator("kpis")
    @classmethod
    def _known(cls, value: dict[str, KpiThreshold]) -> dict[str, KpiThreshold]:
        judged = [kpi.name for kpi in JUDGED]
        unknown = sorted(set(value) - set(judged))
        if unknown:
            raise ValueError(f"unknown KPI {', '.join(unknown)}; thresholds can be set on {', '.join(judged)}")
        return value


@dataclass(frozen=True, slots=True)
class Rule:
    """A fully resolved threshold for one KPI and one selection of rows."""

    kpi: str
    direction: Direction
    warning: float | None
    critical: float | None
    window: Window
    min_volume: int
    for_s: int
    for_text: str
    runbook: str
    team: str
    queue: str | None
    channel: str | None

    @property
    def specificity(self) -> int:
        return (2 if self.queue is not None else 0) + (1 if self.channel is not None else 0)

    def selects(self, queue: str, channel: str) -> bool:
        return (self.queue is None or self.queue == queue) and (self.channel is None or self.channel == channel)

    def level(self, value: float) -> Level:
        def breached(limit: float | None) -> bool:
            if limit is None:
                return False
            return value > limit if self.direction is Direction.ABOVE else value < limit

        if breached(self.critical):
            return Level.CRITICAL
        if breached(self.warning):
            return Level.WARNING
        return Level.OK


_BUILT_IN = RuleSettings.model_validate(
    {"window": Window.M15, "min_volume": 20, "for": "2m", "runbook": "", "team": "contact-center"}
)


def _resolve(kpi: str, threshold: KpiThreshold, override: RuleSettings, defaults: RuleSettings, queue: str | None, channel: str | None) -> Rule:
    def pick(name: str) -> Any:
        for source in (override, threshold, defaults, _BUILT_IN):
            value = getattr(source, name)
            if value is not None:
                return value
        return None

    rule = Rule(
        kpi=kpi,
        direction=threshold.direction,
        warning=pick("warning"),
        critical=pick("critical"),
        window=pick("window"),
        min_volume=pick("min_volume"),
        for_s=duration_seconds(pick("for_")),
        for_text=pick("for_"),
        runbook=pick("runbook"),
        team=pick("team"),
        queue=queue,
        channel=channel,
    )
    if rule.warning is None and rule.critical is None:
        raise ValueError(f"kpis.{kpi}: set warning, critical or both")
    if rule.warning is not None and rule.critical is not None:
        wrong_order = rule.critical < rule.warning if rule.direction is Direction.ABOVE else rule.critical > rule.warning
        if wrong_order:
            where = f" (override queue={queue} channel={channel})" if queue or channel else ""
            raise ValueError(
                f"kpis.{kpi}{where}: with direction {rule.direction.value}, critical must be "
                f"{'at or above' if rule.direction is Direction.ABOVE else 'at or below'} warning"
            )
    return rule


@dataclass(frozen=True, slots=True)
class StateRule:
    """Resolved limits on the seconds an agent has been in one state (with one reason)."""

    warning: float | None
    critical: float | None

    def level(self, seconds: float) -> Level:
        if self.critical is not None and seconds > self.critical:
            return Level.CRITICAL
        if self.warning is not None and seconds > self.warning:
            return Level.WARNING
        return Level.OK

    def as_dict(self) -> dict[str, float | None]:
        return {"warning": self.warning, "critical": self.critical}


def _state_rule(where: str, limits: StateLimits, inherited: StateRule | None = None) -> StateRule:
    rule = StateRule(
        limits.warning if limits.warning is not None or inherited is None else inherited.warning,
        limits.critical if limits.critical is not None or inherited is None else inherited.critical,
    )
    if rule.warning is None and rule.critical is None:
        raise ValueError(f"{where}: set warning, critical or both (seconds)")
    if rule.warning is not None and rule.critical is not None and rule.critical < rule.warning:
        raise ValueError(f"{where}: critical ({rule.critical:g} s) must be at or above warning ({rule.warning:g} s)")
    return rule


class AgentStateRules:
    """How long an agent may stay in a state, per state and aux reason: the status of the agents'
    board and of /v1/agents. A state without limits is never judged."""

    def __init__(self, states: Mapping[str, StateThreshold]) -> None:
        self.states: dict[str, StateRule] = {}
        self.reasons: dict[str, dict[str, StateRule]] = {}
        for state, threshold in states.items():
            rule = self.states[state] = _state_rule(f"agent_states.{state}", threshold)
            self.reasons[state] = {
                reason: _state_rule(f"agent_states.{state}.reasons.{reason}", limits, rule)
                for reason, limits in threshold.reasons.items()
            }

    def rule_for(self, state: str, reason: str | None) -> StateRule | None:
        by_reason = self.reasons.get(state, {})
        if reason is not None and reason in by_reason:
            return by_reason[reason]
        return self.states.get(state)

    def status(self, state: str, reason: str | None, seconds: float) -> Level | None:
        rule = self.rule_for(state, reason)
        return None if rule is None else rule.level(seconds)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """The resolved limits by state, with ``reasons`` by reason: what a screen needs to colour
        a time in state that it counts up by itself."""
        return {
            state: {**rule.as_dict(), "reasons": {reason: r.as_dict() for reason, r in self.reasons[state].items()}}
            for state, rule in self.states.items()
        }


class Thresholds:
    """The resolved rules of a thresholds file, and the status they give a row of /v1/kpis."""

    def __init__(self, document: ThresholdsFile) -> None:
        self.pipeline = document.pipeline
        self.staffing = document.staffing
        self.sentiment_jump = document.sentiment_jump
        self.agent_states = AgentStateRules(document.agent_states)
        self.rules: dict[str, list[Rule]] = {}
        for kpi, threshold in document.kpis.items():
            rules = [_resolve(kpi, threshold, RuleSettings(), document.defaults, None, None)]
            seen: set[tuple[str | None, str | None]] = set()
            for override in threshold.overrides:
                selector = (override.queue, override.channel)
                if selector in seen:
                    raise ValueError(f"kpis.{kpi}: two overrides for queue={override.queue} channel={override.channel}")
                seen.add(selector)
                rules.append(_resolve(kpi, threshold, override, document.defaults, *selector))
            rules.sort(key=lambda rule: -rule.specificity)
            self.rules[kpi] = rules

    def rule_for(self, kpi: str, queue: str, channel: str) -> Rule:
        return next(rule for rule in self.rules[kpi] if rule.selects(queue, channel))

    def status(self, rows_by_window: Callable[[Window], Mapping[str, Any] | None], queue: str, channel: str) -> dict[str, str | None]:
        """Per thresholded KPI: ok/warning/critical on the rule's window, None below its minimum volume
        or without a value. ``rows_by_window`` gives this queue's and channel's row in a window."""
        result: dict[str, str | None] = {}
        for kpi in self.rules:
            rule = self.rule_for(kpi, queue, channel)
            row = rows_by_window(rule.window)
            value = None if row is None else row.get(kpi)
            volume = KPIS_BY_NAME[kpi].volume
            if value is None or row is None:
                result[kpi] = None
            elif volume is not None and sum(row[name] for name in volume) < rule.min_volume:
                result[kpi] = None
            else:
                result[kpi] = rule.level(float(value)).value
        return result


def parse_thresholds(document: Any) -> Thresholds:
    """Resolved rules of a thresholds document (the parsed YAML); reading the file is the caller's."""
    return parse_document(document, ThresholdsFile, Thresholds)
