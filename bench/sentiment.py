"""``cxpulse bench sentiment``: how many customers' chat messages the sentiment scorer scores a second.

Chat messages are made up from fragments of what customers write to a contact center (greetings,
the problem, how they feel about it, thanks or complaints; 4 to 60 words, a third each leaning
positive, neutral and negative), as chat.message records of one event each. Two figures:
1. scorer alone: the records through ``Scorer.record`` (decode and validate, VADER, the chat.sentiment
   event built), nothing published; the best of --repeat runs, since a shared machine only ever
   slows a run down. The issue's target, 2,000 messages/s, is about this figure.
2. with a broker: the same records published to an embedded broker started for the run and scored by
   ``SentimentConsumer`` (its fetches, the scores published and acknowledged, its commits), from its
   first fetch with records to its last score; one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import orjson

from bench.pipeline import machine
from bench.service import HOST, free_port
from streams import topics
from streams.sentiment_scoring import Scorer

NAME = "sentiment"
DEFAULT_MESSAGES = 20_000
DEFAULT_REPEAT = 3
DEFAULT_SEED = 7
TARGET_MESSAGES_PER_S = 2_000
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_OUTPUT = RESULTS / "sentiment-latest.json"
SUMMARY = f"""\
chat messages/s scored by `cxpulse sentiment` (VADER) from {DEFAULT_MESSAGES:,} made-up customer messages: the
scorer alone (target {TARGET_MESSAGES_PER_S:,}/s), and consuming and publishing through an embedded broker."""
DESCRIPTION = (__doc__ or "").partition("\n\n")[2] + "\nPrints a table and writes JSON (machine, parameters, figures) to --output."

_OPENINGS = ("Hi,", "Hello,", "Good morning,", "Hey there,", "Hi again,", "", "")
_SUBJECTS = (
    "my invoice for March", "the refund I asked for last week", "my broadband connection", "the parcel I ordered",
    "my account password", "the new tariff", "the app on my phone", "my direct debit", "the appointment on Tuesday",
    "the replacement card", "my contract renewal", "the delivery address",
)  # fmt: skip
_PROBLEMS = (
    "still shows the wrong amount", "has not arrived yet", "keeps dropping every evening", "was charged twice",
    "does not work since the update", "is missing from my account", "says it was delivered but it was not",
    "needs to be changed", "was cancelled without asking me", "is taking longer than you promised",
)  # fmt: skip
_FEELINGS = {
    "positive": (
        "Thanks so much, that fixed it!", "Great, you were really helpful.", "Perfect, I appreciate the quick answer.",
        "Brilliant service, thank you.", "That is wonderful news, thanks a lot :)", "Excellent, problem solved.",
    ),
    "neutral": (
        "Can you check it please?", "What are the next steps?", "When will it be done?", "I have the reference number here.",
        "Could you send me the details by email?", "Which form do I need to fill in?",
    ),
    "negative": (
        "This is the third time I am writing and nobody helps.", "Honestly this is terrible service.",
        "I am really frustrated and angry about this.", "Unacceptable, I want to cancel my contract.",
        "I waited an hour for nothing, awful.", "Why is this so hard? I am fed up!!",
    ),
}  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=DEFAULT_MESSAGES, help="chat messages scored per run (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="runs of the scorer alone, the best reported (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the made-up texts (default: %(default)s)")
    parser.add_argument("--no-broker", action="store_true", help="measure the scorer alone only")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON result file (default: bench/results/sentiment-latest.json)")


def text(rng: random.Random) -> str:
    """One customer's message: an opening, the matter, and how they feel; sometimes two feelings."""
    mood = rng.choice(sorted(_FEELINGS))
    matter = f"{rng.choice(_SUBJECTS)} {rng.choice(_PROBLEMS)}."
    parts = [rng.choice(_OPENINGS), matter[0].upper() + matter[1:]]
    parts += rng.sample(_FEELINGS[mood], rng.choice((1, 1, 2)))
    if rng.random() < 0.3:
        parts.append(rng.choice(_FEELINGS["neutral"]))
    return " ".join(part for part in parts if part)


def messages(count: int, seed: int) -> list[tuple[bytes, bytes]]:
    """(key, value) records of chat.message events, their times a second apart."""
    rng = random.Random(seed)
    records = []
    for n in range(count):
        customer = f"cust-{rng.randrange(100_000):06d}"
        event = {
            "event_id": f"bench-m{n}", "type": "chat.message", "time": f"2026-03-02T09:{n // 60 % 60:02d}:{n % 60:02d}Z",
            "contact_id": f"bench-c{n // 6}", "customer_id": customer, "queue": "support", "channel": "chat",
            "sender": "customer", "text": text(rng),
        }  # fmt: skip
        records.append((customer.encode(), orjson.dumps(event)))
    return records


def run(args: argparse.Namespace) -> int:
    records = messages(args.messages, args.seed)
    words = sum(len(orjson.loads(value)["text"].split()) for _, value in records)
    best = max((score_alone(records) for _ in range(max(1, args.repeat))), key=lambda run: run["messages_per_s"])
    consumed = None if args.no_broker else asyncio.run(with_broker(records))
    result: dict[str, Any] = {
        "machine": machine(),
        "parameters": {"messages": len(records), "mean_words": round(words / len(records), 1), "repeat": args.repeat,
                       "seed": args.seed},  # fmt: skip
        "scorer_alone": best,
        "with_broker": consumed,
        "target": {"messages_per_s": TARGET_MESSAGES_PER_S, "met": best["messages_per_s"] >= TARGET_MESSAGES_PER_S},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(report(result))
    return 0


def score_alone(records: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    scorer = Scorer()
    labels: dict[str, int] = {}
    started = time.perf_counter()
    for _, value in records:
        for event in scorer.record(value, topics.CHATS).events:
            labels[event["label"]] = labels.get(event["label"], 0) + 1
    seconds = time.perf_counter() - started
    return {"messages": len(records), "scored": sum(labels.values()), "labels": labels, "seconds": seconds,
            "messages_per_s": len(records) / seconds}  # fmt: skip


async def with_broker(records: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    from service.broker import broker_command, wait_for_port
    from service.settings import load_settings
    from service.topics import ensure_topics
    from streams.sentiment import SentimentConsumer

    port = free_port()
    broker = await asyncio.create_subprocess_exec(
        *broker_command(HOST, port), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await wait_for_port(HOST, port, 60)
        settings = load_settings(None, environ={})
        settings.kafka.bootstrap = f"{HOST}:{port}"
        await ensure_topics(settings)
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5, max_batch_size=1 << 20, acks="all")
        await producer.start()
        try:
            for future in [await producer.send(topics.CHATS, value, key=key) for key, value in records]:
                await future
        finally:
            await producer.stop()
        consumer = SentimentConsumer(settings.bootstrap, "bench-sentiment", False, settings.sentiment.max_records, 10.0)
        scored, started = 0, 0.0
        await consumer.start()
        try:
            while scored < len(records):
                stepped = time.perf_counter()
                published = await consumer.step()
                if published and not started:
                    started = stepped  # from the first fetch with records: the group's join is not scoring
                scored += published
            seconds = time.perf_counter() - started
        finally:
            await consumer.stop()
    finally:
        broker.terminate()
        await broker.wait()
    return {"messages": len(records), "scored": scored, "seconds": seconds, "messages_per_s": scored / seconds}


def report(result: dict[str, Any]) -> str:
    alone, parameters = result["scorer_alone"], result["parameters"]
    rows = [
        f"chat messages: {parameters['messages']:,}, {parameters['mean_words']} words on average; labels {alone['labels']}",
        f"scorer alone:  {alone['messages_per_s']:>10,.0f} messages/s (best of {parameters['repeat']}; target "
        f"{TARGET_MESSAGES_PER_S:,}: {'met' if result['target']['met'] else 'NOT met'})",
    ]
    consumed = result["with_broker"]
    if consumed:
        rows.append(f"with a broker: {consumed['messages_per_s']:>10,.0f} messages/s (consumed, scored, published, acknowledged, committed)")
    return "\n".join(rows)
