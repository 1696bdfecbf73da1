"""Wire formats: the worker's state table (its changelog is how a worker recovers) and the snapshot
topics every API process reads.

Table keys are JSON arrays whose second element is the source partition, since a worker's table
holds the keys of all its partitions: ``["b", p, size, queue, channel, start]`` (an open bucket with
its offset marks), ``["c", p, customer_id]`` (a customer's recent offered contacts) and
``["m", p]`` (where to resume). Snapshot keys: ``[p, size, queue, channel, start]`` for a bucket,
``["waiting", p]`` and ``["progress", p]`` for live values and processed offsets.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from kpis.buckets import BucketStats
from kpis.state import Bucket, BucketKey

STATE_TABLE: Final = "state"


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


def bucket_table_key(partition: int, key: BucketKey) -> bytes:
    return _dump(["b", partition, key.size, key.queue, key.channel, key.start])


def customer_table_key(partition: int, customer_id: str) -> bytes:
    return _dump(["c", partition, customer_id])


def meta_table_key(partition: int) -> bytes:
    return _dump(["m", partition])


def decode_table_key(raw: bytes) -> tuple[str, int, list[Any]]:
    kind, partition, *rest = orjson.loads(raw)
    return str(kind), int(partition), rest


def encode_bucket(bucket: Bucket) -> bytes:
    return _dump({"stats": bucket.stats.to_json(), "marks": bucket.marks})


def decode_bucket(raw: bytes) -> Bucket:
    data = orjson.loads(raw)
    return Bucket(BucketStats.from_json(data["stats"]), [{k: int(v) for k, v in m.items()} for m in data["marks"]])


def bucket_key_from(rest: list[Any]) -> BucketKey:
    size, queue, channel, start = rest
    return BucketKey(int(size), str(queue), str(channel), int(start))


def snapshot_bucket_key(partition: int, key: BucketKey) -> bytes:
    return _dump([partition, key.size, key.queue, key.channel, key.start])


def snapshot_waiting_key(partition: int) -> bytes:
    return _dump(["waiting", partition])


def snapshot_alive_key(worker: str) -> bytes:
    """A worker's periodic sign of life: an idle worker's numbers are current, not stale."""
    return _dump(["alive", worker])


def snapshot_progress_key(partition: int) -> bytes:
    return _dump(["progress", partition])


def encode_json(value: Any) -> bytes:
    return _dump(value)


def encode_stats(stats: BucketStats) -> bytes:
    return _dump(stats.to_json())
