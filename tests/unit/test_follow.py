"""Following a log file on a real file system: unfinished lines, rotation by rename and by copytruncate,
and resuming from a saved position, also when the file was rotated while the reader was down."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from adapters.follow import Follower, Position, load_position, save_position


def texts(lines: list) -> list[tuple[int, str]]:
    return [(line.number, line.raw.decode()) for line in lines]


def append(path: Path, data: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write(data)


def test_an_unfinished_last_line_waits_for_its_end(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_text("one\ntw")
    follower = Follower(log)
    assert texts(follower.read()) == [(1, "one")]
    assert follower.read() == []
    append(log, "o\r\nthree\n")
    assert texts(follower.read()) == [(2, "two"), (3, "three")]
    assert follower.position.offset == len(b"one\ntwo\r\nthree\n")


def test_rotation_by_rename_reads_the_old_file_to_its_end_then_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_text("a1\na2\n")
    follower = Follower(log)
    assert texts(follower.read()) == [(1, "a1"), (2, "a2")]
    log.rename(tmp_path / "queue_log.1")
    append(tmp_path / "queue_log.1", "a3\nunfinished")  # the writer had not reopened yet
    assert texts(follower.read()) == [(3, "a3")], "the old file is still read while no new file is at the path"
    log.write_text("b1\n")
    assert texts(follower.read()) == [(4, "unfinished")], "the unfinished line is handed out when the file rotates"
    assert texts(follower.read()) == [(1, "b1")]
    assert follower.rotations == 1
    assert follower.position.inode == log.stat().st_ino


def test_the_old_file_is_drained_when_the_path_is_missing_for_a_while(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_text("a1\n")
    follower = Follower(log)
    follower.read()
    log.rename(tmp_path / "queue_log.1")
    append(tmp_path / "queue_log.1", "a2\n")
    assert texts(follower.read()) == [(2, "a2")]
    assert follower.read() == []
    log.write_text("b1\n")
    assert texts(follower.read()) == [(1, "b1")]


def test_copytruncate_starts_again_at_the_beginning(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_text("a1-long-line\na2-long-line\nhalf")
    follower = Follower(log)
    assert texts(follower.read()) == [(1, "a1-long-line"), (2, "a2-long-line")]
    with log.open("r+") as file:
        file.truncate(0)
    append(log, "b1\n")
    assert texts(follower.read()) == [(3, "half")], "the unfinished line is handed out when the file rotates"
    assert texts(follower.read()) == [(1, "b1")]
    assert follower.rotations == 1


def test_copytruncate_is_seen_when_the_file_grew_back_past_the_position(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_text("a1\na2\n")  # position 6, after the newline at offset 5
    follower = Follower(log)
    follower.read()
    with log.open("r+") as file:
        file.truncate(0)
    append(log, "b1-grown-back\n")  # offset 5 now holds 'g', not a line end
    assert texts(follower.read()) == [(1, "b1-grown-back")]
    assert follower.rotations == 1


def test_resuming_from_a_saved_position(tmp_path: Path) -> None:
    log, saved = tmp_path / "queue_log", tmp_path / "position.json"
    log.write_text("l1\nl2\n")
    first = Follower(log)
    first.read()
    save_position(saved, dataclasses.replace(first.position, state={"open_calls": {"c1": "555"}}))
    first.close()
    append(log, "l3\n")
    position = load_position(saved)
    assert position is not None and position.state == {"open_calls": {"c1": "555"}}
    assert texts(Follower(log, position).read()) == [(3, "l3")]
    assert not (tmp_path / ".position.json.tmp").exists()


def test_resuming_after_the_file_was_rotated_while_the_reader_was_down(tmp_path: Path) -> None:
    log, saved = tmp_path / "queue_log", tmp_path / "position.json"
    log.write_text("a1\na2\n")
    first = Follower(log)
    first.read()
    save_position(saved, first.position)
    first.close()
    append(log, "a3\n")
    log.rename(tmp_path / "queue_log.1")
    log.write_text("b1\n")
    follower = Follower(log, load_position(saved))
    assert texts(follower.read()) == [(3, "a3")]
    assert texts(follower.read()) == [(1, "b1")]
    assert follower.position.inode == log.stat().st_ino


def test_resuming_when_the_saved_file_is_gone_reads_the_current_file_whole(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_text("b1\n")
    gone = Position(device=os.stat(log).st_dev, inode=log.stat().st_ino + 999_999, offset=50, line=7)
    assert texts(Follower(log, gone).read()) == [(1, "b1")]


def test_resuming_in_a_file_truncated_below_the_position_reads_it_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_text("b1\n")
    status = log.stat()
    assert texts(Follower(log, Position(status.st_dev, status.st_ino, 500, 40)).read()) == [(1, "b1")]


def test_a_one_shot_read_hands_out_the_unfinished_last_line(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_text("l1\nl2-cut")
    follower = Follower(log, read_bytes=4)
    found: list = []
    while chunk := follower.read_to_end():
        found += chunk
    assert texts(found) == [(1, "l1"), (2, "l2-cut")]


def test_a_position_file_that_is_not_one_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "position.json"
    bad.write_text("{\"inode\": 1}")
    with pytest.raises(ValueError, match="not a saved position"):
        load_position(bad)
    assert load_position(tmp_path / "missing.json") is None

