"""The embedded broker's journal on disk: every record of every cxpulse topic, one file per partition.

The embedded broker keeps topics in memory only, so ``cxpulse run`` copies them here as they are
written (service/recorder.py) and puts them back into the fresh broker on the next start
(service/restore.py). A file is a sequence of frames, each a length, a CRC-32 and one record with
its broker offset, so a frame torn by a crash is recognised and cut off instead of read as data.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

_FRAME = struct.Struct(">II")  # body length, CRC-32 of the body
_FIXED = struct.Struct(">qqiiH")  # offset, timestamp ms, key length, value length (-1: null), header count
_HEADER = struct.Struct(">Hi")  # name length, value length (-1: null)
LAYOUT_FILE = "layout.json"
GROUPS_FILE = "groups.json"


@dataclass(frozen=True)
class Record:
    """One Kafka record as the journal keeps it: enough to publish it again with the same meaning."""

    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


def encode(record: Record) -> bytes:
    parts = [
        _FIXED.pack(
            record.offset, record.timestamp_ms, _length(record.key), _length(record.value), len(record.headers)
        ),
        record.key or b"",
        record.value or b"",
    ]
    for name, value in record.headers:
        raw = name.encode()
        parts += [_HEADER.pack(len(raw), _length(value)), raw, value or b""]
    body = b"".join(parts)
    return _FRAME.pack(len(body), zlib.crc32(body)) + body


def _length(value: bytes | None) -> int:
    return -1 if value is None else len(value)


def _decode(body: bytes) -> Record:
    offset, timestamp, key_length, value_length, header_count = _FIXED.unpack_from(body)
    at = _FIXED.size
    key, at = _take(body, at, key_length)
    value, at = _take(body, at, value_length)
    headers = []
    for _ in range(header_count):
        name_length, header_length = _HEADER.unpack_from(body, at)
        at += _HEADER.size
        name = body[at : at + name_length].decode()
        at += name_length
        header, at = _take(body, at, header_length)
        headers.append((name, header))
    return Record(offset, timestamp, key, value, tuple(headers))


def _take(body: bytes, at: int, length: int) -> tuple[bytes | None, int]:
    if length < 0:
        return None, at
    return body[at : at + length], at + length


def read_frames(stream: BinaryIO) -> Iterator[tuple[int, Record]]:
    """Each whole, intact frame with the file position after it; stops at the first torn or corrupt one."""
    position = 0
    while True:
        head = stream.read(_FRAME.size)
        if len(head) < _FRAME.size:
            return
        length, crc = _FRAME.unpack(head)
        body = stream.read(length)
        if len(body) < length or zlib.crc32(body) != crc:
            return
        position += _FRAME.size + length
        yield position, _decode(body)


def compact(records: Iterable[Record], drop_tombstones: bool) -> list[Record]:
    """What Kafka's log compaction leaves: the last record of each key, in their original order
    (keyless records all stay). Readers of a compacted topic see the same final value per key."""
    kept = list(records)
    last = {record.key: index for index, record in enumerate(kept) if record.key is not None}
    return [
        record
        for index, record in enumerate(kept)
        if record.key is None
        or (last[record.key] == index and not (drop_tombstones and record.value is None))
    ]


@dataclass
class PartitionLog:
    """One partition's file. ``next_offset`` is where the broker's copy of the partition continues."""

    path: Path
    next_offset: int = 0
    records: int = 0
    _file: BinaryIO | None = field(default=None, repr=False)

    def scan(self) -> Iterator[Record]:
        """Read the file, cutting off a torn tail (the unflushed end of a killed run) as it goes."""
        self.next_offset = 0
        self.records = 0
        if not self.path.exists():
            return
        good = 0
        with open(self.path, "rb") as stream:
            for good, record in read_frames(stream):
                self.next_offset = record.offset + 1
                self.records += 1
                yield record
        if good < self.path.stat().st_size:
            with open(self.path, "r+b") as stream:
                stream.truncate(good)
                os.fsync(stream.fileno())

    def append(self, records: Iterable[Record]) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")
        for record in records:
            self._file.write(encode(record))
            self.next_offset = record.offset + 1
            self.records += 1

    def sync(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def replace(self, records: list[Record]) -> None:
        """Write the partition anew (after a restore renumbered it) in one atomic rename."""
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = self.path.with_suffix(".new")
        with open(fresh, "wb") as stream:
            for record in records:
                stream.write(encode(record))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(fresh, self.path)
        _sync_directory(self.path.parent)
        self.records = len(records)
        self.next_offset = records[-1].offset + 1 if records else 0

    def close(self) -> None:
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None


class JournalLayoutError(Exception):
    """A data directory written with another topic layout than the settings ask for now."""


class Journal:
    """The data directory's journal: a file per topic partition, the layout they were written with,
    and the worker group's committed offsets."""

    def __init__(self, root: Path, layout: dict[str, int]) -> None:
        self.root = root
        self.layout = layout
        self.partitions = {
            (topic, partition): PartitionLog(root / topic / f"{partition}.log")
            for topic, count in layout.items()
            for partition in range(count)
        }

    def check_layout(self) -> None:
        """Refuse to mix partition counts: offsets and partition numbers would no longer mean the same."""
        path = self.root / LAYOUT_FILE
        kept: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
        changed = {t: (kept[t], n) for t, n in self.layout.items() if t in kept and kept[t] != n}
        if changed:
            detail = ", ".join(f"{t} has {old} partitions there, {new} configured" for t, (old, new) in changed.items())
            raise JournalLayoutError(
                f"data directory {self.root.parent} was written with other partition counts ({detail}): "
                "set kafka.partitions back, or start with another --data-dir"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps({**kept, **self.layout}, indent=1).encode())

    def read_groups(self) -> dict[str, dict[tuple[str, int], int]]:
        path = self.root / GROUPS_FILE
        if not path.exists():
            return {}
        stored: dict[str, dict[str, int]] = json.loads(path.read_text())
        return {
            group: {(where.rsplit(":", 1)[0], int(where.rsplit(":", 1)[1])): offset for where, offset in offsets.items()}
            for group, offsets in stored.items()
        }

    def write_groups(self, groups: dict[str, dict[tuple[str, int], int]]) -> None:
        stored = {group: {f"{t}:{p}": o for (t, p), o in sorted(offsets.items())} for group, offsets in groups.items()}
        write_atomically(self.root / GROUPS_FILE, json.dumps(stored, indent=1).encode())

    def close(self) -> None:
        for log in self.partitions.values():
            log.close()


def write_atomically(path: Path, content: bytes) -> None:
    fresh = path.with_suffix(path.suffix + ".new")
    with open(fresh, "wb") as stream:
        stream.write(content)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(fresh, path)
    _sync_directory(path.parent)


def _sync_directory(path: Path) -> None:
    """A rename is durable only once the directory entry is."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
