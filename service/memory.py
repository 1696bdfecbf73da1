"""Garbage-collector settings for the long-running processes (worker and API).

With CPython's defaults, a worker under steady load ran a full collection several times a second,
each 0.1-0.4 s while it found nothing to free (its state is long-lived, not cyclic garbage), and
every event waited behind it. Young collections are made rarer, so fewer short-lived objects are
promoted and full collections come seldom; a collection that still takes long is logged.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

log = logging.getLogger("cxpulse.gc")

THRESHOLDS = (50_000, 10, 100)
SLOW_COLLECTION_S = 0.1

_started: list[float] = []


def _watch(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[:] = [time.perf_counter()]
    elif _started:
        seconds = time.perf_counter() - _started[0]
        if seconds > SLOW_COLLECTION_S:
            log.warning("slow garbage collection", extra={"generation": info["generation"], "seconds": round(seconds, 3),
                                                          "collected": info["collected"]})  # fmt: skip


def tune() -> None:
    gc.set_threshold(*THRESHOLDS)
    if _watch not in gc.callbacks:
        gc.callbacks.append(_watch)
