"""GET /v1/agents through the real application, on a real KpiBook filled the way the API fills it: a
worker's live agent records (``AgentBoard.live()``, from contract-v1 agent events decoded like the
worker decodes them) put with ``put_agents``, and a contact bucket carrying a missed offer. Every
expected number is worked out by hand in the comments from the event times."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from api.app import create_app
from api.auth import hash_token
from api.snapshots import SnapshotReader
from api.view import KpiView
from kpis.agents import AgentBoard
from kpis.book import KpiBook
from kpis.buckets import BucketStats
from kpis.event import AgentEvent
from kpis.state import INTERVAL, BucketKey
from service.settings import ApiSettings, Settings
from streams.contract import decode_record
from streams.topics import AGENTS

# Wednesday 2026-12-02 10:15 UTC, 11:15 in Berlin (UTC+1): the business day (default rules, Berlin,
# day start 00:00) began at 2026-12-01 23:00 UTC.
NOW = datetime(2026, 12, 2, 10, 15, tzinfo=timezone.utc).timestamp()
DAY_START = datetime(2026, 12, 1, 23, 0, tzinfo=timezone.utc).timestamp()
THRESHOLDS = {
    "agent_states": {
        "on_contact": {"warning": 600, "critical": 1200},
        "aux": {"warning": 900, "critical": 1200, "reasons": {"lunch": {"warning": 2700, "critical": 3600}}},
    }
}


def utc(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 12, day, hour, minute, tzinfo=timezone.utc).timestamp()


def agent_event(agent: str, epoch_s: float, state: str | None = None, **extra: Any) -> dict[str, Any]:
    """An agent event as a platform publishes it (streams/schemas/agent-event.v1.schema.json)."""
    event: dict[str, Any] = {
        "event_id": f"{agent}-{epoch_s:.0f}-{state}",
        "type": "agent.state_changed" if state is not None else "agent.queues_changed",
        "time": datetime.fromtimestamp(epoch_s, tz=timezone.utc).isoformat(),
        "agent_id": agent,
    }
    if state is not None:
        event["state"] = state
    return event | extra


EVENTS = [
    # a-1 Ada, billing and sales, voice: available 08:00, a billing contact 09:00-09:05, wrap-up to
    # 09:07, available, a sales contact since 10:00.
    agent_event("a-1", utc(2, 8), "available", agent_name="Ada", queues=["billing", "sales"], channel="voice", capacity=1),
    agent_event("a-1", utc(2, 9), "on_contact", contact_id="c-1", queue="billing"),
    agent_event("a-1", utc(2, 9, 5), "after_contact_work"),
    agent_event("a-1", utc(2, 9, 7), "available"),
    agent_event("a-1", utc(2, 10), "on_contact", contact_id="c-2", queue="sales"),
    # a-2 Bo, billing chat (3 at once): at lunch since 09:30.
    agent_event("a-2", utc(2, 9, 30), "aux", agent_name="Bo", reason="lunch", queues=["billing"], channel="chat", capacity=3),
    # a-3 Cy, sales voice: available 07:00, logged out 08:00: listed, logged out today.
    agent_event("a-3", utc(2, 7), "available", agent_name="Cy", queues=["sales"]),
    agent_event("a-3", utc(2, 8), "logged_out"),
    # a-4 Di: logged out at 22:30 UTC yesterday, 23:30 in Berlin on the 1st: before today, not listed.
    agent_event("a-4", utc(1, 21), "available", agent_name="Di", queues=["billing"]),
    agent_event("a-4", utc(1, 22, 30), "logged_out"),
    # a-6 Ed: logged out at 23:30 UTC, 00:30 on the 2nd in Berlin: listed; 23:00-23:30 is today's.
    agent_event("a-6", utc(1, 22, 45), "available", agent_name="Ed", queues=["billing"]),
    agent_event("a-6", utc(1, 23, 30), "logged_out"),
    # a-5, support voice, no name: aux without a reason since 10:10.
    agent_event("a-5", utc(2, 10, 10), "aux", queues=["support"]),
]


def settings() -> Settings:
    return Settings.model_validate({"defaults": {"timezone": "Europe/Berlin"}})


def filled_book(config: Settings) -> KpiBook:
    board = AgentBoard(config.rules)
    for event in EVENTS:
        [decoded] = decode_record(json.dumps(event).encode(), AGENTS).items
        assert isinstance(decoded, AgentEvent), decoded
        board.apply(decoded)
    book = KpiBook(config.rules)
    book.put_agents(0, board.live())
    # The contact fold's bucket of 09:45 UTC: one contact offered to a-1 that it did not answer.
    book.put(0, BucketKey(INTERVAL, "billing", "voice", int(utc(2, 9, 45))), BucketStats(missed=1, missed_by_agent={"a-1": 1}))
    # Yesterday's miss (09:45 UTC on the 1st) is not today's.
    book.put(0, BucketKey(INTERVAL, "billing", "voice", int(utc(1, 9, 45))), BucketStats(missed=1, missed_by_agent={"a-1": 1}))
    return book


async def client_of(config: Settings, ready: bool = True) -> httpx.AsyncClient:
    app = create_app(config)
    # what the lifespan sets up, without following Kafka
    app.state.reader = SnapshotReader(config, filled_book(config))
    if ready:
        app.state.reader.ready.set()
    app.state.view = KpiView(app.state.reader, 1.0, 15.0, clock=lambda: NOW)
    app.state.view.refresh()
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(THRESHOLDS))
    config = settings().model_copy(update={"alerts": settings().alerts.model_copy(update={"thresholds_file": path})})
    async with await client_of(config) as http:
        yield http


def by_id(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {agent["agent_id"]: agent for agent in answer["agents"]}


async def test_every_agent_of_today_with_its_state_contact_day_and_status(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/agents")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["generated_at"], answer["queue"], answer["channel"]) == ("2026-12-02T10:15:00Z", None, None)
    assert [agent["agent_id"] for agent in answer["agents"]] == ["a-1", "a-2", "a-3", "a-5", "a-6"], "a-4 left before today"
    agents = by_id(answer)

    ada = agents["a-1"]
    assert (ada["name"], ada["state"], ada["reason"], ada["since"]) == ("Ada", "on_contact", None, "2026-12-02T10:00:00Z")
    assert (ada["queues"], ada["channel"], ada["capacity"]) == (["billing", "sales"], "voice", 1)
    assert ada["time_in_state_s"] == 900
    assert ada["contact"] == {"contact_id": "c-2", "queue": "sales", "duration_s": 900}
    assert ada["status"] == "warning", "900 s on a contact: above 600, not above 1200"
    # 08:00-09:00 and 09:07-10:00 available (3600 + 3180 s); 09:00-09:05 and 10:00-10:15 on contacts
    # (300 + 900 s); 09:05-09:07 wrap-up (120 s); two contacts taken; one offer missed today.
    assert ada["today"] == {
        "date": "2026-12-02", "handled": 2, "aht_s": (1200 + 120) / 2, "missed": 1,
        "staffed_s": 8100, "available_s": 6780, "on_contact_s": 1200, "after_contact_work_s": 120, "aux_s": 0,
    }  # fmt: skip

    bo = agents["a-2"]
    assert (bo["state"], bo["reason"], bo["channel"], bo["capacity"], bo["contact"]) == ("aux", "lunch", "chat", 3, None)
    assert (bo["time_in_state_s"], bo["status"]) == (2700, "ok"), "lunch has its own limits: 2700 s is not above 2700"
    assert (bo["today"]["aux_s"], bo["today"]["staffed_s"], bo["today"]["handled"], bo["today"]["aht_s"]) == (2700, 2700, 0, None)

    cy = agents["a-3"]
    assert (cy["state"], cy["since"], cy["status"], cy["contact"]) == ("logged_out", "2026-12-02T08:00:00Z", None, None)
    assert (cy["today"]["staffed_s"], cy["today"]["available_s"]) == (3600, 3600)

    unnamed = agents["a-5"]
    assert (unnamed["name"], unnamed["state"], unnamed["queues"], unnamed["channel"]) == (None, "aux", ["support"], "voice")
    assert unnamed["reason"] == "unspecified"
    assert (unnamed["time_in_state_s"], unnamed["status"]) == (300, "ok"), "aux without a reason: the aux limits"

    ed = agents["a-6"]
    assert (ed["state"], ed["since"]) == ("logged_out", "2026-12-01T23:30:00Z")
    assert (ed["today"]["staffed_s"], ed["today"]["available_s"]) == (1800, 1800), "only 23:00-23:30 UTC is today"

    assert answer["summary"]["staffed"] == 3  # a-1, a-2, a-5
    assert {key: answer["summary"][key] for key in ("available", "on_contact", "after_contact_work", "aux", "logged_out")} == {
        "available": 0, "on_contact": 1, "after_contact_work": 0, "aux": 2, "logged_out": 2,
    }  # fmt: skip
    assert answer["summary"]["aux_by_reason"] == {"lunch": 1, "unspecified": 1}
    assert answer["state_thresholds"] == {
        "on_contact": {"warning": 600, "critical": 1200, "reasons": {}},
        "aux": {"warning": 900, "critical": 1200, "reasons": {"lunch": {"warning": 2700, "critical": 3600}}},
    }


@pytest.mark.parametrize(
    ("params", "listed", "summary"),
    [
        # staffed, available, on_contact, aux, logged_out
        ({"queue": "billing"}, ["a-1", "a-2", "a-6"], (2, 0, 1, 1, 1)),
        ({"queue": "sales"}, ["a-1", "a-3"], (1, 0, 1, 0, 1)),
        ({"queue": "sales", "channel": "voice"}, ["a-1", "a-3"], (1, 0, 1, 0, 1)),
        ({"channel": "chat"}, ["a-2"], (1, 0, 0, 1, 0)),
        ({"queue": "billing", "channel": "chat"}, ["a-2"], (1, 0, 0, 1, 0)),
        ({"queue": "*", "channel": "*"}, ["a-1", "a-2", "a-3", "a-5", "a-6"], (3, 0, 1, 2, 2)),
        ({"queue": "nobody-serves-this"}, [], (0, 0, 0, 0, 0)),
    ],
)
async def test_queue_and_channel_select_the_agents_serving_them(
    client: httpx.AsyncClient, params: dict[str, str], listed: list[str], summary: tuple[int, ...]
) -> None:
    answer = (await client.get("/v1/agents", params=params)).json()
    assert [agent["agent_id"] for agent in answer["agents"]] == listed
    counts = answer["summary"]
    assert (counts["staffed"], counts["available"], counts["on_contact"], counts["aux"], counts["logged_out"]) == summary
    wanted = {key: (None if value == "*" else value) for key, value in params.items()}
    assert (answer["queue"], answer["channel"]) == (wanted.get("queue"), wanted.get("channel"))


@pytest.mark.parametrize(
    ("params", "parameter"),
    [({"queue": ""}, "queue"), ({"channel": "x" * 51}, "channel"), ({"queue": "q" * 201}, "queue")],
)
async def test_a_bad_parameter_is_named_in_a_422(client: httpx.AsyncClient, params: dict[str, str], parameter: str) -> None:
    response = await client.get("/v1/agents", params=params)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["query", parameter]]


async def test_503_until_the_snapshot_topics_are_read() -> None:
    async with await client_of(settings(), ready=False) as http:
        response = await http.get("/v1/agents")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"


async def test_without_a_thresholds_file_no_agent_is_judged() -> None:
    async with await client_of(settings()) as http:
        answer = (await http.get("/v1/agents")).json()
    assert {agent["status"] for agent in answer["agents"]} == {None}
    assert answer["state_thresholds"] == {}


async def test_reading_needs_a_token_like_the_kpis(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(f"wall: {hash_token('s3cret')}\n")
    async with await client_of(settings().model_copy(update={"api": ApiSettings(tokens_file=tokens)})) as http:
        assert (await http.get("/v1/agents")).status_code == 401
        assert (await http.get("/v1/agents", headers={"Authorization": "Bearer s3cret"})).status_code == 200
        assert (await http.get("/v1/agents", params={"access_token": "s3cret"})).status_code == 200


async def test_head_and_the_openapi_schema(client: httpx.AsyncClient) -> None:
    got = await client.get("/v1/agents", params={"queue": "billing"})
    head = await client.head("/v1/agents", params={"queue": "billing"})
    assert head.status_code == got.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/v1/agents"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"queue", "channel"}
    assert "503" in operation["responses"]
    response = operation["responses"]["200"]["content"]["application/json"]
    assert response["schema"] == {"$ref": "#/components/schemas/AgentsAnswer"}
    components = schema["components"]["schemas"]
    example = response["example"]
    assert set(example) == set(components["AgentsAnswer"]["properties"])
    assert set(example["agents"][0]) | set(example["agents"][1]) == set(components["Agent"]["properties"])
    assert set(example["agents"][0]["today"]) == set(components["AgentDay"]["properties"])
    assert set(example["summary"]) == set(components["AgentSummary"]["properties"])
