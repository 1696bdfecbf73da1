"""Reading a growing log file the way ``tail -F`` does, with a position that survives the reader's restart.

Log rotation happens two ways and both are handled by polling (no inotify, so it works on any file
system the file can be read from):

- rename (logrotate's default, Asterisk's own ``logger rotate``): a new file (new inode) appears at the
  path. The old file is read to its end first (the writer may still append until it reopens), then the
  new one from its start.
- copytruncate: the same file shrinks below the read position (or the byte before it is no longer the
  end of a line, when it grew back between two polls). Reading restarts at its start; what was written
  between the copy and the truncation is lost to every reader, which is why rename is the better choice.

A last line without its newline is held back until the rest arrives; only when the file rotates (or a
one-shot read reaches the end) is it handed out as it is, for the caller to judge.

``Position`` is what a restart needs: the file's identity (device, inode), the byte offset after the
last line the caller has finished with, and that line's number. The caller saves it only once what it
made of those lines is safe (for the Asterisk ingest: acknowledged by the broker), so a restart re-reads
at most what was not yet safe, never skips. When the saved file has been rotated away meanwhile, it is
looked for by its inode in the same directory and read to its end before the current file.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger("cxpulse.follow")

READ_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Position:
    """Where reading resumes; ``state`` is the caller's own (e.g. calls in progress), saved with it."""

    device: int
    inode: int
    offset: int
    line: int
    state: dict[str, Any] = field(default_factory=dict)


def load_position(path: Path) -> Position | None:
    """The saved position, or None when there is none yet; a file that is not a position is an error
    (starting from the beginning instead would publish the whole log again)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return Position(
            int(document["device"]), int(document["inode"]), int(document["offset"]), int(document["line"]),
            dict(document.get("state") or {}),
        )  # fmt: skip
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"position file {path} is not a saved position: {exc}") from exc


def save_position(path: Path, position: Position) -> None:
    """Atomically: written to a temporary file, flushed to disk, then renamed over the old one, so a
    crash leaves either the old position or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding="utf-8") as file:
        json.dump(asdict(position), file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


@dataclass(frozen=True, slots=True)
class Line:
    """One line as the file holds it, numbered as an editor would, for reports a person can follow."""

    number: int  # 1-based in its file
    raw: bytes  # without the line end (LF or CRLF)


class Follower:
    """Hands out complete lines of the file at ``path`` as they appear, across rotations.

    ``read()`` returns what is there now (possibly nothing); ``position`` is after the last line it
    returned. Lines of one call to ``read()`` come from one file, so a position is always in one file.
    """

    def __init__(self, path: Path, start: Position | None = None, read_bytes: int = READ_BYTES) -> None:
        self.path = path
        self._read_bytes = read_bytes
        self._file: BinaryIO | None = None
        self._identity = (0, 0)
        self._offset = 0
        self._line = 0
        self._pending = b""
        self._last_byte = b"\n"
        self._switch = False
        self.rotations = 0
        self._open_at(start)

    @property
    def position(self) -> Position:
        return Position(self._identity[0], self._identity[1], self._offset, self._line)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def read(self) -> list[Line]:
        """Complete lines now available; on a rotation, the old file's unfinished last line too."""
        if self._switch:
            self._switch = False
            self._reopen()
        if self._file is None:
            self._reopen()
            if self._file is None:
                return []
        if not self._ends_a_line():
            lines = self._restart_truncated()
            if lines:
                return lines
        chunk = self._file.read(self._read_bytes)
        if chunk:
            return self._lines(chunk)
        rotations = self.rotations
        lines = self._check_rotation()
        if lines or self.rotations == rotations:
            return lines
        return self.read()  # nothing was left of the old file: the new one's lines at once

    def read_to_end(self) -> list[Line]:
        """For a one-shot read: what ``read()`` gives and, once the end is reached, an unfinished last line."""
        while True:
            lines = self.read()
            if lines or self._file is None:
                return lines
            if self._file.tell() >= os.fstat(self._file.fileno()).st_size:
                return self._flush() if self._pending else []

    def _lines(self, chunk: bytes) -> list[Line]:
        data = self._pending + chunk
        cut = data.rfind(b"\n") + 1
        self._pending = data[cut:]
        if not cut:
            return []
        found = []
        number = self._line
        for raw in data[:cut].split(b"\n")[:-1]:
            number += 1
            found.append(Line(number, raw[:-1] if raw.endswith(b"\r") else raw))
        self._line = number
        self._offset += cut
        self._last_byte = b"\n"
        return found

    def _flush(self) -> list[Line]:
        """The unfinished last line as it is (the file rotated, or a one-shot read ended)."""
        raw, self._pending = self._pending, b""
        self._offset += len(raw)
        self._last_byte = raw[-1:]
        self._line += 1
        return [Line(self._line, raw.rstrip(b"\r"))]

    def _check_rotation(self) -> list[Line]:
        assert self._file is not None
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return []  # renamed away, the new file not created yet: keep the old one open meanwhile
        read_to = self._offset + len(self._pending)
        if (status.st_dev, status.st_ino) != self._identity:
            rest = self._file.read()
            lines = self._lines(rest) if rest else []
            if self._pending:
                lines += self._flush()
            log.info("log file rotated (renamed)", extra={"file": str(self.path), "lines": self._line})
            self._switch = True
            self.rotations += 1
            return lines
        if status.st_size < read_to:
            return self._restart_truncated()
        return []

    def _restart_truncated(self) -> list[Line]:
        """Copytruncate: the unfinished line read before is handed out, and reading starts again at 0."""
        assert self._file is not None
        lines = self._flush() if self._pending else []
        log.info("log file rotated (truncated)", extra={"file": str(self.path), "lines": self._line})
        self._file.seek(0)
        self._offset, self._line, self._pending, self._last_byte = 0, 0, b"", b"\n"
        self.rotations += 1
        return lines

    def _ends_a_line(self) -> bool:
        """Whether the byte before the read position is still the one read there (a line end, unless an
        unfinished line was handed out): after a truncation the file may have grown past the old
        position again between two polls."""
        assert self._file is not None
        if self._offset == 0:
            return True
        return os.pread(self._file.fileno(), 1, self._offset - 1) == self._last_byte

    def _reopen(self) -> None:
        self.close()
        try:
            self._file = self.path.open("rb")
        except FileNotFoundError:
            return
        status = os.fstat(self._file.fileno())
        self._identity = (status.st_dev, status.st_ino)
        self._offset, self._line, self._pending, self._last_byte = 0, 0, b"", b"\n"

    def _open_at(self, start: Position | None) -> None:
        if start is None:
            self._reopen()
            return
        found = self._find(start)
        if found is None:
            log.warning(
                "the saved position's file is gone: reading the current file from its start",
                extra={"file": str(self.path), "inode": start.inode, "offset": start.offset},
            )
            self._reopen()
            return
        self._file = found.open("rb")
        self._identity = (start.device, start.inode)
        if os.fstat(self._file.fileno()).st_size < start.offset:
            log.warning("the saved position's file was truncated: reading it from its start", extra={"file": str(found)})
            return
        self._file.seek(start.offset)
        self._offset, self._line = start.offset, start.line
        self._last_byte = os.pread(self._file.fileno(), 1, start.offset - 1) if start.offset else b"\n"

    def _find(self, start: Position) -> Path | None:
        """The file the position is in: at the path, or rotated to another name in the same directory."""
        wanted = (start.device, start.inode)
        candidates = [self.path]
        try:
            candidates += sorted(p for p in self.path.parent.iterdir() if p != self.path)
        except FileNotFoundError:
            return None
        for candidate in candidates:
            try:
                status = candidate.stat()
            except OSError:
                continue
            if (status.st_dev, status.st_ino) == wanted:
                return candidate
        return None
