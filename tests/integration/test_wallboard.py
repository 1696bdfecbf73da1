"""The wallboard page in a real browser (Debian's Chromium via Playwright) against a running cxpulse.

The API's own JSON (/v1/kpis) is the reference for what a tile must show; the page's formatting is
written out here independently. One cluster (broker, API, worker as separate processes) serves the
whole module, so the staleness tests can stop the worker or the API as a crash would, and start them
again for the next test.
"""

from __future__ import annotations

import math
import signal
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import httpx
import pytest
from playwright.async_api import Browser, Page, Request, async_playwright, expect

from service.broker import wait_for_port
from tests.events import at, contact_event
from tests.integration.cluster import Cluster
from tests.integration.stack import ARTIFACTS, eventually

pytestmark = pytest.mark.integration

# The worker writes progress records every 5 s (streams.folding.CLOSE_INTERVAL_S) while it runs, so
# a live API never goes longer than about 5 s without an update; 10 s cannot flap, and is short.
STALE_SECONDS = 10
HEARTBEAT_SECONDS = 3
THRESHOLDS = """\
defaults:
  window: 15m
  min_volume: 0
kpis:
  service_level: {direction: below, warning: 0.8, critical: 0.5}
  abandon_rate: {direction: above, warning: 0.2, critical: 0.5}
  asa_s: {direction: above, warning: 30, critical: 60}
  csat: {direction: below, warning: 0.8, critical: 0.4}
  longest_waiting_s: {direction: above, warning: 600, critical: 1200}
agent_states:
  on_contact: {warning: 900, critical: 1800}
  aux: {warning: 900, critical: 1200, reasons: {lunch: {warning: 3600, critical: 4800}}}
"""
# Started long ago and due far ahead: the line is near its 0.70 baseline whatever the day, so a seeded
# queue's service level of 1/3 (one of three contacts within 20 s) is behind it.
TARGETS = """\
targets:
  - {kpi: service_level, target: 0.8, baseline: 0.7, start: 2020-01-01, due: 2099-12-31, benchmark: 0.8}
"""
KPIS = ("waiting_now", "longest_waiting_s", "service_level", "asa_s", "abandon_rate", "offered", "answered", "csat")
STRIP = ("agents_available", "agents_on_contact", "agents_acw", "agents_aux")
STATE_NAMES = {"available": "Available", "on_contact": "On contact", "after_contact_work": "After-contact work", "aux": "Aux"}
DASH = "–"
SEVERITY = {"": 0, "ok": 1, "warning": 2, "critical": 3}


# ---- the page's formatting, written out independently ---------------------------------------


def percent(ratio: float | None) -> str:
    return DASH if ratio is None else f"{math.floor(ratio * 100 + 0.5)}%"


def duration(seconds: float | None) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    if seconds is None:
        return DASH
    total = math.floor(seconds + 0.5)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def seconds_of(shown: str) -> int:
    value = 0
    for part in shown.split(":"):
        value = value * 60 + int(part)
    return value


def expected_text(row: dict[str, Any]) -> dict[str, str]:
    """What a tile shows for a row, except the ticking longest wait."""
    return {
        "waiting_now": str(row["waiting_now"]),
        "service_level": percent(row["service_level"]),
        "asa_s": duration(row["asa_s"]),
        "abandon_rate": percent(row["abandon_rate"]),
        "offered": str(row["offered"]),
        "answered": str(row["answered"]),
        "csat": percent(row["csat"]),
    }


# ---- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    folder = tmp_path_factory.mktemp("wallboard")
    thresholds = folder / "thresholds.yaml"
    thresholds.write_text(THRESHOLDS)
    targets = folder / "targets.yaml"
    targets.write_text(TARGETS)
    config = folder / "cxpulse.yaml"
    config.write_text(
        f"kpi:\n  stale_seconds: {STALE_SECONDS}\n"
        f"api:\n  sse_heartbeat_seconds: {HEARTBEAT_SECONDS}\n"
        f"alerts:\n  thresholds_file: {thresholds}\n"
        f"targets:\n  file: {targets}\n"
    )
    running = Cluster("wallboard", config, partitions=2)
    await running.start(workers=1)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser, cluster: Cluster) -> AsyncIterator[Page]:
    """A 1920x1080 TV; fails the test on any script error, and on any request that leaves cxpulse."""
    tab = await browser.new_page(viewport={"width": 1920, "height": 1080})
    errors: list[str] = []
    elsewhere: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))

    def note(request: Request) -> None:
        if not request.url.startswith(cluster.api + "/"):
            elsewhere.append(request.url)

    tab.on("request", note)
    yield tab
    await tab.close()  # ends the page's SSE connection before the cluster stops
    assert errors == [], f"script errors on the page: {errors}"
    assert elsewhere == [], f"the page loaded something from elsewhere: {elsewhere}"


# ---- helpers ----------------------------------------------------------------------------------


def survey(contact: str, epoch_s: float, queue: str, csat: int) -> dict[str, Any]:
    return {
        "event_id": f"sv-{uuid.uuid4().hex}",
        "type": "survey.submitted",
        "time": at(epoch_s),
        "contact_id": contact,
        "customer_id": f"cust-{contact}",
        "queue": queue,
        "channel": "voice",
        "csat": csat,
    }


async def seed(cluster: Cluster, queue: str) -> dict[str, Any]:
    """Four calls (answered after 30 s and 10 s, abandoned after 45 s, one still waiting) and two
    CSAT answers; returns the queue's all-channels row once /v1/kpis shows all of it."""
    now = time.time()
    c1, c2, c3, c4 = (f"{queue}-c{n}" for n in range(1, 5))  # contact ids are global, not per queue
    await cluster.publish(
        [
            contact_event("offered", c1, now - 120, queue),
            contact_event("answered", c1, now - 90, queue),
            contact_event("offered", c2, now - 100, queue),
            contact_event("answered", c2, now - 90, queue, wait_s=10),
            contact_event("offered", c3, now - 80, queue),
            contact_event("abandoned", c3, now - 35, queue, wait_s=45),
            contact_event("offered", c4, now - 10, queue),
            survey(c1, now - 60, queue, csat=5),
            survey(c2, now - 60, queue, csat=2),
        ]
    )
    return await row_when(
        cluster, queue, lambda row: row["offered"] == 4 and row["surveys"] == 2 and row["waiting_now"] == 1
    )


def agent_event(agent: str, epoch_s: float, state: str, **extra: Any) -> dict[str, Any]:
    """agent.state_changed as a platform publishes it (streams/schemas/agent-event.v1.schema.json)."""
    return {
        "event_id": f"ag-{uuid.uuid4().hex}",
        "type": "agent.state_changed",
        "time": at(epoch_s),
        "agent_id": agent,
        "state": state,
        **extra,
    }


async def agents_when(cluster: Cluster, queue: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        answer = await cluster.get("/v1/agents", {"queue": queue})
        return answer if done(answer) else None

    return await eventually(probe, 120, f"the /v1/agents answer of {queue}")


async def kpi_row(cluster: Cluster, queue: str) -> dict[str, Any] | None:
    body = await cluster.get("/v1/kpis", {"queue": queue, "channel": "*", "window": "15m"})
    return body["items"][0] if body["items"] else None


async def row_when(cluster: Cluster, queue: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        row = await kpi_row(cluster, queue)
        return row if row is not None and done(row) else None

    return await eventually(probe, 120, f"the /v1/kpis row of {queue}")


async def shown(page: Page, queue: str) -> dict[str, str]:
    tile = page.locator(f'.tile[data-queue="{queue}"]')
    return {kpi: (await tile.locator(f'[data-kpi="{kpi}"]').text_content() or "") for kpi in KPIS}


async def open_live(page: Page, cluster: Cluster, query: str) -> None:
    await page.goto(f"{cluster.api}/wallboard{query}")
    await expect(page.locator("body")).to_have_attribute("data-connection", "live", timeout=30_000)
    await expect(page.locator("body")).to_have_attribute("data-stale", "false", timeout=60_000)


# ---- tests ------------------------------------------------------------------------------------


async def test_tiles_show_the_numbers_and_statuses_of_the_api(cluster: Cluster, page: Page) -> None:
    queue, idle = f"wb-{uuid.uuid4().hex[:8]}", f"idle-{uuid.uuid4().hex[:8]}"
    row = await seed(cluster, queue)
    await open_live(page, cluster, f"?queue={queue},{idle}")
    tile = page.locator(f'.tile[data-queue="{queue}"]')
    await expect(tile.locator('[data-kpi="offered"]')).to_have_text(str(row["offered"]))

    before = await kpi_row(cluster, queue)
    values = await shown(page, queue)
    after = await kpi_row(cluster, queue)
    assert before is not None and after is not None
    assert expected_text(before) == expected_text(after), "the row moved while the page was read; nothing was published"
    assert {kpi: values[kpi] for kpi in expected_text(row)} == expected_text(row)
    # The longest wait ticks on the page between messages: it lies between the API's readings around it.
    assert before["longest_waiting_s"] - 1 <= seconds_of(values["longest_waiting_s"]) <= after["longest_waiting_s"] + 1

    # Colours come from row.status (thresholds above give ok, warning and critical on this queue).
    status = row["status"]
    assert {status["asa_s"], status["abandon_rate"], status["service_level"]} == {"ok", "warning", "critical"}
    for kpi in KPIS:
        await expect(tile.locator(f'[data-kpi="{kpi}"]')).to_have_attribute("data-status", status.get(kpi) or "")
    worst = max((level or "" for level in status.values()), key=SEVERITY.__getitem__)
    await expect(tile).to_have_attribute("data-status", worst)

    # A chosen queue without rows still gets its tile, every value "–".
    assert await shown(page, idle) == dict.fromkeys(KPIS, DASH)
    await expect(page.locator("#window")).to_have_attribute("data-window", "15m")
    await page.screenshot(path=ARTIFACTS / "wallboard-tile.png")


async def test_a_tile_marks_the_configured_target_coloured_by_on_track(cluster: Cluster, page: Page) -> None:
    queue = f"wb-{uuid.uuid4().hex[:8]}"
    row = await seed(cluster, queue)
    goal = row["target"]["service_level"]
    assert set(row["target"]) == {"service_level"} and goal["target"] == 0.8
    # judged on today, which holds the seeded contacts unless they straddle midnight UTC
    if goal["actual"] == 1 / 3:
        assert goal["on_track"] is False
    await open_live(page, cluster, f"?queue={queue}")
    tile = page.locator(f'.tile[data-queue="{queue}"]')
    mark = tile.locator('[data-target="service_level"]')
    await expect(mark).to_have_text("target 80%")
    await expect(mark).to_have_attribute("data-on-track", {True: "true", False: "false", None: ""}[goal["on_track"]])
    await expect(tile.locator('[data-target="abandon_rate"]')).to_be_hidden()
    async with httpx.AsyncClient(base_url=cluster.api) as client:
        metrics = (await client.get("/metrics")).text
    assert 'cxpulse_kpi_target{channel="*",kpi="service_level",queue="*"} 0.8' in metrics
    await page.screenshot(path=ARTIFACTS / "wallboard-targets.png")


async def test_a_counted_event_reaches_the_tile(cluster: Cluster, page: Page) -> None:
    queue = f"wb-{uuid.uuid4().hex[:8]}"
    row = await seed(cluster, queue)
    await open_live(page, cluster, f"?queue={queue}")
    tile = page.locator(f'.tile[data-queue="{queue}"]')
    await expect(tile.locator('[data-kpi="offered"]')).to_have_text(str(row["offered"]))

    await cluster.publish([contact_event("offered", f"{queue}-c5", time.time() - 1, queue)])
    new = await row_when(cluster, queue, lambda r: r["offered"] > row["offered"])
    assert new["offered"] == row["offered"] + 1
    await expect(tile.locator('[data-kpi="offered"]')).to_have_text(str(new["offered"]))
    await expect(tile.locator('[data-kpi="waiting_now"]')).to_have_text(str(new["waiting_now"]))


async def test_board_of_all_queues_turns_stale_when_the_worker_stops(cluster: Cluster, page: Page) -> None:
    queue = f"wb-{uuid.uuid4().hex[:8]}"
    await seed(cluster, queue)
    await open_live(page, cluster, "")
    body = await cluster.get("/v1/kpis", {"channel": "*", "window": "15m"})
    queues = sorted({row["queue"] for row in body["items"]} - {"*"})
    assert queue in queues
    await expect(page.locator(".tile")).to_have_count(len(queues))
    assert sorted(await page.locator(".tile").evaluate_all("tiles => tiles.map(t => t.dataset.queue)")) == queues
    await expect(page.locator("#stale-banner")).to_be_hidden()
    await page.screenshot(path=ARTIFACTS / "wallboard.png")

    await cluster.kill("worker-0", signal.SIGKILL)
    try:
        await expect(page.locator("body")).to_have_attribute("data-stale", "true", timeout=(STALE_SECONDS + 20) * 1000)
        await expect(page.locator("#stale-banner")).to_be_visible()
        await expect(page.locator("#stale-banner")).to_contain_text("STALE")
        await expect(page.locator("#stale-detail")).to_contain_text("last update")
        await expect(page.locator("#stale-detail")).to_contain_text("workers")
        await expect(page.locator("body")).to_have_attribute("data-connection", "live")
        assert (await cluster.get("/v1/kpis", {"queue": queue}))["stale"] is True
        await page.screenshot(path=ARTIFACTS / "wallboard-stale.png")
    finally:
        await cluster.start_worker("worker-0")
    await expect(page.locator("body")).to_have_attribute("data-stale", "false", timeout=120_000)


async def test_board_turns_stale_when_the_api_is_unreachable(cluster: Cluster, page: Page) -> None:
    queue = f"wb-{uuid.uuid4().hex[:8]}"
    await seed(cluster, queue)  # a worker that has counted nothing yet sends no progress: the API is stale
    await open_live(page, cluster, f"?queue={queue}")
    await cluster.kill("api", signal.SIGKILL)
    try:
        await expect(page.locator("body")).not_to_have_attribute("data-connection", "live")
        await expect(page.locator("body")).to_have_attribute("data-stale", "true", timeout=20_000)
        await expect(page.locator("#stale-detail")).to_contain_text("no connection")
    finally:
        await cluster._spawn("api", "api")  # Cluster restarts workers only; the API the same way start() does
        await wait_for_port("127.0.0.1", cluster.api_port, 60)
    # EventSource reconnects by itself and the server's first message is a fresh snapshot.
    await expect(page.locator("body")).to_have_attribute("data-connection", "live", timeout=60_000)
    await expect(page.locator("body")).to_have_attribute("data-stale", "false", timeout=60_000)


async def test_board_turns_stale_when_the_stream_falls_silent(cluster: Cluster, page: Page) -> None:
    """A quiet selection gets only heartbeats; with max_silence below their interval the page marks
    the board stale between them and fresh again at each one."""
    seeded = f"wb-{uuid.uuid4().hex[:8]}"
    await seed(cluster, seeded)  # the API is fresh
    await page.goto(f"{cluster.api}/wallboard?queue=quiet-{uuid.uuid4().hex[:8]}&max_silence=1")
    body = page.locator("body")
    await expect(page.locator("#stale-detail")).to_contain_text(
        "nothing heard from cxpulse", timeout=HEARTBEAT_SECONDS * 3000
    )
    await expect(body).to_have_attribute("data-stale", "true", timeout=HEARTBEAT_SECONDS * 3000)
    await expect(body).to_have_attribute("data-connection", "live")
    await expect(body).to_have_attribute("data-stale", "false", timeout=HEARTBEAT_SECONDS * 3000)


async def test_the_agents_strip_and_board_show_the_published_agents(cluster: Cluster, page: Page) -> None:
    """Five agents of a queue of their own, published to cx.agents: the tile's strip counts them by
    state as the API's row does, and each has a card with its state, reason, time in state counting
    up, the queue of its contact, its contacts today and the colour its time in state earns under
    the test's agent_states (on a contact: warning above 900 s; aux: 900 s, lunch 3600 s)."""
    queue = f"wb-{uuid.uuid4().hex[:8]}"
    now = time.time()
    agents = {name: f"{queue}-{name.lower()}" for name in ("Ada", "Bo", "Cy", "Di", "Ed")}
    await cluster.publish(
        [
            # Ada: available, then on a contact of the queue for 2 minutes: ok.
            agent_event(agents["Ada"], now - 600, "available", agent_name="Ada", queues=[queue]),
            agent_event(agents["Ada"], now - 120, "on_contact", contact_id=f"{queue}-c1", queue=queue),
            # Bo: on a break for 25 minutes (aux without lunch's limits): critical.
            agent_event(agents["Bo"], now - 1500, "aux", agent_name="Bo", reason="break", queues=[queue]),
            # Cy: at lunch for 25 minutes: lunch allows an hour, ok.
            agent_event(agents["Cy"], now - 1500, "aux", agent_name="Cy", reason="lunch", queues=[queue]),
            # Di: wrapping up.
            agent_event(agents["Di"], now - 30, "after_contact_work", agent_name="Di", queues=[queue]),
            # Ed: on a contact for 14 min 20 s: ok now, warning once past 15 minutes, counted on the page.
            agent_event(agents["Ed"], now - 860, "on_contact", agent_name="Ed", queues=[queue], contact_id=f"{queue}-c2", queue=queue),
        ]
    )
    answer = await agents_when(cluster, queue, lambda a: len(a["agents"]) == 5)
    row = await row_when(cluster, queue, lambda r: r["agents_staffed"] == 5)
    assert {name: row[name] for name in STRIP} == {
        "agents_available": 0, "agents_on_contact": 2, "agents_acw": 1, "agents_aux": 2,
    }  # fmt: skip
    await open_live(page, cluster, f"?queue={queue}&agents_poll=1")
    await expect(page.locator("body")).to_have_attribute("data-agents", "true")
    tile = page.locator(f'.tile[data-queue="{queue}"]')
    for name in STRIP:
        await expect(tile.locator(f'[data-kpi="{name}"]')).to_have_text(str(row[name]))
    await expect(tile.locator(".strip")).to_be_visible()

    cards = page.locator("#agents .agent")
    await expect(cards).to_have_count(5)
    assert await cards.evaluate_all("cards => cards.map(c => c.dataset.agent)") == sorted(agents.values())
    served = {agent["agent_id"]: agent for agent in answer["agents"]}
    for name, agent_id in agents.items():
        card = page.locator(f'#agents .agent[data-agent="{agent_id}"]')
        agent = served[agent_id]
        await expect(card.locator('[data-field="name"]')).to_have_text(name)
        await expect(card.locator('[data-field="state"]')).to_have_text(STATE_NAMES[agent["state"]])
        await expect(card.locator('[data-field="reason"]')).to_have_text(agent["reason"] if agent["state"] == "aux" else "")
        contact_queue = queue if agent["state"] == "on_contact" else ""
        await expect(card.locator('[data-field="queue"]')).to_have_text(contact_queue)
        await expect(card.locator('[data-field="handled"]')).to_have_text(str(agent["today"]["handled"]))
        await expect(card).to_have_attribute("data-state", agent["state"])
    await expect(page.locator(f'#agents .agent[data-agent="{agents["Bo"]}"]')).to_have_attribute("data-status", "critical")
    await expect(page.locator(f'#agents .agent[data-agent="{agents["Cy"]}"]')).to_have_attribute("data-status", "ok")
    await expect(page.locator(f'#agents .agent[data-agent="{agents["Ada"]}"]')).to_have_attribute("data-status", "ok")

    # The time in state lies between the API's readings around it, and counts up.
    ada = page.locator(f'#agents .agent[data-agent="{agents["Ada"]}"] [data-field="time"]')
    before = (await agents_when(cluster, queue, lambda a: True))["agents"]
    shown_time = await ada.text_content() or ""
    after = (await agents_when(cluster, queue, lambda a: True))["agents"]
    ada_before, ada_after = (next(a for a in answers if a["agent_id"] == agents["Ada"]) for answers in (before, after))
    assert ada_before["time_in_state_s"] - 2 <= seconds_of(shown_time) <= ada_after["time_in_state_s"] + 2
    await expect(ada).not_to_have_text(shown_time, timeout=10_000)

    # Ed crosses 900 s on a contact: the page turns the card amber by itself, and the API agrees once
    # its frame (up to a refresh behind the page's count) is past 900 s too.
    ed = page.locator(f'#agents .agent[data-agent="{agents["Ed"]}"]')
    await expect(ed).to_have_attribute("data-status", "warning", timeout=120_000)

    def ed_of(answer: dict[str, Any]) -> dict[str, Any]:
        return next(agent for agent in answer["agents"] if agent["agent_id"] == agents["Ed"])

    ed_now = ed_of(await agents_when(cluster, queue, lambda a: ed_of(a)["time_in_state_s"] > 900))
    assert ed_now["status"] == "warning"
    await page.screenshot(path=ARTIFACTS / "wallboard-agents.png")


async def test_page_files_are_an_allow_list(cluster: Cluster) -> None:
    async with httpx.AsyncClient(base_url=cluster.api) as client:
        page_response = await client.get("/wallboard")
        assert page_response.status_code == 200
        assert page_response.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page_response.headers["content-security-policy"]
        assert page_response.headers["referrer-policy"] == "no-referrer"
        for name, kind in (("wallboard.css", "text/css"), ("wallboard.js", "text/javascript")):
            asset = await client.get(f"/wallboard/{name}")
            assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
            assert asset.text == (Path(__file__).resolve().parents[2] / "api" / "wallboard" / name).read_text()
        for name in ("index.html", "..%2Frouters%2Fwallboard.py", "%2E%2E%2F__init__.py", "missing.js"):
            assert (await client.get(f"/wallboard/{name}")).status_code == 404, name


def ticket(kind: str, ticket_id: str, epoch_s: float, customer: str, **given: Any) -> dict[str, Any]:
    """A ticket step as a helpdesk publishes it (streams/schemas/ticket-event.v1.schema.json)."""
    return {
        "event_id": f"tk-{uuid.uuid4().hex}", "type": f"ticket.{kind}", "time": at(epoch_s), "ticket_id": ticket_id,
        "customer_id": customer, **given,
    }  # fmt: skip


def sentiment(contact: str, epoch_s: float, queue: str, score: float, label: str) -> dict[str, Any]:
    """A score as `cxpulse sentiment` publishes it (streams/schemas/chat-event.v1.schema.json)."""
    return {
        "event_id": f"cs-{uuid.uuid4().hex}", "type": "chat.sentiment", "time": at(epoch_s), "contact_id": contact,
        "customer_id": f"cust-{contact}", "queue": queue, "channel": "chat", "message_event_id": f"m-{uuid.uuid4().hex}",
        "score": score, "label": label,
    }  # fmt: skip


async def test_tiles_show_backlog_and_sentiment_once_a_shown_row_has_them(cluster: Cluster, page: Page) -> None:
    """Three tickets of a queue, one resolved: its tile shows a backlog of 2; three scored chat
    messages (0.8, 0.0, -0.6): mean 0.067 shown "0.1", one negative in three "33%". A queue without
    either shows its own 0 and a dash beside it, and alone it shows neither line."""
    queue, plain = f"wb-{uuid.uuid4().hex[:8]}", f"wb-{uuid.uuid4().hex[:8]}"
    now = time.time()
    await cluster.publish(
        [
            ticket("created", f"{queue}-t1", now - 600, f"cust-{queue}-1", queue=queue, channel="email", category="billing"),
            ticket("created", f"{queue}-t2", now - 500, f"cust-{queue}-2", queue=queue, channel="web_form", complaint=True),
            ticket("created", f"{queue}-t3", now - 400, f"cust-{queue}-3", queue=queue, channel="email"),
            ticket("resolved", f"{queue}-t3", now - 100, f"cust-{queue}-3"),
            contact_event("offered", f"{queue}-c1", now - 60, queue),
            contact_event("offered", f"{plain}-c1", now - 60, plain),
            sentiment(f"{queue}-c1", now - 50, queue, 0.8, "positive"),
            sentiment(f"{queue}-c1", now - 40, queue, 0.0, "neutral"),
            sentiment(f"{queue}-c1", now - 30, queue, -0.6, "negative"),
        ]
    )
    await row_when(cluster, queue, lambda r: r["tickets_backlog"] == 2 and r["offered"] == 1 and r["messages_scored"] == 3)
    await row_when(cluster, plain, lambda r: r["offered"] == 1)
    await open_live(page, cluster, f"?queue={queue},{plain}")
    await expect(page.locator("body")).to_have_attribute("data-cx", "true")
    tile, other = (page.locator(f'.tile[data-queue="{name}"]') for name in (queue, plain))
    await expect(tile.locator('[data-kpi="tickets_backlog"]')).to_have_text("2")
    await expect(other.locator('[data-kpi="tickets_backlog"]')).to_have_text("0")
    await expect(tile.locator('[data-kpi="sentiment_mean"]')).to_have_text("0.1")
    await expect(tile.locator('[data-kpi="sentiment_negative_share"]')).to_have_text("33%")
    await expect(other.locator('[data-kpi="sentiment_mean"]')).to_have_text(DASH)
    await page.screenshot(path=ARTIFACTS / "wallboard-tickets-sentiment.png")

    await open_live(page, cluster, f"?queue={plain}")
    await expect(page.locator("body")).to_have_attribute("data-cx", "false")
    await expect(page.locator(f'.tile[data-queue="{plain}"] [data-for="tickets_backlog"]')).to_be_hidden()
    await expect(page.locator(f'.tile[data-queue="{plain}"] [data-for="sentiment_mean"]')).to_be_hidden()
