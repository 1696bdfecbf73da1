"""`make run` as a user sees it: demo numbers appear, and Ctrl-C leaves no process behind."""

import signal

import pytest

from tests.integration.stack import Stack, alive, descendants, eventually

pytestmark = pytest.mark.integration


async def test_simulated_traffic_shows_up_and_ctrl_c_stops_everything() -> None:
    stack = Stack("lifecycle", ["--simulate", "--backfill-minutes", "10"])
    await stack.start()
    assert stack.process is not None
    started = descendants(stack.process.pid)
    try:
        async def numbers() -> set[str] | None:
            """Channels with contacts offered: the demo's tickets (email, web_form, social) and its
            customer base are published first, so calls and chats may show a moment later."""
            items = (await stack.get("/v1/kpis")).json()["items"]
            offered = {item["channel"] for item in items if item["offered"] > 0}
            return offered if offered >= {"voice", "chat"} else None

        await eventually(numbers, 90, "simulated calls and chats offered in /v1/kpis")

        async def agents() -> dict | None:
            """The demo's agents (cx.agents) are counted: staffed now, and their time in the window."""
            items = (await stack.get("/v1/kpis")).json()["items"]
            overall = next(item for item in items if (item["queue"], item["channel"]) == ("*", "*"))
            return overall if overall["agents_staffed"] > 0 and overall["occupancy"] is not None else None

        overall = await eventually(agents, 90, "simulated agents in /v1/kpis")
        assert 0 < overall["occupancy"] <= 1 and overall["staffed_s"] > 0
        metrics = (await stack.get("/metrics")).text
        assert "cxpulse_window_offered_contacts{" in metrics
        assert len(started) >= 4, f"expected broker, worker, api and simulator, saw {started}"
    finally:
        code = await stack.stop(signal.SIGINT)
    assert code == 0
    assert not [pid for pid in started if alive(pid)]


async def test_children_die_with_a_killed_supervisor() -> None:
    stack = Stack("killed")
    await stack.start()
    assert stack.process is not None
    started = descendants(stack.process.pid)
    assert len(started) >= 3, f"expected broker, worker and api, saw {started}"
    await stack.stop(signal.SIGKILL)

    async def all_gone() -> bool:
        return not [pid for pid in started if alive(pid)]

    await eventually(all_gone, 30, f"children {sorted(started)} to exit after the supervisor was killed")
