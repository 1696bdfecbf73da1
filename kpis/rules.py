"""The rules a queue is counted by: time zone, business day and week, service level, short abandons, repeats.

They live in the core because the fold, the windows and the formulas read them for every event; the
configuration file only fills them in (``service.settings``).
"""

from __future__ import annotations

import re
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ServiceLevelFormula(str, Enum):
    """Which contacts the service-level denominator holds (vendors differ; the choice is per queue)."""

    ANSWERED_PLUS_ABANDONED = "answered_plus_abandoned"
    ANSWERED = "answered"
    ABANDONS_WITHIN_COUNT_AS_MET = "abandons_within_count_as_met"


class Weekday(str, Enum):
    """The day a queue's reporting week starts on (history by week); centers differ, as do countries."""

    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"

    @property
    def number(self) -> int:
        """Counted as ``date.weekday()`` counts: Monday is 0."""
        return list(Weekday).index(self)


_DAY_START = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class QueueOverrides(BaseModel):
    """Per-queue settings; a key left out falls back to ``defaults``."""

    model_config = ConfigDict(extra="forbid")

    timezone: str | None = None
    day_start: str | None = None
    week_start: Weekday | None = None
    service_level_seconds: float | None = Field(default=None, gt=0, le=86400)
    service_level_formula: ServiceLevelFormula | None = None
    short_abandon_seconds: float | None = Field(default=None, ge=0, le=3600)
    repeat_contact_days: float | None = Field(default=None, gt=0, le=90)
    hourly_cost: float | None = Field(default=None, ge=0, description="cost of an hour of staffed agent time")
    fixed_cost_per_day: float | None = Field(default=None, ge=0, description="the queue's other costs per day")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("day_start")
    @classmethod
    def _clock_time(cls, value: str | None) -> str | None:
        if value is not None and not _DAY_START.match(value):
            raise ValueError(f"day_start must be HH:MM (00:00 to 23:59), not {value!r}")
        if value is not None and int(value[3:]) % 15:
            # Days are made of 15-minute buckets: a day starting between two would count nothing.
            raise ValueError(f"day_start must be on a quarter hour (:00, :15, :30 or :45), not {value!r}")
        return value


class QueueRules(QueueOverrides):
    """The settings that apply to one queue, every key filled in."""

    timezone: str = "UTC"
    day_start: str = "00:00"
    week_start: Weekday = Weekday.MONDAY
    service_level_seconds: float = Field(default=20, gt=0, le=86400)
    service_level_formula: ServiceLevelFormula = ServiceLevelFormula.ANSWERED_PLUS_ABANDONED
    short_abandon_seconds: float = Field(default=5, ge=0, le=3600)
    repeat_contact_days: float = Field(default=7, gt=0, le=90)
    # 0: not configured, and the queue's cost per contact is null rather than a guess.
    hourly_cost: float = Field(default=0, ge=0)
    fixed_cost_per_day: float = Field(default=0, ge=0)

    @property
    def day_start_seconds(self) -> int:
        hours, minutes = self.day_start.split(":")
        return int(hours) * 3600 + int(minutes) * 60


class AccountRules(BaseModel):
    """How account events count: the one currency revenue is summed in (a sum of mixed currencies
    means nothing, so others are dead-lettered), and the customer lifespan CLV uses when configured
    (otherwise it follows from the period's churn)."""

    model_config = ConfigDict(extra="forbid")

    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217 code of revenue")
    lifespan_years: float | None = Field(default=None, gt=0, le=100, description="customer lifespan for CLV")


class TicketRules(BaseModel):
    """How long a ticket stays in the worker's state after its last event (memory stays bounded;
    an open ticket untouched that long leaves the backlog)."""

    model_config = ConfigDict(extra="forbid")

    horizon_days: float = Field(default=90, gt=0, le=3650)
