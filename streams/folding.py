"""The fold: source events into per-partition KPI state, and what changed written out.

Records arrive a whole fetch at a time from the consumer (streams/transport.py), not through Faust's
per-record stream path. Per event the work is decoding, validation and a few dict operations; writes
happen once per flush and per changed key, with the source partition chosen explicitly, because
Faust's per-event table path costs far more than the arithmetic.

Two outputs per partition, both a time slot of buckets per record (kpis/snapshot.py):
- the ``state`` table (a Faust table; its changelog is how a worker recovers): open buckets with
  their offset marks, customers' recent offered contacts, and a resume point;
- the snapshot topics the API processes read: minute and 15-minute buckets, live waiting, progress.

What a flush writes, and in which order so that a crash at any point is safe to replay, is
kpis/persistence.py's; this module sends it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import defaultdict
from typing import Any, Iterable

import faust
import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faust.types import TP, TableT

from kpis import accounts, snapshot, tickets
from kpis.accounts import AccountBoard
from kpis.agents import AgentBoard, decode_timeline
from kpis.buckets import BucketStats
from kpis.event import AccountEvent, AgentEvent, Decoded, Event, TicketEvent
from kpis.persistence import PartitionWriter
from kpis.state import INTERVAL, MINUTE, Outcome, Pair, PartitionState, Slot
from kpis.windows import iso
from service.settings import LateEvents, Settings
from streams import deadletter, metrics, topics
from streams.contract import InvalidEvent, Rejected, array_elements, decode_record
from streams.transport import Fetch, WorkerApp

log = logging.getLogger("cxpulse.worker")

CLOSE_INTERVAL_S = 5.0
IDLE_AFTER_S = 30.0
SLOW_WRITE_S = 0.25
# A partition this many records behind its end is reading a backlog, not following live traffic
# (at 5,000 events/s in arrays of tens of events, a second or two of it): state is written less often.
CATCH_UP_RECORDS = 1000
CATCH_UP_FLUSH_S = 1.0
# At most this share of the worker's time goes to writing state out between batches.
WRITE_SHARE = 0.2


class Folder:
    """The state of the partitions this worker owns, and how it is restored and written out."""

    def __init__(self, app: WorkerApp, table: TableT[bytes, bytes], settings: Settings) -> None:
        self._app = app
        self._table = table
        self._settings = settings
        app_id = settings.worker.app_id
        self._dead_letters = app.topic(topics.DEADLETTER, key_serializer="raw", value_serializer="raw")
        self._snapshots = {
            size: app.topic(name, key_serializer="raw", value_serializer="raw")
            for size, name in ((MINUTE, snapshot.minutes_topic(app_id)), (INTERVAL, snapshot.intervals_topic(app_id)))
        }
        self._states: dict[int, PartitionState] = {}
        self._boards: dict[int, AgentBoard] = {}
        self._tickets: dict[int, tickets.TicketBoard] = {}
        self._accounts: dict[int, AccountBoard] = {}
        self._writers: dict[int, PartitionWriter] = {}
        self._owned_since: dict[int, float] = {}
        self._last_record: dict[int, dict[str, float]] = {}
        self._next_offset: dict[tuple[str, int], int] = {}
        self._committed: dict[tuple[str, int], int] = {}
        self._unflushed: set[int] = set()
        self._after_barrier: list[tuple[int, PartitionState, list[tuple[bytes, bytes | None]]]] = []
        self._barrier: asyncio.Task[None] | None = None
        self._flushed_at = 0.0
        self._write_seconds = 0.0
        self._worker_id = f"{socket.gethostname()}-{os.getpid()}"
        self._earliest = settings.kpi.earliest_event_time.timestamp()
        self.lock = asyncio.Lock()
        repeat_days = max(
            [settings.defaults.repeat_contact_days]
            + [q.repeat_contact_days for q in settings.queues.values() if q.repeat_contact_days]
        )
        self._horizons = (
            settings.kpi.grace_minutes * 60.0,
            settings.worker.contact_horizon_minutes * 60.0,
            repeat_days * 86400.0,
        )

    # -- owning partitions ------------------------------------------------------------------

    async def state(self, partition: int, first: tuple[str, int] | None = None) -> PartitionState:
        """The partition's state; the first time, restored from the table and rebuilt from the source.
        ``first`` is the record that asked for it, logged to show where the stream resumed."""
        state = self._states.get(partition)
        if state is None:
            started = time.monotonic()
            state = PartitionState(self._settings.rules, *self._horizons)
            writer = PartitionWriter(partition)
            entries = list(self._table_entries(partition))
            low = writer.restore(state, entries)
            board = AgentBoard(self._settings.rules)
            ticket_board = tickets.TicketBoard(self._settings.tickets.horizon_days)
            account_board = AccountBoard()
            for kind, rest, raw in entries:
                if kind == "a":
                    board.restore(decode_timeline(str(rest[0]), orjson.loads(raw)))
                elif kind == "t":
                    ticket_board.restore(tickets.decode_events(str(rest[0]), orjson.loads(raw)))
                elif kind == "c":
                    account_board.restore(accounts.decode_events(str(rest[0]), orjson.loads(raw)))
            for restored in (board, ticket_board, account_board):
                # Recomputed before any new event: the shares then match what was written, so a bucket
                # an entity leaves because of a new event is written again (emptied), not left stale.
                restored.buckets()
            self._boards[partition] = board
            self._tickets[partition] = ticket_board
            self._accounts[partition] = account_board
            rebuilt = await self._rebuild(partition, state, low)
            self._states[partition] = state
            self._writers[partition] = writer
            self._last_record[partition] = {}
            self._owned_since[partition] = time.monotonic()
            log.info(
                "partition state ready",
                extra={"partition": partition, "buckets": len(state.buckets), "contacts": state.contacts_tracked,
                       "events_reread": rebuilt, "stream_resumes_at": first, "seconds": round(time.monotonic() - started, 3)},
            )
        return state

    def _table_entries(self, partition: int) -> Iterable[tuple[str, list[Any], bytes]]:
        for raw_key, raw_value in self._table.data.items():
            kind, owner, rest = snapshot.decode_table_key(raw_key)
            if owner == partition and raw_value is not None:
                yield kind, rest, raw_value

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._settings.bootstrap, group_id=self._settings.worker.app_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
        )

    async def _rebuild(self, partition: int, state: PartitionState, low: dict[str, int]) -> int:
        """Re-read the source from the resume point (the beginning for a topic without one) up to the
        committed offsets, so contact state and deduplication are as they were; offset marks keep
        events that were counted already from counting again."""
        consumer = self._consumer()
        await consumer.start()
        try:
            ranges: dict[TopicPartition, tuple[int | None, int]] = {}
            committed_offsets: dict[str, int | None] = {}
            for topic in topics.SOURCE_TOPICS:
                tp = TopicPartition(topic, partition)
                committed = committed_offsets[topic] = await consumer.committed(tp)
                if committed and committed > low.get(topic, 0):
                    ranges[tp] = (low.get(topic), committed)
            log.info("rebuild plan", extra={"partition": partition, "resume": low, "committed": committed_offsets})
            reread = await self._read_ranges(consumer, state, ranges, rebuilding=True)
            for topic, committed in committed_offsets.items():
                # Faust resumes there: the first record it delivers is checked against it too. With
                # nothing committed it starts at the earliest retained offset, unknown here. Everything
                # before it is in the state now (restored, or re-read just above), so progress starts
                # there rather than empty: the progress the API reports never goes back on a takeover.
                if committed is not None:
                    self._next_offset[(topic, partition)] = committed
                if committed:
                    state.processed.setdefault(topic, committed - 1)
        finally:
            await consumer.stop()
        metrics.EVENTS_REREAD.inc(reread)
        return reread

    async def _read_ranges(
        self,
        consumer: AIOKafkaConsumer,
        state: PartitionState,
        ranges: dict[TopicPartition, tuple[int | None, int]],
        rebuilding: bool,
    ) -> int:
        """Fold the records of each partition from start (None: the beginning) up to end, exclusive."""
        if not ranges:
            return 0
        consumer.assign(list(ranges))
        for tp, (start, _) in ranges.items():
            if start is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, start)
        remaining = {tp: end for tp, (_, end) in ranges.items()}
        folded = 0
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= ranges[tp][1]:
                        break
                    state.processed[tp.topic] = record.offset
                    try:
                        decoded = decode_record(record.value, tp.topic)
                    except InvalidEvent:
                        continue
                    latest = _latest_time(record, self._settings.kpi.future_tolerance_seconds)
                    for item in decoded.items:
                        if isinstance(item, Rejected) or not self._earliest <= item.time <= latest:
                            continue
                        outcome = self._apply(tp.partition, state, item, tp.topic, record.offset, rebuilding)
                        folded += 1
                        if not rebuilding and outcome is Outcome.COUNTED:
                            metrics.EVENTS_PROCESSED.labels(tp.topic).inc()
            for tp in list(remaining):
                if await consumer.position(tp) >= remaining[tp]:
                    del remaining[tp]
        return folded

    async def _fill_gap(self, topic: str, partition: int, start: int, end: int) -> None:
        consumer = self._consumer()
        await consumer.start()
        try:
            filled = await self._read_ranges(
                consumer, self._states[partition], {TopicPartition(topic, partition): (start, end)}, rebuilding=False
            )
        finally:
            await consumer.stop()
        log.warning("skipped source records read directly", extra={"topic": topic, "partition": partition,
                                                                   "from": start, "to": end, "records": filled})

    def own(self, partitions: Iterable[int]) -> None:
        """The worker's new assignment. State of a partition still owned is kept across the rebalance
        (records Faust delivers again are duplicates to it); only state of partitions now owned by
        another worker is dropped. Dropping state in the middle of a batch and re-creating it would
        let a flush claim, in its offset marks, events whose effects went with the dropped state.
        Records are never skipped for ownership: one delivered is one this worker must count."""
        owned = set(partitions)
        for partition in [p for p in self._states if p not in owned]:
            del self._states[partition]
            self._boards.pop(partition, None)
            self._tickets.pop(partition, None)
            self._accounts.pop(partition, None)
            del self._writers[partition]
            self._last_record.pop(partition, None)
            self._owned_since.pop(partition, None)
            for topic in topics.FOLDED_TOPICS:
                self._next_offset.pop((topic, partition), None)
                self._committed.pop((topic, partition), None)

    # -- folding ------------------------------------------------------------------------------

    async def fold(self, fetch: Fetch) -> None:
        """Fold one fetch: per source partition, its records in offset order."""
        counted: dict[str, int] = defaultdict(int)
        newest: dict[str, float] = defaultdict(float)
        now = time.monotonic()
        late_to_deadletter = self._settings.kpi.late_events is LateEvents.DEADLETTER
        future_s = self._settings.kpi.future_tolerance_seconds
        for tp, records in fetch.items():
            topic, partition = tp.topic, tp.partition
            state = await self.state(partition, (topic, records[0].offset))
            expected = self._next_offset.get((topic, partition))
            processed = state.processed
            apply = state.apply
            currency = self._settings.accounts.currency
            for record in records:
                offset = record.offset
                if expected is not None and offset != expected:
                    await self._out_of_sequence(topic, partition, expected, offset)
                expected = offset + 1
                processed[topic] = offset
                try:
                    decoded = decode_record(record.value, topic)
                except InvalidEvent as exc:
                    await self._dead_letter(record, exc.kind, str(exc))
                    continue
                latest = _latest_time(record, future_s)
                for index, item in enumerate(decoded.items):
                    if isinstance(item, Rejected):
                        await self._dead_letter(record, item.error.kind, str(item.error), item.index, item.element)
                        continue
                    if item.time > latest:
                        reason = f"future: event time {iso(item.time)} is more than {future_s:g} s after the record was published"
                        await self._dead_letter(record, "future", reason, *self._element(record, index, decoded.batched))
                        continue
                    if item.time < self._earliest:
                        reason = f"past: event time {iso(item.time)} is before kpi.earliest_event_time {iso(self._earliest)}"
                        await self._dead_letter(record, "past", reason, *self._element(record, index, decoded.batched))
                        continue
                    if isinstance(item, AccountEvent) and item.type == accounts.PURCHASE and (item.currency or currency) != currency:
                        reason = f"currency: a purchase in {item.currency}, revenue is summed in accounts.currency {currency}"
                        await self._dead_letter(record, "currency", reason, *self._element(record, index, decoded.batched))
                        continue
                    if type(item) is Event:  # the hot path: contacts straight to the partition state
                        outcome = apply(item, topic, offset)
                    else:
                        outcome = self._apply(partition, state, item, topic, offset, rebuilding=False)
                    if outcome is Outcome.COUNTED:
                        counted[topic] += 1
                        if item.time > newest[topic]:
                            newest[topic] = item.time
                    elif outcome is Outcome.DUPLICATE:
                        metrics.EVENTS_DUPLICATE.labels(topic).inc()
                    elif outcome is Outcome.LATE:
                        metrics.EVENTS_LATE.labels(topic).inc()
                        if late_to_deadletter:
                            horizon = self._horizon(partition, state, item)
                            reason = f"late: event time is before the closed horizon {iso(horizon)}"
                            await self._dead_letter(record, "late", reason, *self._element(record, index, decoded.batched))
            self._next_offset[(topic, partition)] = records[-1].offset + 1
            self._last_record[partition][topic] = now
            self._unflushed.add(partition)
        for topic, count in counted.items():
            metrics.EVENTS_PROCESSED.labels(topic).inc(count)
            metrics.LAST_EVENT_TIME.labels(topic).set(newest[topic])
        await self.flush_pending()

    async def flush_pending(self) -> None:
        """Write what batches changed since the last write, once ``worker.flush_interval_seconds`` has
        passed, or ``CATCH_UP_FLUSH_S`` while a backlog is read (nobody watches numbers that are
        behind anyway, and writing less often leaves more of the worker for catching up), and never
        sooner than ``WRITE_SHARE`` allows: a write holds the fold back, and under load the batches
        between two writes share their slot records, so the interval stretches with the write's own
        cost instead of writes taking over the worker. Not after every batch. Effects not yet
        written are safe: a worker taking over re-reads from the resume point and adds what the
        written marks do not hold."""
        since = time.monotonic() - self._flushed_at
        if since < max(self._settings.worker.flush_interval_seconds, self._write_seconds / WRITE_SHARE):
            return
        if since < CATCH_UP_FLUSH_S and self._catching_up():
            return
        started = time.monotonic()
        for partition in self._unflushed:
            if partition in self._states:
                await self.flush(partition, close=False)
        self._unflushed.clear()
        self._flushed_at = time.monotonic()
        self._write_seconds = self._flushed_at - started
        self._note_if_slow("write", started)

    async def _out_of_sequence(self, topic: str, partition: int, expected: int, offset: int) -> None:
        """Records of a partition come one offset after the other; a repeat (redelivery from the
        committed offset after a rebalance) is only counted, the fences handle it, and skipped
        offsets are read from Kafka directly, so a skipped record is late at worst, never lost. Faust's
        stream path was seen to skip records after a takeover (its buffers are dropped on revocation);
        fetches now reach the fold whole or not at all, so a gap left is a transaction marker or a
        compacted record, which the direct read finds empty."""
        metrics.SOURCE_OFFSET_GAPS.labels(topic).inc()
        log.warning("source offsets out of sequence", extra={"topic": topic, "partition": partition, "expected": expected, "got": offset})
        if offset > expected:
            await self._fill_gap(topic, partition, expected, offset)

    def _close_watermark(self, partition: int, state: PartitionState) -> float:
        """Event time that closing follows: the slowest source topic still delivering records or with
        records left to read, so a topic read ahead of another (a backlog is handed out one partition
        at a time, and a busy worker may not see a topic for a while) does not close buckets early,
        and an idle one does not hold them back. A topic with a backlog but no event seen yet holds
        closing back entirely, as does every topic right after taking a partition over."""
        now = time.monotonic()
        if now - self._owned_since.get(partition, now) < IDLE_AFTER_S:
            if set(state.watermarks) < set(topics.SOURCE_TOPICS):
                return 0.0
            return min(state.watermarks.values())
        behind = {topic for topic in topics.SOURCE_TOPICS if self._behind(topic, partition, state)}
        if behind - set(state.watermarks):
            return 0.0
        seen = self._last_record.get(partition, {})
        active = [
            wm for topic, wm in state.watermarks.items()
            if topic in behind or now - seen.get(topic, -IDLE_AFTER_S) < IDLE_AFTER_S
        ]
        if active:
            return min(active)
        return max(state.watermarks.values(), default=0.0)

    def _behind(self, topic: str, partition: int, state: PartitionState, by: int = 0) -> bool:
        """More than ``by`` records of the topic wait beyond what was processed (as of the consumer's
        last fetch)."""
        try:
            highwater = self._app.consumer.highwater(TP(topic, partition))
        except AssertionError:  # aiokafka's answer for a partition not (or no longer) assigned
            return False
        if highwater is None:
            return False
        processed = state.processed.get(topic)
        return (0 if processed is None else processed + 1) + by < highwater

    def _catching_up(self) -> bool:
        return any(
            self._behind(topic, partition, state, CATCH_UP_RECORDS)
            for partition, state in self._states.items()
            for topic in topics.SOURCE_TOPICS
        )

    def _apply(
        self, partition: int, state: PartitionState, item: Decoded, topic: str, offset: int, rebuilding: bool
    ) -> Outcome:
        """Contacts go to the partition state; agents, tickets and customers to their recomputing
        boards, which deduplicate by event id and need no offset fences."""
        if isinstance(item, Event):
            return state.apply(item, topic, offset, rebuilding)
        state.processed[topic] = offset
        if isinstance(item, AgentEvent):
            return self._boards[partition].apply(item)
        if isinstance(item, TicketEvent):
            return self._tickets[partition].apply(item)
        return self._accounts[partition].apply(item)

    def _horizon(self, partition: int, state: PartitionState, item: Decoded) -> float:
        """Before when an event of this kind is late."""
        if isinstance(item, AgentEvent):
            return self._boards[partition].horizon
        if isinstance(item, TicketEvent):
            return self._tickets[partition].horizon
        if isinstance(item, AccountEvent):
            return self._accounts[partition].horizon
        return state.closed_until

    def _send_recomputed(
        self, partition: int, kinds: tuple[str, str, str], slots: dict[Slot, dict[Pair, BucketStats]], live: Any,
        persisted: dict[str, list[Any] | None],
    ) -> None:  # fmt: skip
        """A recomputing board's changes: whole slots of buckets, its live record (None: unchanged)
        and its entities' events in the state table (None: the entity left state). ``kinds`` names
        the slot records, the live record and the table entries."""
        slot_kind, live_kind, table_kind = kinds
        version = time.time_ns()
        for slot, buckets in slots.items():
            key = snapshot.snapshot_share_slot_key(slot_kind, partition, slot)
            self._snapshots[slot[0]].send_soon(key=key, value=snapshot.share_slot_entries(buckets, version), partition=partition)
        if live is not None:
            key = snapshot.snapshot_live_key(live_kind, partition)
            self._snapshots[INTERVAL].send_soon(key=key, value=snapshot.encode_json(live), partition=partition)
        for entity_id, events in persisted.items():
            entry = snapshot.entity_table_key(table_kind, partition, entity_id)
            self._write(partition, entry, None if events is None else snapshot.encode_json(events))

    def _flush_recomputed(self, partition: int) -> None:
        """Agent time, tickets and customers first: the progress record of the contacts' write that
        follows marks the end of the whole write for the read side."""
        slots, agents_live, timelines = self._boards[partition].take_changes()
        self._send_recomputed(partition, ("agent-slot", "agents", "a"), slots, agents_live, timelines)
        slots, backlog, ticket_events = self._tickets[partition].take_changes()
        backlog_value = None if backlog is None else [[queue, channel, count] for (queue, channel), count in backlog.items()]
        self._send_recomputed(partition, ("ticket-slot", "tickets", "t"), slots, backlog_value, ticket_events)
        slots, anchor, customer_events = self._accounts[partition].take_changes()
        anchor_value = None if anchor is None else anchor._asdict()
        self._send_recomputed(partition, ("customer-slot", "customers", "c"), slots, anchor_value, customer_events)

    async def flush(self, partition: int, close: bool) -> None:
        state = self._states[partition]
        self._flush_recomputed(partition)
        if close:
            state.close(self._close_watermark(partition, state))
        writes = self._writers[partition].writes(state, state.take_changes(), close)
        for size, key, value in writes.snapshots:
            self._snapshots[size].send_soon(key=key, value=value, partition=partition)
        for entry, content in writes.table:
            self._write(partition, entry, content)
        if writes.barrier:
            self._after_barrier.append((partition, state, writes.after))
        else:
            for entry, content in writes.after:
                self._write(partition, entry, content)

    async def _write_after_barrier(
        self, pending: list[tuple[int, PartitionState, list[tuple[bytes, bytes | None]]]], written: dict[TP, int]
    ) -> None:
        """Resume points and tombstones of closed slots, and the offsets whose effects were written,
        once everything sent before them is acknowledged. In the background: waiting for the broker
        inside the fold held every event back for as long (seen: up to 2 s). A partition given up
        meanwhile (even if taken back since: its state is another) is skipped: its next owner resumes
        from the older point, which re-reads more and changes nothing counted.

        Offsets are committed only here, never ahead of written state: the next owner of a partition
        reads on from the committed offset and builds the partition's state when a record of it
        arrives, so a commit ahead of what was written would leave those effects uncounted until
        new traffic came (seen in the fault suite after a SIGKILL)."""
        started = time.monotonic()
        await self._app.producer.flush()
        for partition, state, after in pending:
            if self._states.get(partition) is state:
                for entry, content in after:
                    self._write(partition, entry, content)
        self._note_if_slow("barrier", started)
        await self._commit(written)

    @staticmethod
    def _note_if_slow(what: str, started: float) -> None:
        """A write or close holds the fold back, and every wallboard with it, for as long as it takes."""
        seconds = time.monotonic() - started
        if seconds > SLOW_WRITE_S:
            log.warning("slow state write", extra={"step": what, "seconds": round(seconds, 3)})

    def _write(self, partition: int, key: bytes, value: bytes | None) -> None:
        if value is None:
            self._table.data.pop(key, None)
        else:
            self._table.data[key] = value
        self._table.send_changelog(partition, key, value)

    async def close_all(self) -> None:
        """Periodic: close buckets, persist resume points, refresh gauges (also while no events come).

        Closing waits while the previous closing's barrier is in flight, so resume points are written
        in order and each only after the final snapshots it relies on."""
        started = time.monotonic()
        closing = self._barrier is None or self._barrier.done()
        for partition in list(self._states):
            await self.flush(partition, close=closing)
        self._unflushed.clear()
        if closing:
            pending, self._after_barrier = self._after_barrier, []
            self._barrier = asyncio.create_task(self._write_after_barrier(pending, self._processed_offsets()))
        self._note_if_slow("close", started)
        alive = snapshot.encode_json({"at": time.time(), "partitions": sorted(self._states)})
        self._snapshots[MINUTE].send_soon(key=snapshot.snapshot_alive_key(self._worker_id), value=alive, partition=0)
        states = self._states.values()
        metrics.CONTACTS_TRACKED.set(sum(s.contacts_tracked for s in states))
        metrics.CUSTOMERS_TRACKED.set(sum(s.customers_tracked for s in states))
        metrics.BUCKETS_HELD.set(sum(len(s.buckets) for s in states))
        metrics.AGENTS_TRACKED.set(sum(b.tracked for b in self._boards.values()))
        metrics.TICKETS_TRACKED.set(sum(b.tracked for b in self._tickets.values()))
        metrics.ACCOUNTS_TRACKED.set(sum(b.tracked for b in self._accounts.values()))
        metrics.PARTITIONS_OWNED.set(len(self._states))

    @staticmethod
    def _element(record: ConsumerRecord, index: int, batched: bool) -> tuple[int | None, bytes | None]:
        """Where one event of a record is, for its dead letter: the whole record unless it is an array."""
        return (index, array_elements(record.value)[index]) if batched else (None, None)

    def _processed_offsets(self) -> dict[TP, int]:
        return {
            TP(topic, partition): offset + 1
            for partition, state in self._states.items()
            for topic, offset in state.processed.items()
        }

    async def hand_over(self) -> None:
        """On revocation: write what is folded, wait until the broker has it, then commit it, so the
        next owner resumes exactly after what this worker's state holds."""
        for partition in list(self._states):
            await self.flush(partition, close=False)
        self._unflushed.clear()
        await self._app.producer.flush()
        await self._commit(self._processed_offsets())

    async def _commit(self, offsets: dict[TP, int]) -> None:
        """Commit offsets whose effects the broker has acknowledged, so that whoever owns a partition
        next re-reads less (a re-read is deduplicated in any case)."""
        changed = {tp: offset for tp, offset in offsets.items() if self._committed.get((tp.topic, tp.partition)) != offset}
        if not changed:
            return
        if await self._app.fetching_consumer.commit_processed(changed):
            self._committed.update({(tp.topic, tp.partition): offset for tp, offset in changed.items()})
        else:
            log.warning("offset commit failed", extra={"partitions": len(changed)})

    async def _dead_letter(
        self, record: ConsumerRecord, kind: str, reason: str, index: int | None = None, element: bytes | None = None
    ) -> None:
        """The whole record, or (``index`` given) one event of a batched record as its own JSON."""
        log.warning(
            "event dead-lettered",
            extra={"topic": record.topic, "partition": record.partition, "offset": record.offset,
                   "index": index, "kind": kind, "reason": reason[:500]},
        )
        value, cut = deadletter.truncated(record.value if index is None else element)
        source = deadletter.headers(kind, reason, record.topic, record.partition, record.offset, index)
        await self._dead_letters.send(key=record.key, value=value, headers=source + cut)
        metrics.EVENTS_DEADLETTERED.labels(record.topic, kind).inc()


def _latest_time(record: ConsumerRecord, tolerance_s: float) -> float:
    """The latest event time a record may carry: judged against the record's own timestamp, not the
    clock, so that re-reading it after a restart decides the same."""
    published = record.timestamp / 1000 if record.timestamp >= 0 else time.time()
    return published + tolerance_s


def attach_folding(app: WorkerApp, settings: Settings) -> Folder:
    """Subscribe to the source topics with no Faust agent: their fetches go to the folder whole
    (streams/transport.py); the table, timers and rebalance hooks are Faust's."""
    app.topics.add(app.topic(*topics.FOLDED_TOPICS, key_serializer="raw", value_serializer="raw"))
    table = app.Table(
        snapshot.STATE_TABLE,
        default=None,
        partitions=settings.kafka.partitions,
        key_type=bytes,  # Faust picks the changelog serializers from these types: raw bytes both ways
        value_type=bytes,
    )
    folder = Folder(app, table, settings)
    metrics.initialise()

    async def fold(fetch: Fetch) -> None:
        async with folder.lock:
            await folder.fold(fetch)

    app.fetched_topics = frozenset(topics.FOLDED_TOPICS)
    app.on_fetch = fold

    @app.timer(settings.worker.flush_interval_seconds)
    async def flush() -> None:
        async with folder.lock:
            await folder.flush_pending()

    @app.timer(CLOSE_INTERVAL_S)
    async def close() -> None:
        async with folder.lock:
            await folder.close_all()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # Faust's stub wants *args it never passes
    async def on_revoked(sender: faust.App, revoked: set[TP], **_: Any) -> None:
        async with folder.lock:
            await folder.hand_over()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: faust.App, assigned: set[TP], **_: Any) -> None:
        folder.own({tp.partition for tp in assigned if tp.topic in topics.FOLDED_TOPICS})

    return folder
