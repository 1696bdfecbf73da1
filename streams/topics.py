"""Topic names of contract v1, in one place so producers, the worker and the API agree."""

from typing import Final

CALLS: Final = "cx.calls"
CHATS: Final = "cx.chats"
SURVEYS: Final = "cx.surveys"
AGENTS: Final = "cx.agents"
TICKETS: Final = "cx.tickets"
ACCOUNTS: Final = "cx.accounts"
DEADLETTER: Final = "cx.deadletter"

# Keyed by customer: a customer's contacts and surveys meet in one partition's state.
SOURCE_TOPICS: Final = (CALLS, CHATS, SURVEYS)
# Everything the worker folds: the customer topics, agents' states keyed by agent id, and tickets
# and accounts (keyed by customer too, but recomputed from their own event sets, not re-read).
FOLDED_TOPICS: Final = (*SOURCE_TOPICS, AGENTS, TICKETS, ACCOUNTS)


def topic_for_channel(channel: str) -> str:
    """Voice goes to cx.calls; every other channel (chat, email, ...) to cx.chats."""
    return CALLS if channel == "voice" else CHATS
