"""Process facts from /proc (Linux): which process is the API, and how much CPU a process has used.

CPU time beside every figure tells whether the server or the load generator was the limit, which on a
2-core machine shared by both is the first question about any throughput number.
"""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (which may contain spaces and parentheses)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds the process has used so far."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def child_with_args(parent: int, *args: str) -> int | None:
    """The pid of parent's child whose command line ends with ``args`` (e.g. ``service.cli api``), if any."""
    wanted = [arg.encode() for arg in args]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int(_stat_fields(int(entry.name))[1]) != parent:
                continue
            argv = (entry / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if argv[-len(wanted) :] == wanted:
            return int(entry.name)
    return None


def open_files(pid: int) -> int:
    """How many file descriptors the process holds: one per client connection, plus its own."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_megabytes(pid: int) -> float:
    """Resident memory of the process in MB, the cost of the connections it holds."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for pid {pid}")
