"""Collector settings of the long-running processes: rarer young collections, slow ones logged."""

from __future__ import annotations

import gc
import logging

import pytest

from service import memory


def test_tune_sets_thresholds_and_logs_a_slow_collection(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    before = gc.get_threshold()
    monkeypatch.setattr(memory, "SLOW_COLLECTION_S", 0.0)
    try:
        memory.tune()
        memory.tune()
        assert gc.get_threshold() == memory.THRESHOLDS
        assert gc.callbacks.count(memory._watch) == 1
        with caplog.at_level(logging.WARNING, logger="cxpulse.gc"):
            gc.collect(2)
        assert any(r.msg == "slow garbage collection" and r.generation == 2 for r in caplog.records)  # type: ignore[attr-defined]
    finally:
        gc.set_threshold(*before)
        gc.callbacks.remove(memory._watch)
