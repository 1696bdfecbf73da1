"""Readers that turn recorded traffic files into contract v1 events, for ``cxpulse replay``.

They are pure (a file in, a ``Recording`` out; no Kafka, no clock) so that what a replay will send can
be checked, counted and tested before anything is published. A line that cannot be read is reported
as a ``SkippedLine`` with its number and the reason, never repaired by guessing: a replay of real
traffic is only worth something if every event in it says what the source said.

Two formats:

- ``jsonl``: one contract event per line, as the service itself would receive it.
- ``anonbank``: the "Anonymous Bank" call-center log (one call per line, whitespace-separated
  columns, local wall-clock times), mapped to offered/answered/ended/abandoned voice events.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from operator import itemgetter
from pathlib import Path
from typing import Any, Final, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters.publisher import topic_of
from streams import topics
from streams.contract import InvalidEvent, validate

FORMATS: Final = ("jsonl", "anonbank")
DEFAULT_TIMEZONE: Final = "Asia/Jerusalem"

ANONBANK_FIELDS: Final = (
    "vru+line", "call_id", "customer_id", "priority", "type", "date", "vru_entry", "vru_exit", "vru_time",
    "q_start", "q_exit", "q_time", "outcome", "ser_start", "ser_exit", "ser_time", "server",
)  # fmt: skip
_HEADER: Final = [name.encode() for name in ANONBANK_FIELDS]
_OUTCOMES: Final = frozenset({"AGENT", "HANG", "PHANTOM"})
_TIME_FIELDS: Final = ("vru_entry", "vru_exit", "q_start", "q_exit", "ser_start", "ser_exit")
_NUMBER_FIELDS: Final = ("priority", "vru_time", "q_time", "ser_time")
# The log writes 0:00:00 for a step the call never reached (no queue, no service).
_NOT_REACHED: Final = 0
# A time this far before the call's arrival is on the next day: the clock wrapped at midnight. Calls
# never last half a day, while small backwards steps (clock skew between the VRU and the switch) do
# occur and must not be read as a day later.
_WRAP_S: Final = 12 * 3600
_DAY_S: Final = 24 * 3600

_HMS = re.compile(r"(\d{1,2}):([0-5]\d):([0-5]\d)")
_YYMMDD = re.compile(r"(\d\d)(\d\d)(\d\d)")
_INTEGER = re.compile(r"-?\d+")


@dataclass(frozen=True, slots=True)
class SkippedLine:
    line: int  # 1-based line number in the file
    reason: str  # what could not be read, for a person


@dataclass
class Recording:
    """What a replay would send, and what it leaves out and why.

    ``lines`` counts the data lines read (not the header, not blank lines), so that
    ``lines == calls turned into events + phantom + no_queue + len(skipped)`` for anonbank files and
    ``lines == len(events) + len(skipped)`` for jsonl files.
    """

    events: list[dict[str, Any]]  # contract events, sorted by event time (stable: ties keep file order)
    skipped: list[SkippedLine] = field(default_factory=list)
    lines: int = 0
    phantom: int = 0  # anonbank PHANTOM rows: calls that never existed, left out on purpose
    no_queue: int = 0  # anonbank HANG rows that hung up before any queue: no contact to report


class _Unreadable(ValueError):
    """A line that cannot become events; the message is the reason shown to the person replaying."""


def read_recording(path: Path, fmt: str, timezone: str = DEFAULT_TIMEZONE) -> Recording:
    """Read ``path`` in format ``fmt``; ``timezone`` is the zone of local times (anonbank only,
    since jsonl events carry their own offsets)."""
    if fmt == "jsonl":
        return read_jsonl(path)
    if fmt == "anonbank":
        return read_anonbank(path, timezone)
    raise ValueError(f"unknown recording format {fmt!r}: expected one of {', '.join(FORMATS)}")


def read_jsonl(path: Path) -> Recording:
    """One contract event per line; each is validated against the schema of the topic it will go to."""
    recording = Recording(events=[])
    timed: list[tuple[float, dict[str, Any]]] = []
    for number, raw in _numbered_lines(path):
        recording.lines += 1
        try:
            document = json.loads(raw)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            recording.skipped.append(SkippedLine(number, f"not JSON: {exc}"))
            continue
        if not isinstance(document, dict):
            recording.skipped.append(SkippedLine(number, f"not a JSON object but {type(document).__name__}"))
            continue
        try:
            event = validate(document, _topic(document))
        except InvalidEvent as exc:
            recording.skipped.append(SkippedLine(number, str(exc)))
            continue
        timed.append((event.time, document))
    recording.events = _by_time(timed)
    return recording


def read_anonbank(path: Path, timezone: str = DEFAULT_TIMEZONE) -> Recording:
    """The Anonymous Bank call log: each served or abandoned call becomes voice contact events.

    AGENT rows give offered (at q_start, or at ser_start when the call never queued), answered at
    ser_start and ended at ser_exit; HANG rows that reached a queue give offered and abandoned at
    q_exit. PHANTOM rows and HANG rows that never reached a queue are counted, not reported as errors.
    """
    zone = _zone(timezone)
    recording = Recording(events=[])
    timed: list[tuple[datetime, dict[str, Any]]] = []
    first_seen: dict[tuple[str, str, str], int] = {}
    for number, raw in _numbered_lines(path):
        if number == 1 and raw.lower().split() == _HEADER:
            continue
        recording.lines += 1
        try:
            fields = _anonbank_fields(raw)
            if fields["outcome"] == "PHANTOM":
                recording.phantom += 1
                continue
            call = _Call.parse(fields)
            if call.outcome == "HANG" and call.q_start == _NOT_REACHED:
                recording.no_queue += 1
                continue
            key = (fields["vru+line"], call.call_id, fields["date"])
            if key in first_seen:
                raise _Unreadable(f"same vru+line, call_id and date as line {first_seen[key]}")
            events = call.events(zone)
        except _Unreadable as exc:
            recording.skipped.append(SkippedLine(number, str(exc)))
            continue
        first_seen[key] = number
        timed.extend(events)
    recording.events = _by_time(timed)
    return recording


def _numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based numbers, line ends (LF or CRLF) and a leading BOM removed.

    Lines stay bytes so that one line that is not UTF-8 is reported on its own instead of failing
    the whole file.
    """
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            if number == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            line = raw.rstrip(b"\r\n")
            if line.strip():
                yield number, line


def _topic(document: dict[str, Any]) -> str:
    """The topic the event would be published to; without type or channel the contact schema is
    the one to name what is missing."""
    try:
        return topic_of(document)
    except KeyError:
        return topics.CALLS


def _by_time(timed: list[tuple[Any, dict[str, Any]]]) -> list[dict[str, Any]]:
    timed.sort(key=itemgetter(0))  # list.sort is stable: ties keep file order
    return [event for _, event in timed]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _anonbank_fields(raw: bytes) -> dict[str, str]:
    """Columns by name; split on any whitespace because some months have spaces instead of tabs."""
    try:
        values = raw.decode("utf-8").split()
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"not UTF-8 text: {exc}") from exc
    if len(values) != len(ANONBANK_FIELDS):
        raise _Unreadable(f"{len(values)} fields instead of {len(ANONBANK_FIELDS)}")
    fields = dict(zip(ANONBANK_FIELDS, values))
    if fields["outcome"] not in _OUTCOMES:
        raise _Unreadable(f"outcome {fields['outcome']!r} is none of {', '.join(sorted(_OUTCOMES))}")
    return fields


@dataclass(frozen=True, slots=True)
class _Call:
    """One AGENT or HANG row with its columns checked; times are seconds after local midnight."""

    id_prefix: str
    call_id: str
    customer_id: str | None
    queue: str
    day: date
    times: dict[str, int]
    q_time: int
    ser_time: int
    outcome: str
    server: str | None

    @property
    def q_start(self) -> int:
        return self.times["q_start"]

    @classmethod
    def parse(cls, fields: dict[str, str]) -> _Call:
        times = {name: _seconds(name, fields[name]) for name in _TIME_FIELDS}
        numbers = {name: _integer(name, fields[name]) for name in _NUMBER_FIELDS}
        for name in ("q_time", "ser_time"):  # vru_time is not used and is known to be dirty; let it be
            if numbers[name] < 0:
                raise _Unreadable(f"{name} is negative: {numbers[name]}")
        return cls(
            id_prefix=f"anonbank-{fields['date']}-{fields['vru+line']}-{fields['call_id']}",
            call_id=fields["call_id"],
            customer_id=None if fields["customer_id"] == "0" else fields["customer_id"],
            queue=fields["type"],
            day=_day(fields["date"]),
            times=times,
            q_time=numbers["q_time"],
            ser_time=numbers["ser_time"],
            outcome=fields["outcome"],
            server=None if fields["server"] == "NO_SERVER" else fields["server"],
        )

    def events(self, zone: ZoneInfo) -> list[tuple[datetime, dict[str, Any]]]:
        """The call's events with their UTC instants, each checked against the contract."""
        if self.outcome == "AGENT":
            queued = self.q_start != _NOT_REACHED
            answered_column = self._answer_column(queued)
            offered = self._at("q_start" if queued else answered_column, zone)
            answered = self._at(answered_column, zone)
            ended = self._at("ser_exit", zone) if self.times["ser_exit"] != _NOT_REACHED else answered
            wait_s = self.q_time if queued else 0
            timed = [
                (offered, self._event("offered", offered)),
                (answered, self._event("answered", answered, agent_id=self.server, wait_s=wait_s)),
                (ended, self._event("ended", ended, agent_id=self.server, talk_s=self.ser_time)),
            ]
        else:
            offered = self._at("q_start", zone)
            abandoned = self._at("q_exit", zone)
            self._in_order("q_start", offered, "q_exit", abandoned)
            timed = [
                (offered, self._event("offered", offered)),
                (abandoned, self._event("abandoned", abandoned, wait_s=self.q_time)),
            ]
        for _, event in timed:
            try:
                validate(event, topics.CALLS)
            except InvalidEvent as exc:
                raise _Unreadable(f"{event['type']} would break the contract: {exc}") from exc
        return timed

    def _answer_column(self, queued: bool) -> str:
        """Where the answer time is read. A served call whose ser_start is 0:00:00 has no service start
        recorded; it was answered when it left the queue (q_exit), or the voice-response unit
        (vru_exit) when it never queued. Explicit wait_s and talk_s keep the durations as logged, and
        a clock skew of a second between q_start and ser_start needs no correction for that reason."""
        if self.times["ser_start"] != _NOT_REACHED:
            return "ser_start"
        return "q_exit" if queued else "vru_exit"

    def _at(self, name: str, zone: ZoneInfo) -> datetime:
        """A column's wall-clock time as a UTC instant.

        The log's date is the day the call arrived (vru_entry); a time more than half a day before
        the arrival is after the following midnight. A local time that a DST change skips or repeats
        has no single instant, so the row is refused rather than given one of two answers.
        """
        seconds = self.times[name]
        if seconds < self.times["vru_entry"] - _WRAP_S:
            seconds += _DAY_S
        local = datetime.combine(self.day, time(), tzinfo=zone) + timedelta(seconds=seconds)
        if local.utcoffset() != local.replace(fold=1).utcoffset():
            raise _Unreadable(
                f"{name} {local:%Y-%m-%d %H:%M:%S} is skipped or repeated by a DST change in {zone.key}"
            )
        return local.astimezone(timezone.utc)

    def _in_order(self, first: str, first_at: datetime, then: str, then_at: datetime) -> None:
        if then_at < first_at:
            raise _Unreadable(
                f"{then} {_hms(self.times[then])} is before {first} {_hms(self.times[first])}"
            )

    def _event(self, kind: str, moment: datetime, **extra: Any) -> dict[str, Any]:
        event: dict[str, Any] = {
            "event_id": f"{self.id_prefix}-{kind}",
            "type": f"contact.{kind}",
            "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "contact_id": self.call_id,
            "customer_id": self.customer_id,
            "queue": self.queue,
            "channel": "voice",
        }
        event.update(extra)
        return event


def _seconds(name: str, text: str) -> int:
    match = _HMS.fullmatch(text)
    if match is None or int(match[1]) > 23:
        raise _Unreadable(f"{name} is not a H:MM:SS time: {text!r}")
    return int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3])


def _integer(name: str, text: str) -> int:
    if _INTEGER.fullmatch(text) is None:
        raise _Unreadable(f"{name} is not a whole number: {text!r}")
    return int(text)


def _day(text: str) -> date:
    """YYMMDD; two-digit years from 50 on are 19YY (the log is from 1999), earlier ones 20YY."""
    match = _YYMMDD.fullmatch(text)
    try:
        if match is None:
            raise ValueError("not six digits")
        year = int(match[1])
        return date(1900 + year if year >= 50 else 2000 + year, int(match[2]), int(match[3]))
    except ValueError as exc:
        raise _Unreadable(f"date is not a YYMMDD date: {text!r} ({exc})") from exc


def _hms(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
