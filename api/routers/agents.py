"""Agents now: each agent's state, how long it has been in it, what it is handling and its day so far,
and the counts per state of the selection: what a supervisor's board shows beside the queues.

Each agent carries a ``status`` judged on its time in state by the thresholds file's
``agent_states``, and the answer carries those limits (``state_thresholds``), so a screen that
counts the time up by itself between polls can recolour a card the moment it crosses one.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.deps import get_reader, get_thresholds
from api.readiness import NOT_READY_RESPONSE, ready_view
from api.routers.kpis import ChannelFilter, QueueFilter
from api.snapshots import SnapshotReader
from api.view import Frame, KpiView
from kpis.book import ALL
from kpis.thresholds import Level, Thresholds
from kpis.windows import iso

router = APIRouter(prefix="/v1", tags=["agents"])

AgentState = Literal["logged_out", "available", "on_contact", "after_contact_work", "aux"]


class CurrentContact(BaseModel):
    contact_id: str | None = Field(description="the contact being served, when the platform says")
    queue: str | None = Field(description="the queue of that contact")
    duration_s: float = Field(description="seconds since the agent took it")


class AgentDay(BaseModel):
    date: dt.date = Field(description="the business day (default rules) containing now")
    handled: int = Field(description="contacts taken today: each entry into on_contact, a new contact_id counting again")
    aht_s: float | None = Field(description="(on_contact_s + after_contact_work_s) / handled; null when none handled")
    missed: int = Field(description="contacts offered to this agent today that it did not answer")
    staffed_s: float
    available_s: float
    on_contact_s: float
    after_contact_work_s: float
    aux_s: float


class Agent(BaseModel):
    agent_id: str
    name: str | None
    state: AgentState
    reason: str | None = Field(description="the aux reason (break, lunch, ...; unspecified when not given); null outside aux")
    since: str = Field(description="when the agent entered the state, RFC 3339")
    time_in_state_s: float = Field(description="seconds from since to generated_at")
    queues: list[str] = Field(description="the queues the agent serves")
    channel: str
    capacity: int | None = Field(description="contacts at once (chat), as the platform says; shown only")
    contact: CurrentContact | None = Field(description="the contact being handled while on_contact")
    today: AgentDay
    status: Level | None = Field(
        description="time in state judged by the thresholds file's agent_states (this reason's limits for aux); "
        "null when the state has no limits or no thresholds file is set"
    )


class AgentSummary(BaseModel):
    staffed: int = Field(description="agents logged in, in any state")
    available: int
    on_contact: int
    after_contact_work: int
    aux: int
    aux_by_reason: dict[str, int] = Field(description="agents in aux by reason (unspecified when none given)")
    logged_out: int = Field(description="agents listed who logged out today")


class StateLimits(BaseModel):
    warning: float | None = Field(description="seconds in the state above which an agent is warning")
    critical: float | None = Field(description="seconds in the state above which an agent is critical")


class StateThreshold(StateLimits):
    reasons: dict[str, StateLimits] = Field(description="other limits per aux reason")


class AgentsAnswer(BaseModel):
    generated_at: str = Field(description="the time the states and durations are reckoned at")
    queue: str | None = Field(description="the queue asked for; null: every queue")
    channel: str | None = Field(description="the channel asked for; null: every channel")
    summary: AgentSummary = Field(description="agents per state in the selection, each agent counted once")
    agents: list[Agent] = Field(description="by agent_id")
    state_thresholds: dict[str, StateThreshold] = Field(description="the agent_states limits that give each status")


AGENTS_DESCRIPTION = """\
Every agent seen today (or still logged in), by `agent_id`: an agent serving several queues is
listed once, and with `queue` only when it serves that queue; with `channel` only when it works
that channel (`*` or nothing: all). `time_in_state_s` runs to `generated_at`, the time of the
served frame (at most `api.refresh_seconds` old); a screen can count it up from `since` between
polls. `today` is the business day of the default rules: what the agent has done since its
start, the segment it is in now included. Agents who logged out before today began are not
listed; those who logged out today stay, with state `logged_out`. `status` judges the time in
state by the thresholds file's `agent_states` (`state_thresholds`, limits in seconds)."""

# FastAPI leaves nulls out of examples in the schema: between them the two agents have every key.
EXAMPLE: dict[str, Any] = {
    "generated_at": "2026-12-02T10:15:00.120Z",
    "queue": "billing",
    "channel": "voice",
    "summary": {
        "staffed": 3, "available": 1, "on_contact": 1, "after_contact_work": 0, "aux": 1,
        "aux_by_reason": {"lunch": 1}, "logged_out": 1,
    },
    "agents": [
        {
            "agent_id": "a-17", "name": "Ada Lovelace", "state": "on_contact",
            "since": "2026-12-02T10:02:30Z", "time_in_state_s": 750.12, "queues": ["billing", "sales"],
            "channel": "voice", "capacity": 1,
            "contact": {"contact_id": "c-9912", "queue": "billing", "duration_s": 750.12},
            "today": {
                "date": "2026-12-02", "handled": 14, "aht_s": 312.4, "missed": 1, "staffed_s": 7512.0,
                "available_s": 2410.5, "on_contact_s": 3820.0, "after_contact_work_s": 553.6, "aux_s": 727.9,
            },
            "status": "ok",
        },
        {
            "agent_id": "a-21", "name": "Grace Hopper", "state": "aux", "reason": "lunch",
            "since": "2026-12-02T09:40:00Z", "time_in_state_s": 2100.12, "queues": ["billing"],
            "channel": "voice", "capacity": 1,
            "today": {
                "date": "2026-12-02", "handled": 9, "aht_s": 288.0, "missed": 0, "staffed_s": 9000.0,
                "available_s": 3708.0, "on_contact_s": 2160.0, "after_contact_work_s": 432.0, "aux_s": 2700.0,
            },
            "status": "ok",
        },
    ],
    "state_thresholds": {
        "on_contact": {"warning": 900, "critical": 1200, "reasons": {}},
        "aux": {"warning": 900, "critical": 1200, "reasons": {"lunch": {"warning": 2700, "critical": 3600}}},
    },
}  # fmt: skip


def _answer(frame: Frame, reader: SnapshotReader, thresholds: Thresholds | None, queue: str | None, channel: str | None) -> AgentsAnswer:
    book = reader.book
    now = frame.as_of
    limits = thresholds.agent_states if thresholds is not None else None
    agents = []
    for entry in book.agents(now, queue, channel):
        status = None if limits is None else limits.status(entry["state"], entry["reason"], entry["time_in_state_s"])
        agents.append(Agent.model_validate({**entry, "status": status}))
    return AgentsAnswer(
        generated_at=iso(now),
        queue=queue,
        channel=channel,
        summary=AgentSummary.model_validate(book.agent_summary(now, queue, channel)),
        agents=agents,
        state_thresholds={
            state: StateThreshold.model_validate(rule) for state, rule in (limits.as_dict() if limits is not None else {}).items()
        },
    )


@router.get(
    "/agents",
    summary="Agents now: state, time in state, current contact and today's work, with counts per state",
    description=AGENTS_DESCRIPTION,
    response_model=AgentsAnswer,
    responses={200: {"content": {"application/json": {"example": EXAMPLE}}}, **NOT_READY_RESPONSE},
)
async def get_agents(
    view: Annotated[KpiView, Depends(ready_view)],
    reader: Annotated[SnapshotReader, Depends(get_reader)],
    thresholds: Annotated[Thresholds | None, Depends(get_thresholds)],
    queue: QueueFilter = None,
    channel: ChannelFilter = None,
) -> AgentsAnswer:
    """Computed at most once per frame and selection: many screens polling cost one answer."""
    frame = view.frame
    wanted_queue = None if queue == ALL else queue
    wanted_channel = None if channel == ALL else channel
    answer: AgentsAnswer = frame.cached(
        ("agents", wanted_queue, wanted_channel),
        lambda: _answer(frame, reader, thresholds, wanted_queue, wanted_channel),
    )
    return answer
