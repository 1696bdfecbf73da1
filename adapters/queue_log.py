"""Asterisk's ``queue_log`` read line by line: the pipe-separated file and the database/CSV export.

Asterisk writes one line per queue event (main/logger.c ``ast_queue_log``): in the file as
``epoch|callid|queuename|agent|event|data...`` (the data part is the event's own ``|``-separated
parameters), and with a realtime backend as a row ``time, callid, queuename, agent, event, data1..data5``
whose time is ``YYYY-MM-DD HH:MM:SS.ffffff`` in the server's zone (or GMT with
``queue_log_realtime_use_gmt``). Both become the same ``Entry``, so the mapping to contract events
(``adapters.asterisk``) does not care where a line came from.

This module only reads: it judges whether a line can be read at all (bytes, field count, time, known
event name) and never what the event means. A line that cannot be read is a ``BadLine`` with its number
and a reason, never a guess: replaying a log is only worth something if every event says what the log said.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Layout = Literal["pipe", "csv"]
LAYOUTS: Final = ("pipe", "csv", "auto")
BadKind = Literal["nul", "fields", "time", "event"]

# Every event app_queue.c, chan_agent/app_agent_pool and the logger write (read from the Asterisk
# sources), older releases' names, and the ones Wazo/XiVO add; a name outside this set is a bad line
# unless the reader is told to ignore it (dialplan QueueLog() can write any name).
CALL_EVENTS: Final = frozenset({
    "ENTERQUEUE", "CONNECT", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY", "WITHDRAW",
    "COMPLETECALLER", "COMPLETEAGENT", "TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER", "RINGNOANSWER",
})  # fmt: skip
AGENT_EVENTS: Final = frozenset({
    "AGENTLOGIN", "AGENTLOGOFF", "AGENTCALLBACKLOGIN", "AGENTCALLBACKLOGOFF",
    "ADDMEMBER", "REMOVEMEMBER", "PAUSE", "UNPAUSE", "PAUSEALL", "UNPAUSEALL",
})  # fmt: skip
SKIPPED_EVENTS: Final = frozenset({
    "RINGCANCELED", "AGENTDUMP", "SYSCOMPAT", "OUTCALL", "PENALTY", "RINGINUSE",
    "CONFIGRELOAD", "QUEUESTART", "DID", "INFO", "JOINEMPTY", "JOINUNAVAIL", "FULL", "CLOSED",
})  # fmt: skip
KNOWN_EVENTS: Final = CALL_EVENTS | AGENT_EVENTS | SKIPPED_EVENTS

CSV_COLUMNS: Final = ("time", "callid", "queuename", "agent", "event", "data1", "data2", "data3", "data4", "data5")
_REQUIRED_COLUMNS: Final = CSV_COLUMNS[:5]
_DATA_COLUMNS: Final = CSV_COLUMNS[5:]
_PIPE_HEAD: Final = 5  # epoch, callid, queuename, agent, event
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND: Final = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Entry:
    """One readable queue_log line. ``time`` is RFC 3339 with an offset and ``micros`` the same instant
    in whole microseconds since the epoch (exact, for the agent timelines' arithmetic); ``data`` are the
    event's parameters without trailing empty ones (the CSV layout pads to five); ``key`` identifies the
    line's content, so that the same line read again (a restart, a re-export) gives the same event id."""

    line: int
    time: str
    micros: int
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]
    key: str


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that cannot be read: ``kind`` is a short fixed word (a metric label and a dead-letter
    header), ``reason`` the whole story for a person, ``raw`` the bytes as they were in the file."""

    line: int
    kind: str
    reason: str
    raw: bytes


class _Unreadable(ValueError):
    """Raised deep in the parsing of a line so that one place turns every failure into a BadLine."""

    def __init__(self, kind: BadKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def zone(name: str) -> ZoneInfo:
    """An IANA zone; an unknown name is a ValueError that says so (a CLI error, not a traceback)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def detect_layout(raw: bytes) -> Layout | None:
    """The layout of a file from one of its lines: a pipe line starts with its epoch and a pipe; a CSV
    line (or the header) has commas before any pipe. None when the line says neither."""
    head = raw.lstrip(b"\xef\xbb\xbf").split(b"|", 1)[0]
    if head.isdigit() and b"|" in raw:
        return "pipe"
    if b"," in head:
        return "csv"
    return None


class QueueLogParser:
    """Turns numbered raw lines into ``Entry`` or ``BadLine``; one parser per file (it keeps the CSV
    header's column order and the last time read, which decides a repeated local hour).

    ``layout`` is ``pipe``, ``csv`` or ``auto`` (decided by the first non-blank line). ``timezone`` is
    the zone of the CSV layout's times (pipe lines carry epoch seconds). ``ignore_events`` are extra
    event names (custom ``QueueLog()`` events) to accept and skip instead of reporting.
    """

    def __init__(self, layout: str = "auto", timezone_name: str = "UTC", ignore_events: frozenset[str] = frozenset()) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"unknown queue_log layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
        self.layout: Layout | None = None if layout == "auto" else layout  # type: ignore[assignment]
        self._zone = zone(timezone_name)
        self._utc = self._zone.key in ("UTC", "Etc/UTC", "GMT", "Etc/GMT")
        self._known = KNOWN_EVENTS | ignore_events
        self._columns: dict[str, int] | None = None
        self._header_names: list[str] | None = None
        self._single_data: int | None = None
        self._epoch_text = ""
        self._epoch_time = ""
        self._epoch_micros = 0
        self._second_text = ""
        self._second_time: datetime | None = None
        self._last_instant: datetime | None = None

    def state(self) -> dict[str, Any]:
        """What a reader resuming in the middle of the file needs: the layout and the CSV header."""
        return {"layout": self.layout, "header": self._header_names}

    def restore(self, state: dict[str, Any]) -> None:
        if self.layout is None and state.get("layout") in ("pipe", "csv"):
            self.layout = state["layout"]
        if state.get("header"):
            self._header([str(name) for name in state["header"]])

    def parse(self, number: int, raw: bytes) -> Entry | BadLine | None:
        """None for what is no event at all: a blank line, the CSV header."""
        if not raw.strip():
            return None
        if self.layout is None:
            self.layout = detect_layout(raw)
        try:
            if b"\x00" in raw:
                raise _Unreadable("nul", "NUL bytes in the line (an unclean shutdown leaves them)")
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n").lstrip("\ufeff")
            if self.layout == "pipe":
                return self._pipe(number, text)
            if self.layout == "csv":
                return self._csv(number, text)
            raise _Unreadable("fields", "neither a pipe-separated line (epoch|callid|...) nor a CSV row")
        except _Unreadable as exc:
            return BadLine(number, exc.kind, str(exc), raw)

    def _pipe(self, number: int, text: str) -> Entry:
        fields = text.split("|")
        if len(fields) < _PIPE_HEAD:
            raise _Unreadable("fields", f"{len(fields)} fields, at least {_PIPE_HEAD} expected (epoch|callid|queuename|agent|event)")
        epoch = fields[0]
        if epoch != self._epoch_text:
            if not epoch.isdigit():
                raise _Unreadable("time", f"epoch is not a whole number of seconds: {epoch!r}")
            self._epoch_time = datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._epoch_micros = int(epoch) * 1_000_000
            self._epoch_text = epoch
        return self._entry(number, self._epoch_time, self._epoch_micros, fields[1:5], fields[5:])

    def _csv(self, number: int, text: str) -> Entry | None:
        fields = next(csv.reader([text])) if '"' in text else text.split(",")
        if not fields[0][:1].isdigit():
            names = [name.strip().lower() for name in fields]
            if "time" in names and "callid" in names:
                self._header(names)
                return None
        if self._columns is None:
            if len(fields) != len(CSV_COLUMNS):
                raise _Unreadable("fields", f"{len(fields)} fields instead of {len(CSV_COLUMNS)} ({', '.join(CSV_COLUMNS)})")
            head, data = fields[1:5], fields[5:]
            stamp = fields[0]
        else:
            columns = self._columns
            if len(fields) != len(columns):
                raise _Unreadable("fields", f"{len(fields)} fields instead of the header's {len(columns)}")
            head = [fields[columns[name]] for name in _REQUIRED_COLUMNS[1:]]
            if self._single_data is not None:
                data = fields[self._single_data].split("|")
            else:
                data = [fields[columns[name]] if name in columns else "" for name in _DATA_COLUMNS]
            stamp = fields[columns["time"]]
        if data and "|" in data[-1]:
            # Asterisk splits the parameters into data1..data5 and leaves any further ones, pipes and
            # all, in data5 (an ATTENDEDTRANSFER of kind LINK has six).
            data = data[:-1] + data[-1].split("|")
        moment = self._local_time(stamp.strip())
        return self._entry(number, moment.isoformat(), (moment - _EPOCH) // _MICROSECOND, head, data)

    def _header(self, names: list[str]) -> None:
        missing = [name for name in _REQUIRED_COLUMNS if name not in names]
        if missing:
            raise _Unreadable("fields", f"header lacks {', '.join(missing)}")
        self._columns = {name: index for index, name in enumerate(names)}
        self._header_names = names
        self._single_data = self._columns.get("data") if "data1" not in self._columns else None

    def _local_time(self, stamp: str) -> datetime:
        """The export's wall-clock time in the configured zone, as RFC 3339 with its offset.

        A time with its own offset keeps it. A local time that a DST change repeats is read as the
        second pass once the log has already reached the first pass's instant (the log is written in
        time order), as the first otherwise; one that a DST change skips cannot have been written by a
        correct clock and is refused.
        """
        second, fraction = stamp[:19], stamp[19:]
        if second != self._second_text or self._second_time is None:
            self._second_time = self._resolve(second)
            self._second_text = second
        moment = self._second_time
        if fraction:
            if not (fraction[0] == "." and fraction[1:].isdigit() and len(fraction) <= 7):
                moment = self._aware(stamp)
            else:
                moment = moment + timedelta(microseconds=int(fraction[1:].ljust(6, "0")))
        self._last_instant = moment
        return moment

    def _resolve(self, second: str) -> datetime:
        try:
            naive = datetime.strptime(second, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return self._aware(second)
        if self._utc:
            return naive.replace(tzinfo=self._zone)
        first, later = naive.replace(tzinfo=self._zone), naive.replace(tzinfo=self._zone, fold=1)
        if first.utcoffset() == later.utcoffset():
            return first
        if first.astimezone(timezone.utc).astimezone(self._zone).replace(tzinfo=None) != naive:
            raise _Unreadable("time", f"{second} does not exist in {self._zone.key} (skipped by a DST change)")
        if self._last_instant is not None and self._last_instant >= first:
            return later
        return first

    def _aware(self, stamp: str) -> datetime:
        """Anything else datetime reads (an offset, a 'T'); refused when it is not a date-time at all."""
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError as exc:
            raise _Unreadable("time", f"time is not YYYY-MM-DD HH:MM:SS[.ffffff]: {stamp!r}") from exc
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=self._zone)

    def _entry(self, number: int, time: str, micros: int, head: list[str], data: list[str]) -> Entry:
        callid, queue, agent, event = head
        if event not in self._known:
            raise _Unreadable("event", f"unknown event {event!r}")
        while data and not data[-1]:
            data.pop()
        key = hashlib.blake2b(f"{time}|{callid}|{queue}|{agent}|{event}|{'|'.join(data)}".encode(), digest_size=10).hexdigest()
        return Entry(number, time, micros, callid, queue, agent, event, tuple(data), key)
