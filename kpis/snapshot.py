"""Wire formats: the worker's state table (its changelog is how a worker recovers) and the snapshot
topics every API process reads.

Buckets travel a time slot at a time: one record holds every (queue, channel) bucket of one
partition, size and start, so a write costs one record per slot touched rather than one per bucket
(the stream framework's per-record cost was most of the worker's time). Keys are JSON arrays whose
second element (first, on the snapshot topics) is the source partition:

- table: ``["s", p, size, start]`` (a slot's open buckets with their offset marks), ``["o", p, n]``
  (segment n of the customers' offered contacts, appended to and sealed at a size), ``["m", p]``
  (where to resume), ``["a", p, agent]`` (an agent's retained events, kpis/agents.py), ``["t", p,
  ticket]`` and ``["c", p, customer]`` (a ticket's or a customer's retained events, kpis/tickets.py
  and kpis/accounts.py);
- snapshots: ``[p, size, start]`` (a slot's counters), ``["agent-slot", p, size, start]``,
  ``["ticket-slot", p, size, start]`` and ``["customer-slot", p, size, start]`` (a slot's agent time,
  ticket counters and company-wide customer counters), ``["waiting", p]``, ``["agents", p]``,
  ``["tickets", p]`` (the backlog), ``["customers", p]`` (the active-customer anchor) and
  ``["progress", p]`` (live values and processed offsets), ``["alive", worker]``.
"""

from __future__ import annotations

from typing import Any, Final, Iterable

import orjson

from kpis.buckets import BucketStats
from kpis.state import Bucket, BucketKey, Offer, Slot

STATE_TABLE: Final = "state"
# How far back whole slot records (agent time) can still change: the agents' horizon, with room.
WHOLE_KEPT_S: Final = 2 * 86400


def state_changelog(app_id: str) -> str:
    """Faust's own naming of a table's changelog topic."""
    return f"{app_id}-{STATE_TABLE}-changelog"


def minutes_topic(app_id: str) -> str:
    """Minute buckets, live waiting and progress: short retention, read for the rolling windows."""
    return f"{app_id}.kpi-minutes"


def intervals_topic(app_id: str) -> str:
    """15-minute buckets: kept for the history retention, read for today, intervals and history."""
    return f"{app_id}.kpi-intervals"


def _dump(value: Any) -> bytes:
    """orjson: the worker encodes every changed bucket of every batch, and the stdlib encoder was a
    tenth of its time."""
    return orjson.dumps(value)


def slot_table_key(partition: int, slot: Slot) -> bytes:
    return _dump(["s", partition, slot[0], slot[1]])


def offers_table_key(partition: int, segment: int) -> bytes:
    return _dump(["o", partition, segment])


def meta_table_key(partition: int) -> bytes:
    return _dump(["m", partition])


def entity_table_key(kind: str, partition: int, entity_id: str) -> bytes:
    """A recomputed fold's entity (kpis/entities.py): ``"a"`` an agent, ``"t"`` a ticket, ``"c"`` a customer."""
    return _dump([kind, partition, entity_id])


def snapshot_share_slot_key(kind: str, partition: int, slot: Slot) -> bytes:
    """A slot of a recomputed fold's buckets: ``"agent-slot"``, ``"ticket-slot"`` or ``"customer-slot"``."""
    return _dump([kind, partition, slot[0], slot[1]])


def snapshot_live_key(kind: str, partition: int) -> bytes:
    """A partition's live record of a recomputed fold: ``"agents"``, ``"tickets"`` (the backlog) or
    ``"customers"`` (the anchor)."""
    return _dump([kind, partition])


def share_slot_entries(buckets: dict[tuple[str, str], BucketStats], version: int) -> bytes:
    """A slot record of a recomputed fold in the format of the contacts' (``SlotReader`` reads both)."""
    return _dump([[queue, channel, version, stats.to_json()] for (queue, channel), stats in sorted(buckets.items())])


def decode_table_key(raw: bytes) -> tuple[str, int, list[Any]]:
    kind, partition, *rest = orjson.loads(raw)
    return str(kind), int(partition), rest


def snapshot_slot_key(partition: int, slot: Slot) -> bytes:
    return _dump([partition, slot[0], slot[1]])


def snapshot_waiting_key(partition: int) -> bytes:
    return _dump(["waiting", partition])


def snapshot_alive_key(worker: str) -> bytes:
    """A worker's periodic sign of life: an idle worker's numbers are current, not stale."""
    return _dump(["alive", worker])


def snapshot_progress_key(partition: int) -> bytes:
    return _dump(["progress", partition])


def encode_json(value: Any) -> bytes:
    return _dump(value)


def bucket_entries(queue: str, channel: str, version: int, bucket: Bucket) -> tuple[bytes, bytes]:
    """One bucket's element of a snapshot slot record, and of a table slot record.

    The snapshot's carries ``version``, which changes whenever the counters do, so a reader skips the
    buckets of a slot record it has already applied (``SlotReader``); the table's carries the offset
    marks."""
    stats = bucket.stats.to_json()
    return _dump([queue, channel, version, stats]), _dump([queue, channel, stats, bucket.marks])


def offer_entry(customer_id: str, offer: Offer) -> bytes:
    return _dump([customer_id, offer.at, offer.contact_id, offer.event_id, offer.queue, offer.channel,
                  offer.repeat, offer.source[0], offer.source[1]])  # fmt: skip


def join(entries: Iterable[bytes]) -> bytes:
    """A JSON array of already encoded elements: unchanged buckets keep their encoding."""
    return b"[" + b",".join(entries) + b"]"


class SlotReader:
    """Decodes snapshot slot records into the buckets that changed since the last record of the same
    slot. A slot is rewritten whole while it is open, mostly unchanged, and decoding every bucket
    again was most of an API process's time. Versions are remembered only for slots that can still
    change (within the grace period of the newest one); an older slot is read whole."""

    def __init__(self, grace_s: float) -> None:
        self._grace_s = grace_s
        self._seen: dict[tuple[int, int, int], dict[tuple[str, str], int]] = {}
        self._newest: dict[int, int] = {}
        self._whole: dict[tuple[int, int, int], set[tuple[str, str]]] = {}

    def read(
        self, partition: int, size: int, start: int, raw: bytes, whole: bool = False
    ) -> list[tuple[BucketKey, BucketStats | None]]:
        """The buckets that changed; with ``whole`` (agent slots, recomputed by whichever worker owns
        the partition now) a bucket the record no longer holds is gone (None): a worker that took the
        partition over never had the shares its predecessor booked elsewhere, so it cannot write them
        back as zero."""
        seen = self._seen.setdefault((partition, size, start), {})
        changed: list[tuple[BucketKey, BucketStats | None]] = []
        entries = orjson.loads(raw)
        if whole:
            present = {(str(queue), str(channel)) for queue, channel, _, _ in entries}
            held = self._whole.get((partition, size, start), set())
            for queue, channel in held - present:
                seen.pop((queue, channel), None)
                changed.append((BucketKey(size, queue, channel, start), None))
            self._whole[partition, size, start] = present
        for queue, channel, version, stats in entries:
            if seen.get((queue, channel)) != version:
                seen[queue, channel] = version
                changed.append((BucketKey(size, str(queue), str(channel), start), BucketStats.from_json(stats)))
        if start > self._newest.get(size, start - 1):
            self._newest[size] = start
            floor = start - self._grace_s - 2 * size
            for slot in [s for s in self._seen if s[1] == size and s[2] < floor]:
                del self._seen[slot]
            for slot in [s for s in self._whole if s[1] == size and s[2] < start - WHOLE_KEPT_S]:
                del self._whole[slot]
        return changed

    def newest(self, size: int) -> int:
        """The latest start of a slot of this size read so far (0 before any)."""
        return self._newest.get(size, 0)


def decode_slot_buckets(raw: bytes) -> list[tuple[str, str, Bucket]]:
    return [
        (str(q), str(c), Bucket(BucketStats.from_json(stats), [{k: int(v) for k, v in m.items()} for m in marks]))
        for q, c, stats, marks in orjson.loads(raw)
    ]


def decode_offers(raw: bytes) -> list[tuple[str, Offer]]:
    return [
        (str(customer), Offer(float(at), str(contact), str(event), str(q), str(c), bool(repeat), (str(topic), int(offset))))
        for customer, at, contact, event, q, c, repeat, topic, offset in orjson.loads(raw)
    ]
