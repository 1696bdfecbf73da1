"""The Faust application: one app id, the embedded-or-external broker, memory store, and our agent."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from service.membership import worker_client_id
from service.settings import Settings
from streams.folding import attach_folding
from streams.transport import WorkerApp


def create_app(settings: Settings) -> WorkerApp:
    # Faust wants a data directory even with the memory store; nothing in it is needed again (state
    # lives in Kafka), so it goes under the temp dir rather than wherever the worker was started.
    datadir = settings.worker.data_dir or Path(tempfile.gettempdir()) / f"{settings.worker.app_id}-data"
    app = WorkerApp(
        settings.worker.app_id,
        datadir=str(datadir),
        broker=[f"kafka://{server}" for server in settings.bootstrap.split(",")],
        store="memory://",
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        autodiscover=False,
        broker_session_timeout=settings.worker.session_timeout_seconds,
        producer_compression_type=None if settings.kafka.compression == "none" else settings.kafka.compression,
        broker_heartbeat_interval=settings.worker.session_timeout_seconds / 3,
        # With an id, a restarted worker is the same group member: on Kafka it gets its partitions
        # back without a rebalance (an orchestrator with stable names can set one per worker).
        consumer_group_instance_id=settings.worker.group_instance_id,
        # Names this process's group members, so a supervisor can take them out of the group if it dies.
        broker_client_id=worker_client_id(settings.worker.app_id, os.getpid()),
    )
    app.fetch_max_wait_ms = settings.kafka.fetch_max_wait_ms
    attach_folding(app, settings)
    return app
