"""Resident memory of a process sampled in the background: a peak needs samples, one reading at the end
would only show what the allocator kept."""

from __future__ import annotations

import asyncio
import contextlib

from bench.procfs import rss_megabytes

SAMPLE_EVERY_S = 0.5


class RssSampler:
    """Reads /proc/<pid>/status every ``every_s`` while running; ``peak_mb`` is the largest reading."""

    def __init__(self, pid: int, every_s: float = SAMPLE_EVERY_S) -> None:
        self.pid = pid
        self.every_s = every_s
        self.peak_mb = 0.0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    def read(self) -> float:
        """One reading now (also counted towards the peak)."""
        value = rss_megabytes(self.pid)
        self.peak_mb = max(self.peak_mb, value)
        self.samples += 1
        return value

    def reset_peak(self) -> None:
        """Start a new peak, e.g. for the next phase of a run."""
        self.peak_mb = 0.0

    async def _run(self) -> None:
        # A process that exits ends the sampling; its last peak stays.
        with contextlib.suppress(OSError, ValueError):
            while True:
                self.read()
                await asyncio.sleep(self.every_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
