"""The ceiling of ``cxpulse bench pipeline``: a bare aiokafka consumer that decodes and aggregates the events.

It reads what the worker reads (every source partition, records holding one JSON object or a JSON array
of events) and does the least a KPI service must do with them: decode every record and count each event
into its (queue, channel). Its rate is what this machine, Python and aiokafka allow without Faust,
validation, state or output, so the pipeline's rate is judged as a share of it.

The same ``Tally`` also counts the events the bench generates as it publishes them, and the counts it
keeps are the ones the pipeline's history is checked against: written independently of ``kpis/`` on
purpose, so a bug there cannot hide itself. It does not deduplicate by ``event_id`` (the simulator
numbers its events, so none repeat); ``duplicates`` in the result says that check was not made.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

# What each counted event type adds to, in the order of ``Counts``; other contact events (wrap-up) are
# decoded and attributed but add to no count the comparison uses.
OFFERED, ANSWERED, ABANDONED, HANDLED, SURVEYS = range(5)
COUNT_NAMES = ("offered", "answered", "abandoned", "handled", "surveys")
COUNTED_TYPES = {
    "contact.offered": OFFERED,
    "contact.answered": ANSWERED,
    "contact.abandoned": ABANDONED,
    "contact.ended": HANDLED,
    "survey.submitted": SURVEYS,
}
SURVEY_TYPE = "survey.submitted"
FETCH_TIMEOUT_MS = 500
FETCH_MAX_RECORDS = 10_000

Pair = tuple[str, str]
Counts = list[int]


@dataclass
class Tally:
    """Counts per (queue, channel), and surveys waiting for their contact to name its queue.

    A survey may leave out queue and channel (contract v1: it takes its contact's); its contact's
    events can be on another topic and so arrive later, which is why such surveys wait in
    ``pending`` until ``resolve``.
    """

    counts: dict[Pair, Counts] = field(default_factory=dict)
    contacts: dict[str, Pair] = field(default_factory=dict)
    pending: Counter[str] = field(default_factory=Counter)
    events: int = 0
    records: int = 0

    def add_event(self, event: dict[str, Any]) -> None:
        self.events += 1
        queue, channel = event.get("queue"), event.get("channel")
        kind = COUNTED_TYPES.get(event["type"])
        if queue is None or channel is None:
            self.pending[event["contact_id"]] += 1
            return
        pair = (queue, channel)
        if event["type"] != SURVEY_TYPE:
            self.contacts[event["contact_id"]] = pair
        if kind is not None:
            counts = self.counts.get(pair)
            if counts is None:
                counts = self.counts[pair] = [0] * len(COUNT_NAMES)
            counts[kind] += 1

    def add_record(self, value: bytes) -> None:
        """One record: a JSON object (one event) or a JSON array of events (contract v1 batching)."""
        self.records += 1
        document = orjson.loads(value)
        if isinstance(document, list):
            for event in document:
                self.add_event(event)
        else:
            self.add_event(document)

    def resolve(self) -> int:
        """Count each pending survey in its contact's (queue, channel); return how many had no contact."""
        unattributed = 0
        for contact_id, surveys in self.pending.items():
            pair = self.contacts.get(contact_id)
            if pair is None:
                unattributed += surveys
                continue
            counts = self.counts.setdefault(pair, [0] * len(COUNT_NAMES))
            counts[SURVEYS] += surveys
        self.pending.clear()
        return unattributed


@dataclass(frozen=True)
class CeilingRun:
    tally: Tally
    unattributed_surveys: int
    seconds: float
    cpu_seconds: float

    def figures(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "events": self.tally.events,
            "records": self.tally.records,
            "events_per_s": self.tally.events / self.seconds,
            "records_per_s": self.tally.records / self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "unattributed_surveys": self.unattributed_surveys,
            "duplicates": "not checked (the simulator's event ids are sequence numbers)",
            "decoder": "orjson.loads, as the worker (streams/contract.py)",
        }


async def consume(bootstrap: str, ends: dict[tuple[str, int], int]) -> CeilingRun:
    """Read every listed partition from its beginning up to ``ends`` (exclusive) and tally it.

    Timed from the first fetch to the last record: connecting is left out, as the pipeline's rate
    leaves out its group join. No consumer group, so nothing is committed that the worker would see.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, partition) for topic, partition in ends]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        return await _drain(consumer, ends)
    finally:
        await consumer.stop()


async def _drain(consumer: AIOKafkaConsumer, ends: dict[tuple[str, int], int]) -> CeilingRun:
    tally = Tally()
    remaining = {TopicPartition(topic, partition): end for (topic, partition), end in ends.items() if end > 0}
    started, cpu_started = time.perf_counter(), time.process_time()
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=FETCH_TIMEOUT_MS, max_records=FETCH_MAX_RECORDS)
        for tp, records in batches.items():
            end = remaining[tp]
            for record in records:
                if record.offset < end:
                    tally.add_record(record.value)
            if records and records[-1].offset + 1 >= end:
                del remaining[tp]
    unattributed = tally.resolve()
    return CeilingRun(tally, unattributed, time.perf_counter() - started, time.process_time() - cpu_started)
