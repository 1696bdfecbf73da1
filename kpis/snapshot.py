"""Wire format of the bucket snapshot log: the worker's table changelog, read back by every API process.

Key: JSON ``[partition, queue, channel, bucket_start]``; the source partition is part of the key because
each partition's worker owns only its share of a bucket. Value: JSON of ``BucketStats``; ``None``
(a tombstone) when the bucket expired.
"""

from __future__ import annotations

import json

from kpis.buckets import BucketStats
from kpis.state import BucketKey

TABLE_NAME = "buckets"


def changelog_topic(app_id: str) -> str:
    """Faust's own naming of a table's changelog topic, so the API can read it without Faust."""
    return f"{app_id}-{TABLE_NAME}-changelog"


def encode_key(partition: int, key: BucketKey) -> str:
    return json.dumps([partition, key.queue, key.channel, key.start], separators=(",", ":"))


def decode_key(raw: bytes | str) -> tuple[int, BucketKey]:
    partition, queue, channel, start = json.loads(raw)
    return int(partition), BucketKey(str(queue), str(channel), int(start))


def encode_value(stats: BucketStats) -> bytes:
    return json.dumps(stats.to_json(), separators=(",", ":")).encode()


def decode_value(raw: bytes | None) -> BucketStats | None:
    return None if raw is None else BucketStats.from_json(json.loads(raw))
