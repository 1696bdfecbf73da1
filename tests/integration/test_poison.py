"""Poison records against the real service: each is refused with its reason in cx.deadletter (or,
for the busy customer, counted exactly once), none stops or stalls the stream, the good events
published after them are counted exactly, and the worker's memory stays bounded.

The busy customer is the placeholder id a platform sends for every anonymous caller: 100,000 offers
of one customer in arrays of 1,000, and 200,000 in a single record (a JSON array of 42 MB). Folding
them cost quadratic time in that customer's offers before (the issue measured 5,000 offers in 2.6 s
and 200,000 in over three minutes, and a restarted worker blocked again); the deadlines below are
generous for linear work and hopeless for quadratic.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from streams import deadletter
from tests.events import contact_event
from tests.integration.stack import Stack, eventually, produce

BUSY_OFFERS = 100_000
PER_RECORD = 1_000
ONE_RECORD_OFFERS = 200_000
# The worker's resident memory may not pass this while it folds a poison record. Measured here:
# peaks of 464-595 MB folding the 42 MB array of 200,000 offers (the record, its 200,000 decoded
# events and the contacts they open, beside what the shared stack's other tests left). A fold
# that kept a copy of the record or of the customer's offers per event would pass it.
RSS_BOUND_BYTES = 1024 * 1024 * 1024


async def publish(bootstrap: str, records: list[tuple[str, bytes | None, bytes | None]]) -> None:
    """By a producer allowed to send what cxpulse's own would refuse."""
    await produce(bootstrap, records, max_request_size=16_000_000)


async def read_dead_letters(bootstrap: str, wanted: set[str], timeout_s: float) -> dict[str, dict[str, Any]]:
    """Dead letters whose source key is one of ``wanted``: key -> headers plus the value's length."""
    consumer = AIOKafkaConsumer("cx.deadletter", bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                fetch_max_bytes=64_000_000, max_partition_fetch_bytes=64_000_000)  # fmt: skip
    found: dict[str, dict[str, Any]] = {}
    await consumer.start()
    try:
        async def all_there() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    key = (record.key or b"").decode(errors="replace")
                    if key in wanted:
                        found[key] = {**deadletter.describe(record.headers), "length": len(record.value or b"")}
            return set(found) == wanted

        await eventually(all_there, timeout_s, f"dead letters of {sorted(wanted)}")
    finally:
        await consumer.stop()
    return found


async def offered(stack: Stack, queue: str) -> int:
    """Offered in the last 60 minutes: every event these tests publish lies within its last 20."""
    response = await stack.get(f"/v1/kpis?queue={queue}&channel=voice&window=60m")
    if response.status_code == 503:  # not ready yet
        return 0
    items = response.json()["items"]
    return int(items[0]["offered"]) if items else 0


async def test_poison_records_are_refused_and_the_stream_goes_on(stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    queue = f"poison-{run}"
    now = time.time()
    huge = json.dumps({**contact_event("offered", "h1", now, queue), "event_id": "x" * 5_000_000}).encode()
    future = contact_event("offered", "f1", now, queue)
    future["time"] = "2999-01-01T00:00:00Z"
    poison: dict[str, bytes | None] = {
        f"{run}-huge": huge,
        f"{run}-deep": b"[" * 100_000 + b"]" * 100_000,
        f"{run}-utf8": b'{"event_id": "\xff\xfe", "type": "contact.offered"}',
        f"{run}-tombstone": None,
        f"{run}-future": json.dumps(future).encode(),
    }
    good = [contact_event("offered", f"g{n}", now - 30 + n, queue) for n in range(3)]
    await publish(
        stack.bootstrap,
        [("cx.calls", key.encode(), value) for key, value in poison.items()]
        + [("cx.calls", None, json.dumps(event).encode()) for event in good],  # no key: any partition
    )

    async def good_counted() -> int | None:
        count = await offered(stack, queue)
        return count if count >= 3 else None

    assert await eventually(good_counted, 120, "the good events after the poison counted") == 3
    letters = await read_dead_letters(stack.bootstrap, set(poison), 60)
    kinds = {key.removeprefix(f"{run}-"): letter[deadletter.KIND] for key, letter in letters.items()}
    assert kinds == {"huge": "schema", "deep": "not_json", "utf8": "not_json", "tombstone": "empty", "future": "future"}
    cut = letters[f"{run}-huge"]
    assert cut["length"] == deadletter.MAX_VALUE_BYTES and int(cut[deadletter.ORIGINAL_BYTES]) == len(huge)
    assert "nested too deeply" in letters[f"{run}-deep"][deadletter.REASON]
    assert "2999-01-01" in letters[f"{run}-future"][deadletter.REASON]
    # Nothing of the poison opened a bucket: no history row in the year 2999.
    history = (await stack.get("/v1/history", {"queue": queue, "from": "2998-12-31T00:00:00Z",
                                                "to": "2999-01-02T00:00:00Z", "interval": "1d"})).json()  # fmt: skip
    assert not any(row.get("offered") for row in history.get("items", [])), history


async def test_one_customer_with_a_hundred_thousand_contacts_does_not_stall_the_fold(stack: Stack) -> None:
    queue = f"busy-{uuid.uuid4().hex[:8]}"
    start = time.time() - 900
    events = [
        contact_event("offered", f"{queue}-c{n}", start + n * 0.005, queue, customer_id="anonymous")
        for n in range(BUSY_OFFERS)
    ]
    records: list[tuple[str, bytes | None, bytes | None]] = [
        ("cx.calls", b"anonymous", json.dumps(events[i : i + PER_RECORD]).encode())
        for i in range(0, BUSY_OFFERS, PER_RECORD)
    ]
    after = contact_event("offered", "after", time.time() - 5, queue, customer_id="someone-else")
    records.append(("cx.calls", b"someone-else", json.dumps(after).encode()))
    await publish(stack.bootstrap, records)

    async def all_counted() -> int | None:
        count = await offered(stack, queue)
        return count if count >= BUSY_OFFERS + 1 else None

    # By hand: every offer is counted once, and the one after them too.
    assert await eventually(all_counted, 240, f"{BUSY_OFFERS:,} offers of one customer counted") == BUSY_OFFERS + 1



class PeakMemory:
    """The worker's resident memory, as its own /metrics reports it, sampled by each ``sample()``."""

    def __init__(self, stack: Stack) -> None:
        self._url = stack.worker_metrics
        self.peak = 0.0
        self.samples = 0

    async def sample(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            text = (await client.get(self._url)).text
        [rss] = [float(line.split()[1]) for line in text.splitlines() if line.startswith("process_resident_memory_bytes ")]
        self.peak = max(self.peak, rss)
        self.samples += 1

    def check(self) -> None:
        assert self.samples and self.peak < RSS_BOUND_BYTES, f"worker RSS peaked at {self.peak / 2**20:.0f} MB"


async def test_two_hundred_thousand_events_of_one_customer_in_one_record_count_once(stack: Stack) -> None:
    queue = f"array-{uuid.uuid4().hex[:8]}"
    start = time.time() - 900
    events = [
        contact_event("offered", f"{queue}-c{n}", start + n * 0.002, queue, customer_id="anonymous")
        for n in range(ONE_RECORD_OFFERS)
    ]
    record = json.dumps(events).encode()
    after = contact_event("offered", "after", time.time() - 5, queue, customer_id="someone-else")
    # aiokafka refuses a record over max_request_size before sending it; the broker takes it.
    published = time.monotonic()
    await produce(stack.bootstrap, [("cx.calls", b"anonymous", record)], max_request_size=64_000_000)
    await publish(stack.bootstrap, [("cx.calls", b"anonymous", json.dumps(after).encode())])
    memory = PeakMemory(stack)

    async def all_counted() -> int | None:
        await memory.sample()
        count = await offered(stack, queue)
        return count if count >= ONE_RECORD_OFFERS + 1 else None

    # By hand: each of the 200,000 offers once (distinct contacts and event ids), and the one after.
    assert len(record) > 40_000_000, len(record)
    assert await eventually(all_counted, 240, f"{ONE_RECORD_OFFERS:,} offers of one record counted") == ONE_RECORD_OFFERS + 1
    print(f"\n{ONE_RECORD_OFFERS:,} offers in one record of {len(record) / 1e6:.1f} MB: all counted "
          f"{time.monotonic() - published:.1f} s after publishing began; worker RSS peak {memory.peak / 2**20:.0f} MB")
    memory.check()


async def test_an_event_of_1970_is_dead_lettered_as_past_and_the_stream_goes_on(stack: Stack) -> None:
    """An event at the epoch (a producer's unset time) is before ``kpi.earliest_event_time``
    (1980-01-01 by default): dead-lettered with kind ``past``, never counted, not even into a
    1970-01-01 row of a partition that has closed nothing yet, and the event after it counts."""
    run = uuid.uuid4().hex[:8]
    queue = f"epoch-{run}"
    key = f"{run}-epoch"
    epoch = contact_event("offered", f"{run}-e", 0, queue)
    epoch["time"] = "1970-01-01T00:00:00Z"
    after = contact_event("offered", f"{run}-after", time.time() - 5, queue)
    # One key: one partition, where the event after is folded after the epoch one.
    await publish(stack.bootstrap, [("cx.calls", key.encode(), json.dumps(epoch).encode()),
                                    ("cx.calls", key.encode(), json.dumps(after).encode())])  # fmt: skip
    memory = PeakMemory(stack)

    async def after_counted() -> int | None:
        await memory.sample()
        return await offered(stack, queue) or None

    assert await eventually(after_counted, 120, "the event after the 1970 one counted") == 1
    letter = (await read_dead_letters(stack.bootstrap, {key}, 60))[key]
    assert letter[deadletter.KIND] == "past" and "1970-01-01" in letter[deadletter.REASON], letter
    day = {"queue": queue, "channel": "voice", "from": "1970-01-01T00:00:00Z", "to": "1970-01-02T00:00:00Z", "interval": "1d"}
    rows = (await stack.get_json("/v1/history", day))["items"]
    assert sum(row["offered"] for row in rows if row["date"] == "1970-01-01") == 0
    assert await offered(stack, queue) == 1
    memory.check()
