"""Creates the topics cxpulse needs and checks that existing ones are usable.

Source topics must share one partition count: a customer's calls, chats and surveys are joined by
partition number, and the bucket changelog is written with the source partition as its partition.
"""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from kpis import snapshot
from service.settings import Settings
from streams import topics

log = logging.getLogger("cxpulse.topics")


class TopicLayoutError(Exception):
    """Existing topics that cxpulse cannot use as they are."""


def wanted_topics(settings: Settings) -> list[NewTopic]:
    """Explicit configs at creation: some brokers only report configs that were set then."""
    partitions = settings.kafka.partitions
    replication = settings.kafka.replication_factor
    app_id = settings.worker.app_id
    delete = {"cleanup.policy": "delete"}
    day_ms = 86_400_000
    minutes = {"cleanup.policy": "compact,delete", "retention.ms": str(day_ms)}
    intervals = {"cleanup.policy": "compact,delete", "retention.ms": str((settings.kpi.history_days + 1) * day_ms)}
    return [
        *(NewTopic(name, partitions, replication, topic_configs=delete) for name in topics.FOLDED_TOPICS),
        NewTopic(topics.DEADLETTER, partitions, replication, topic_configs=delete),
        NewTopic(snapshot.state_changelog(app_id), partitions, replication, topic_configs={"cleanup.policy": "compact"}),
        NewTopic(snapshot.minutes_topic(app_id), partitions, replication, topic_configs=minutes),
        NewTopic(snapshot.intervals_topic(app_id), partitions, replication, topic_configs=intervals),
    ]


async def ensure_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        wanted = wanted_topics(settings)
        # Only describe topics that exist: a metadata request for a missing topic may auto-create it
        # with the broker's default partition count.
        present = set(await admin.list_topics())
        names = [t.name for t in wanted if t.name in present]
        described = await admin.describe_topics(names) if names else []
        existing = {meta["topic"]: len(meta["partitions"]) for meta in described if meta["error_code"] == 0}
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
            log.info("topics created", extra={"topics": [t.name for t in missing], "partitions": settings.kafka.partitions})
        mismatched = {name: count for name, count in existing.items() if count != settings.kafka.partitions}
        if mismatched:
            raise TopicLayoutError(
                f"topics exist with a partition count other than kafka.partitions={settings.kafka.partitions}: "
                + ", ".join(f"{name} has {count}" for name, count in sorted(mismatched.items()))
            )
    finally:
        await admin.close()
