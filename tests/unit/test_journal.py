"""The journal's file format: records come back as written, a torn tail is cut off, compaction keeps
what Kafka's would, and a data directory refuses another partition layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.journal import Journal, JournalLayoutError, PartitionLog, Record, compact


def records() -> list[Record]:
    return [
        Record(0, 1_700_000_000_000, b"k1", b'{"a":1}', (("cxpulse.error.kind", b"late"), ("empty", None))),
        Record(1, 1_700_000_000_001, None, b"no key"),
        Record(2, 1_700_000_000_002, b"k2", None),
        Record(3, 1_700_000_000_003, b"", b""),
    ]


def test_records_come_back_as_written_and_the_next_offset_follows_the_last(tmp_path: Path) -> None:
    log = PartitionLog(tmp_path / "t" / "0.log")
    log.append(records()[:2])
    log.sync()
    log.append(records()[2:])
    log.close()
    again = PartitionLog(tmp_path / "t" / "0.log")
    assert list(again.scan()) == records()
    assert (again.next_offset, again.records) == (4, 4)


def test_a_torn_tail_is_cut_off_and_appending_goes_on_after_the_last_whole_record(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    log = PartitionLog(path)
    log.append(records())
    log.close()
    whole = path.stat().st_size
    with open(path, "ab") as stream:  # a crash in the middle of writing the next frame
        stream.write(b"\x00\x00\x00\x40\x12\x34")
    again = PartitionLog(path)
    assert list(again.scan()) == records()
    assert path.stat().st_size == whole
    again.append([Record(4, 5, b"k", b"v")])
    again.close()
    assert [r.offset for r in PartitionLog(path).scan()] == [0, 1, 2, 3, 4]


def test_a_corrupt_frame_ends_the_readable_part(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    log = PartitionLog(path)
    log.append(records())
    log.close()
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF  # last record's value changed on disk: its CRC no longer matches
    path.write_bytes(bytes(raw))
    assert [r.offset for r in PartitionLog(path).scan()] == [0, 1, 2]


def test_compaction_keeps_the_last_record_per_key_in_order_and_every_keyless_one() -> None:
    log = [
        Record(0, 0, b"a", b"a1"),
        Record(1, 0, b"b", b"b1"),
        Record(2, 0, None, b"x"),
        Record(3, 0, b"a", b"a2"),
        Record(4, 0, b"c", b"c1"),
        Record(5, 0, b"c", None),
    ]
    assert [r.offset for r in compact(log, drop_tombstones=False)] == [1, 2, 3, 5]
    assert [r.offset for r in compact(log, drop_tombstones=True)] == [1, 2, 3]


def test_replacing_a_partition_renumbers_where_it_continues(tmp_path: Path) -> None:
    log = PartitionLog(tmp_path / "0.log")
    log.append([Record(7, 0, b"a", b"1"), Record(9, 0, b"b", b"2")])
    log.replace([Record(0, 0, b"a", b"1"), Record(1, 0, b"b", b"2")])
    assert (log.next_offset, log.records) == (2, 2)
    assert [r.offset for r in PartitionLog(tmp_path / "0.log").scan()] == [0, 1]


def test_committed_offsets_round_trip(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal", {"cx.calls": 2})
    journal.check_layout()
    journal.write_groups({"cxpulse": {("cx.calls", 0): 12, ("cx.calls", 1): 3}})
    assert journal.read_groups() == {"cxpulse": {("cx.calls", 0): 12, ("cx.calls", 1): 3}}


def test_another_partition_count_is_refused_with_the_topic_named(tmp_path: Path) -> None:
    Journal(tmp_path / "journal", {"cx.calls": 4, "cx.chats": 4}).check_layout()
    with pytest.raises(JournalLayoutError, match="cx.calls has 4 partitions there, 8 configured"):
        Journal(tmp_path / "journal", {"cx.calls": 8, "cx.chats": 4}).check_layout()
    Journal(tmp_path / "journal", {"cx.calls": 4, "cx.chats": 4, "cx.surveys": 4}).check_layout()
