"""``--profile``: sample the worker with py-spy while it folds the backlog, and say where its time went.

py-spy is not a dependency of cxpulse (``pip install py-spy``); it attaches to the running worker from
outside (ptrace), so the worker runs the code a user runs. The raw samples (collapsed stacks, one line
per distinct stack with its count) are kept next to the results for flame-graph tools; the summary
names the functions holding the most samples, by themselves (self) and with their callees (inclusive).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

SAMPLE_RATE = 100
TOP = 20
STOP_TIMEOUT_S = 30.0
# "function (path/to/file.py:123)" -> "function (path/to/file.py)": lines of one function add up.
LINE_NUMBER = re.compile(r":\d+\)$")
# The worker's own code (the packages it runs: the fold, the KPI state, the contract), as py-spy names its files.
WORKER_CODE = re.compile(r"\((streams|kpis)/[^)]*\)$")


def py_spy() -> str:
    """The py-spy next to this Python (a venv's bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("--profile needs py-spy: pip install py-spy")
    return found


def frame_name(frame: str) -> str:
    return LINE_NUMBER.sub(")", frame.strip())


def summarize_collapsed(text: str, top: int = TOP) -> dict[str, Any]:
    """Self and inclusive shares of samples per function, from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [frame_name(frame) for frame in stack.split(";")]
        samples += count
        own[frames[-1]] += count
        for frame in dict.fromkeys(frames):  # each function once per stack, in a stable order
            inclusive[frame] += count

    def shares(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": name, "share": n / samples} for name, n in counter.most_common(top)]

    if not samples:
        return {"samples": 0}
    ours = Counter({name: n for name, n in inclusive.items() if WORKER_CODE.search(name)})
    return {
        "samples": samples,
        "self": shares(own),
        "inclusive": shares(inclusive),
        "worker_code_inclusive": shares(ours),
    }


class Profiler:
    """py-spy recording one process until ``stop``; SIGINT makes py-spy write what it has."""

    def __init__(self, pid: int, output: Path) -> None:
        self.pid = pid
        self.output = output
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            py_spy(), "record", "--pid", str(self.pid), "--rate", str(SAMPLE_RATE), "--format", "raw",
            "--nonblocking", "--output", str(self.output),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    async def stop(self) -> dict[str, Any]:
        """Stop recording; the summary of what was sampled (py-spy's complaint if it wrote nothing)."""
        if self._process is None:
            raise RuntimeError("the profiler was not started")
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(self._process.communicate(), STOP_TIMEOUT_S)
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote no profile: {err.decode()[-500:]}")
        return {"raw_file": str(self.output), **summarize_collapsed(self.output.read_text())}
