"""Topic names of contract v1, in one place so producers, the worker and the API agree."""

from typing import Final

CALLS: Final = "cx.calls"
CHATS: Final = "cx.chats"
SURVEYS: Final = "cx.surveys"
AGENTS: Final = "cx.agents"
DEADLETTER: Final = "cx.deadletter"

# Keyed by customer: a customer's contacts and surveys meet in one partition's state.
SOURCE_TOPICS: Final = (CALLS, CHATS, SURVEYS)
# Everything the worker folds: the customer topics, and agents' states keyed by agent id.
FOLDED_TOPICS: Final = (*SOURCE_TOPICS, AGENTS)


def topic_for_channel(channel: str) -> str:
    """Voice goes to cx.calls; every other channel (chat, email, ...) to cx.chats."""
    return CALLS if channel == "voice" else CHATS
