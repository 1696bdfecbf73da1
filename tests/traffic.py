"""Synthetic traffic for exactness tests: simulated contacts, delivered out of order and twice."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Any, Callable

import pytest

from adapters.simulator import DEFAULT_QUEUES, generate
from service.settings import Settings
from tests import reference


def simulated(seed: int, start: float, hours: float, rate_scale: float) -> list[dict[str, Any]]:
    return list(generate(start, hours * 3600, seed=seed, queues=DEFAULT_QUEUES, rate_scale=rate_scale))


def with_chat_sentiment(events: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The simulated events plus, for each non-voice contact, a few chat messages (customer and agent)
    and a chat.sentiment for each customer message, as the scorer publishes them: the message's
    time, half of them naming the message's queue and channel and half leaving them to the contact.
    Scores and labels are drawn here (labels by the +-0.05 thresholds), not by any scorer."""
    rng = random.Random(seed)
    added: list[dict[str, Any]] = []
    for event in events:
        if event["type"] != "contact.offered" or event["channel"] == "voice":
            continue
        when = reference.parse_time(event["time"])
        for n in range(rng.randint(0, 3)):
            at = datetime.fromtimestamp(when + rng.uniform(1, 600), tz=timezone.utc).isoformat()
            sender = rng.choice(("customer", "customer", "agent"))
            message = {"event_id": f"{event['event_id']}-m{n}", "type": "chat.message", "time": at,
                       "contact_id": event["contact_id"], "customer_id": event.get("customer_id"), "sender": sender,
                       "text": "words"}  # fmt: skip
            added.append(message)
            if sender == "agent":
                continue
            score = round(rng.uniform(-1, 1), 4)
            label = "positive" if score >= 0.05 else "negative" if score <= -0.05 else "neutral"
            sentiment = {"event_id": f"sentiment-{message['event_id']}", "type": "chat.sentiment", "time": at,
                         "contact_id": event["contact_id"], "customer_id": event.get("customer_id"),
                         "message_event_id": message["event_id"], "score": score, "label": label}  # fmt: skip
            if rng.random() < 0.5:
                sentiment.update(queue=event["queue"], channel=event["channel"])
            added.append(sentiment)
    return sorted([*events, *added], key=lambda e: reference.parse_time(e["time"]))


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
