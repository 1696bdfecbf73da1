"""Synthetic traffic for exactness tests: simulated contacts, delivered out of order and twice."""

from __future__ import annotations

import random
from typing import Any, Callable

import pytest

from adapters.simulator import DEFAULT_QUEUES, generate
from service.settings import Settings
from tests import reference


def simulated(seed: int, start: float, hours: float, rate_scale: float) -> list[dict[str, Any]]:
    return list(generate(start, hours * 3600, seed=seed, queues=DEFAULT_QUEUES, rate_scale=rate_scale))


def arrival_order(events: list[dict[str, Any]], seed: int, max_delay_s: float = 1200) -> list[dict[str, Any]]:
    """Delay a third of the events by up to ``max_delay_s`` (inside the grace) and duplicate a tenth."""
    rng = random.Random(seed)
    keyed = []
    for index, event in enumerate(events):
        when = reference.parse_time(event["time"])
        delay = rng.uniform(0, max_delay_s) if rng.random() < 0.33 else 0.0
        keyed.append((when + delay, index, event))
        if rng.random() < 0.1:
            keyed.append((when + rng.uniform(0, max_delay_s), index, dict(event)))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in keyed]


def reference_rules(config: Settings) -> Callable[[str], reference.QueueRules]:
    def rules(queue: str) -> reference.QueueRules:
        own = config.rules(queue)
        return reference.QueueRules(
            service_level_seconds=own.service_level_seconds,
            service_level_formula=own.service_level_formula.value,
            short_abandon_seconds=own.short_abandon_seconds,
            repeat_contact_days=own.repeat_contact_days,
        )

    return rules


def assert_matches(
    actual: dict[tuple[str, str], dict[str, Any]], expected: dict[tuple[str, str], dict[str, Any]], where: str
) -> None:
    """Every KPI of every group equal to the reference (floats to 1e-9 relative). The service may also
    serve rows the reference cannot know of: idle configured queues, with nothing counted."""
    idle = {g for g in set(actual) - set(expected) if not any(actual[g][n] for n in ("offered", "handled", "surveys"))}
    actual = {g: v for g, v in actual.items() if g not in idle}
    assert set(actual) == set(expected), (where, "only served:", set(actual) - set(expected), "only expected:", set(expected) - set(actual))
    wrong = []
    for group, values in sorted(expected.items()):
        for name, value in values.items():
            got = actual[group][name]
            same = got == value if value is None or got is None else got == pytest.approx(value, rel=1e-9, abs=1e-6)
            if not same:
                wrong.append(f"{group} {name}: served {got!r}, expected {value!r}")
    assert not wrong, f"{where}: " + "; ".join(wrong)
