"""Scoring customers' words: VADER's compound score, its label, and the chat.sentiment event that
carries both to the worker.

VADER (the ``vaderSentiment`` package) is a lexicon and a few hundred lines of rules: its lexicon
files are inside the wheel and nothing is downloaded at run time, and it scores thousands of short
messages a second on one core, so it needs no GPU and no model server. Only valid events are
scored (the same schema checks as the worker's), so a score never exists for an event the worker
dead-letters.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import msgspec
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from streams import topics
from streams.contract import CHAT, CHAT_MESSAGE, CHAT_SENTIMENT, SURVEY, SURVEY_TYPE, InvalidEvent, array_elements, check_chat, parse_time

# VADER's own thresholds for its compound score (its README, "About the Scoring").
POSITIVE_AT: Final = 0.05
NEGATIVE_AT: Final = -0.05
Label = Literal["positive", "neutral", "negative"]
SkipReason = Literal["agent", "empty", "invalid"]
SKIP_REASONS: Final[tuple[SkipReason, ...]] = ("agent", "empty", "invalid")
# A fixed namespace: the same scored event gives the same sentiment event id in every run and process.
_NAMESPACE: Final = uuid.UUID("6f3c2a51-0d7e-4a43-9b0c-2f8e5c1d7a90")


class _Kind(msgspec.Struct):
    """Just the type: most records on cx.chats are contact events, which are not decoded further."""

    type: Any = None


_KIND: Final = msgspec.json.Decoder(_Kind)


def label_of(score: float) -> Label:
    if score >= POSITIVE_AT:
        return "positive"
    if score <= NEGATIVE_AT:
        return "negative"
    return "neutral"


def sentiment_event_id(scored_type: str, event_id: str) -> str:
    """Derived from the scored event's id, so a message scored twice (a redelivery after a crash, a
    rebalance) yields the same event, which the worker counts once."""
    return f"sentiment-{uuid.uuid5(_NAMESPACE, f'{scored_type}:{event_id}')}"


@dataclass(slots=True)
class Scored:
    """What one record gave: the chat.sentiment events to publish, and why anything was not scored."""

    events: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[SkipReason] = field(default_factory=list)


class Scorer:
    """Turns records of cx.chats (customers' chat.message) and cx.surveys (comments) into chat.sentiment
    events; everything else on those topics is passed over without a word."""

    def __init__(self, survey_comments: bool = True) -> None:
        self._analyzer = SentimentIntensityAnalyzer()
        self._survey_comments = survey_comments

    def score(self, text: str) -> float:
        """VADER's compound score, -1..1 (it rounds to 4 decimals)."""
        return float(self._analyzer.polarity_scores(text)["compound"])

    def record(self, raw: bytes | None, topic: str) -> Scored:
        scored = Scored()
        if topic == topics.SURVEYS and not self._survey_comments:
            return scored
        if raw is None:
            return scored
        opening = raw.lstrip()[:1]
        try:
            elements = array_elements(raw) if opening == b"[" else [raw]
        except InvalidEvent:
            scored.skipped.append("invalid")
            return scored
        for element in elements:
            self._element(element, topic, scored)
        return scored

    def _element(self, raw: bytes, topic: str, scored: Scored) -> None:
        try:
            kind = _KIND.decode(raw).type
        except (msgspec.DecodeError, RecursionError):
            scored.skipped.append("invalid")
            return
        if topic == topics.CHATS and kind == CHAT_MESSAGE:
            self._message(raw, scored)
        elif topic == topics.SURVEYS and kind == SURVEY_TYPE:
            self._comment(raw, scored)

    def _message(self, raw: bytes, scored: Scored) -> None:
        try:
            document = CHAT.decoder.decode(raw)
            check_chat(document)
            parse_time(document.time)
        except (msgspec.ValidationError, InvalidEvent):
            scored.skipped.append("invalid")
            return
        if document.sender != "customer":
            scored.skipped.append("agent")
            return
        self._score(document, CHAT_MESSAGE, document.text, scored)

    def _comment(self, raw: bytes, scored: Scored) -> None:
        try:
            document = SURVEY.decoder.decode(raw)
            problem = SURVEY.check(document)
            parse_time(document.time)
        except (msgspec.ValidationError, InvalidEvent):
            problem = "invalid"
        if problem is not None:
            scored.skipped.append("invalid")
            return
        if document.comment is not msgspec.UNSET:
            self._score(document, SURVEY_TYPE, document.comment, scored)

    def _score(self, document: Any, scored_type: str, text: str, scored: Scored) -> None:
        if not text.strip():
            scored.skipped.append("empty")
            return
        score = self.score(text)
        event: dict[str, Any] = {
            "event_id": sentiment_event_id(scored_type, document.event_id),
            "type": CHAT_SENTIMENT,
            "time": document.time,
            "contact_id": document.contact_id,
        }
        for name in ("customer_id", "queue", "channel"):
            value = getattr(document, name)
            if value is not msgspec.UNSET:
                event[name] = value
        event.update(message_event_id=document.event_id, scored_type=scored_type, score=score, label=label_of(score))
        scored.events.append(event)
