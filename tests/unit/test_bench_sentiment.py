"""The sentiment bench's inputs are contract events and its count is of every message (no timing asserted)."""

from __future__ import annotations

import argparse

from bench import sentiment
from bench.suites import SUITES
from streams import topics
from tests.events import decode


def test_the_made_up_messages_are_valid_customer_chat_messages_and_all_get_scored() -> None:
    records = sentiment.messages(300, seed=1)
    assert len({value for _, value in records}) == 300
    for key, value in records:
        event = decode(value, topics.CHATS)
        assert event.type == "chat.message" and event.customer_id == key.decode()
    found = sentiment.score_alone(records)
    assert found["scored"] == 300 and set(found["labels"]) == {"positive", "neutral", "negative"}


def test_it_is_a_suite_with_a_target_of_2000_per_second() -> None:
    (suite,) = [suite for suite in SUITES if suite.name == "sentiment"]
    defaults: argparse.Namespace = suite.defaults()
    assert defaults.messages == sentiment.DEFAULT_MESSAGES and sentiment.TARGET_MESSAGES_PER_S == 2000
