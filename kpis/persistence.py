"""One partition's state as records: what a flush writes, and how a new owner reads it back.

Shared by the worker (streams/folding.py) and the tests that crash and restart it without Kafka, so
the write-out discipline that makes a crash safe to replay is stated once:

1. snapshot records (the API's view), then the table's slot and offer records;
2. when slots closed: a barrier (the producer is flushed), so the final snapshots are durable before
3. the resume point (meta) and the tombstones of closed slots and expired offer segments.

A crash loses a suffix of these writes at worst; the resume point only moves after what it relies on.
Each bucket's encoding is kept until the bucket changes: a slot record repeats its unchanged buckets
byte for byte, with the version they were first sent with, so neither side decodes them again.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, NamedTuple

import orjson

from kpis import snapshot
from kpis.state import INTERVAL, MINUTE, BucketKey, Changes, Offer, PartitionState, Slot

# Offers per table record. The open segment is rewritten whole at every write, so this bounds that
# cost; sealed segments are written once and dropped when their newest offer is too old to matter.
SEGMENT_OFFERS = 500


class Writes(NamedTuple):
    snapshots: list[tuple[int, bytes, bytes]]  # (bucket size: which snapshot topic, key, value)
    table: list[tuple[bytes, bytes | None]]
    barrier: bool  # flush the producer before writing ``after``
    after: list[tuple[bytes, bytes | None]]


class PartitionWriter:
    def __init__(self, partition: int) -> None:
        self._partition = partition
        self._entries: dict[tuple[int, str, str, int], tuple[bytes, bytes]] = {}  # (snapshot, table) encodings
        self._segments: dict[int, float] = {}  # sealed segment -> its newest offer time
        self._open = 0
        self._open_entries: list[bytes] = []
        self._open_newest = 0.0

    def restore(self, state: PartitionState, table: Iterable[tuple[str, list[Any], bytes]]) -> dict[str, int]:
        """Load the partition's table entries (kind, rest of the key, value) into ``state``; returns
        the offsets to re-read the source from. Offer segments are applied in order, so an offer
        re-flagged later replaces its earlier copy."""
        low: dict[str, int] = {}
        slots: list[tuple[list[Any], bytes]] = []
        segments: list[tuple[int, bytes]] = []
        for kind, rest, raw in table:
            if kind == "m":
                meta = orjson.loads(raw)
                state.restore_meta(meta)
                low = {k: int(v) for k, v in meta.get("low_offsets", {}).items()}
            elif kind == "s":
                slots.append((rest, raw))
            elif kind == "o":
                segments.append((int(rest[0]), raw))
        for (size, start), raw in slots:
            for queue, channel, bucket in snapshot.decode_slot_buckets(raw):
                state.restore_bucket(BucketKey(int(size), queue, channel, int(start)), bucket)
        offers: dict[str, dict[str, Offer]] = {}
        for number, raw in sorted(segments):
            entries = snapshot.decode_offers(raw)
            self._segments[number] = max((offer.at for _, offer in entries), default=0.0)
            for customer_id, offer in entries:
                offers.setdefault(customer_id, {})[offer.event_id] = offer
        self._open = max(self._segments, default=-1) + 1
        for customer_id, by_event in offers.items():
            state.restore_customer(customer_id, list(by_event.values()))
        return low

    def writes(self, state: PartitionState, changes: Changes, close: bool) -> Writes:
        partition = self._partition
        snapshots: list[tuple[int, bytes, bytes]] = []
        table: list[tuple[bytes, bytes | None]] = []
        after: list[tuple[bytes, bytes | None]] = []
        version = time.time_ns()
        for slot, buckets in changes.slots.items():
            size, start = slot
            stats_entries, bucket_entries = [], []
            for (queue, channel), bucket in buckets.items():
                key = (size, queue, channel, start)
                entries = self._entries.get(key)
                if entries is None or key in changes.dirty:
                    entries = self._entries[key] = snapshot.bucket_entries(queue, channel, version, bucket)
                stats_entries.append(entries[0])
                bucket_entries.append(entries[1])
            snapshots.append((size, snapshot.snapshot_slot_key(partition, slot), snapshot.join(stats_entries)))
            if slot in changes.closed:
                after.append((snapshot.slot_table_key(partition, slot), None))
                self._forget(slot, buckets)
            else:
                table.append((snapshot.slot_table_key(partition, slot), snapshot.join(bucket_entries)))
        if changes.waiting is not None:
            waiting = [[q, c, n, oldest] for (q, c), (n, oldest) in changes.waiting.items()]
            snapshots.append((MINUTE, snapshot.snapshot_waiting_key(partition), snapshot.encode_json(waiting)))
        progress = snapshot.encode_json(state.processed)
        for size in (MINUTE, INTERVAL):
            snapshots.append((size, snapshot.snapshot_progress_key(partition), progress))
        table.extend(self._offers(changes.offers))
        if changes.closed or close:
            after.insert(0, (snapshot.meta_table_key(partition), snapshot.encode_json(state.meta())))
        if close:  # only closing moves the offers' floor
            for number in [n for n, newest in self._segments.items() if newest < changes.offers_floor]:
                del self._segments[number]
                after.append((snapshot.offers_table_key(partition, number), None))
        return Writes(snapshots, table, bool(changes.closed), after)

    def _offers(self, offers: list[tuple[str, Offer]]) -> list[tuple[bytes, bytes | None]]:
        """Append to the open segment; a full one is written a last time and sealed."""
        if not offers:
            return []
        written: list[tuple[bytes, bytes | None]] = []
        for customer_id, offer in offers:
            self._open_entries.append(snapshot.offer_entry(customer_id, offer))
            self._open_newest = max(self._open_newest, offer.at)
            if len(self._open_entries) >= SEGMENT_OFFERS:
                written.append(self._segment_record())
                self._segments[self._open] = self._open_newest
                self._open, self._open_entries, self._open_newest = self._open + 1, [], 0.0
        if self._open_entries:
            written.append(self._segment_record())
        return written

    def _segment_record(self) -> tuple[bytes, bytes]:
        return snapshot.offers_table_key(self._partition, self._open), snapshot.join(self._open_entries)

    def _forget(self, slot: Slot, buckets: Iterable[tuple[str, str]]) -> None:
        for queue, channel in buckets:
            self._entries.pop((slot[0], queue, channel, slot[1]), None)
