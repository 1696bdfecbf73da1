"""Freshness: how long after its publication an event's effect is visible in GET /v1/kpis, under steady load.

Background traffic is simulated events published at a fixed rate (events/s), each stamped with the
moment it is sent, so event time follows the wall clock as in production (a backlog stamped in the past
would make the probes late events; one running ahead would close their buckets). Probes are
``contact.offered`` events for dedicated probe queues, one in flight per queue ("lane"): the delay
runs from the broker's acknowledgement of the probe to the first /v1/kpis answer whose ``offered``
for that queue went up. One poller asks for every lane's row every ``POLL_EVERY_S`` on a keep-alive
connection, so the delay includes up to one polling interval, as a wallboard's would.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence
from urllib.parse import urlencode

from adapters.publisher import Publisher
from bench.publishing import Ends, merge_ends
from bench.rawhttp import Connection, request_bytes

POLL_EVERY_S = 0.02
PACE_TICK_S = 0.05
PROBE_CHANNEL = "voice"
PROBE_WINDOW = "15m"
PROBE_TIMEOUT_S = 30.0
# A random pause between one lane's probes, so probes do not fall into step with the API's refresh.
PROBE_PAUSE_S = (0.0, 0.1)


def rfc3339(moment: float) -> str:
    """Event time as the simulator writes it: UTC with milliseconds."""
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def probe_queue(lane: int) -> str:
    return f"bench-probe-{lane}"


def probe_event(run_id: str, number: int, lane: int, moment: float) -> dict[str, Any]:
    """A contact offered now to a probe queue; no customer, so its key (the contact id) spreads probes over partitions."""
    return {
        "event_id": f"bench-probe-{run_id}-{number}",
        "type": "contact.offered",
        "time": rfc3339(moment),
        "contact_id": f"bench-probe-{run_id}-c{number}",
        "customer_id": None,
        "queue": probe_queue(lane),
        "channel": PROBE_CHANNEL,
    }


def probes_target(lanes: int) -> str:
    query = [("queue", probe_queue(lane)) for lane in range(1, lanes + 1)]
    return "/v1/kpis?" + urlencode([*query, ("channel", PROBE_CHANNEL), ("window", PROBE_WINDOW)])


def offered_by_queue(body: bytes) -> dict[str, int]:
    return {row["queue"]: int(row["offered"]) for row in json.loads(body)["items"]}


@dataclass
class SteadyRun:
    """What the background publisher achieved: a rate below the asked one means the bench, not the
    service, was the limit, and ``worst_backlog`` says by how many events it fell behind schedule."""

    events: int = 0
    seconds: float = 0.0
    worst_backlog: int = 0
    ends: Ends = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "seconds": self.seconds,
            "events_per_s": self.events / self.seconds if self.seconds else 0.0,
            "worst_backlog_events": self.worst_backlog,
            "published_every_s": PACE_TICK_S,
        }


async def publish_steady(
    publisher: Publisher, events: Sequence[dict[str, Any]], rate: float, duration_s: float
) -> SteadyRun:
    """Publish ``rate`` events/s for ``duration_s``: every tick, the events due by now, stamped now.

    A tick of PACE_TICK_S is a producer's linger: what is due goes out together, packed into records
    of up to the publisher's events per record, one per partition.
    """
    run = SteadyRun()
    total = min(len(events), int(rate * duration_s))
    started = time.monotonic()
    while run.events < total:
        elapsed = time.monotonic() - started
        due = min(total, int(elapsed * rate)) - run.events
        if due <= 0:
            await asyncio.sleep(PACE_TICK_S - elapsed % PACE_TICK_S)
            continue
        run.worst_backlog = max(run.worst_backlog, due)
        chunk = events[run.events : run.events + due]
        stamp = rfc3339(time.time())
        for event in chunk:
            event["time"] = stamp
        merge_ends(run.ends, await publisher.publish_tracked(chunk))
        run.events += due
    run.seconds = time.monotonic() - started
    return run


@dataclass
class Probe:
    lane: int
    baseline: int
    sent_at: float
    acked_at: float = 0.0
    seen_at: float = 0.0
    visible: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def delay_s(self) -> float:
        """Acknowledged to visible; a probe seen before its acknowledgement came back counts as 0."""
        return max(0.0, self.seen_at - self.acked_at)


@dataclass
class Prober:
    """Probe lanes and the poller that sees their effects; ``done`` holds every probe that became visible."""

    host: str
    port: int
    publisher: Publisher
    lanes: int
    run_id: str
    offered: dict[str, int] = field(default_factory=dict)
    in_flight: dict[int, Probe] = field(default_factory=dict)
    done: list[Probe] = field(default_factory=list)
    lost: int = 0
    polls: int = 0
    _sent: int = 0

    async def run(self, duration_s: float) -> None:
        """Probe for ``duration_s``; the poller runs until the last lane has finished its probe."""
        stop_at = time.monotonic() + duration_s
        poller = asyncio.create_task(self._poll())
        try:
            await asyncio.gather(*(self._lane(lane, stop_at) for lane in range(1, self.lanes + 1)))
        finally:
            poller.cancel()
            failed = (await asyncio.gather(poller, return_exceptions=True))[0]
        if not isinstance(failed, asyncio.CancelledError):
            raise RuntimeError(f"the /v1/kpis poller stopped: {failed!r}")

    async def _lane(self, lane: int, stop_at: float) -> None:
        while time.monotonic() < stop_at:
            self._sent += 1
            probe = Probe(lane, self.offered.get(probe_queue(lane), 0), time.time())
            self.in_flight[lane] = probe
            await self.publisher.publish([probe_event(self.run_id, self._sent, lane, probe.sent_at)])
            probe.acked_at = time.time()
            try:
                await asyncio.wait_for(probe.visible.wait(), PROBE_TIMEOUT_S)
            except TimeoutError:
                self.lost += 1
                return
            finally:
                del self.in_flight[lane]
            self.done.append(probe)
            await asyncio.sleep(random.uniform(*PROBE_PAUSE_S))

    async def _poll(self) -> None:
        request = request_bytes(self.host, self.port, probes_target(self.lanes))
        connection = await Connection.open(self.host, self.port)
        try:
            while True:
                asked = time.monotonic()
                response = await connection.get(request)
                seen_at = time.time()
                self.polls += 1
                if response.status == 200:
                    self.offered = offered_by_queue(response.body)
                    self._see(seen_at)
                await asyncio.sleep(max(0.0, POLL_EVERY_S - (time.monotonic() - asked)))
        finally:
            await connection.close()

    def _see(self, seen_at: float) -> None:
        for lane, probe in self.in_flight.items():
            if not probe.visible.is_set() and self.offered.get(probe_queue(lane), 0) > probe.baseline:
                probe.seen_at = seen_at
                probe.visible.set()
