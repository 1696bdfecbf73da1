"""Topic names of contract v1, in one place so producers, the worker and the API agree."""

from typing import Final

CALLS: Final = "cx.calls"
CHATS: Final = "cx.chats"
SURVEYS: Final = "cx.surveys"
DEADLETTER: Final = "cx.deadletter"

SOURCE_TOPICS: Final = (CALLS, CHATS, SURVEYS)


def topic_for_channel(channel: str) -> str:
    """Voice goes to cx.calls; every other channel (chat, email, ...) to cx.chats."""
    return CALLS if channel == "voice" else CHATS
