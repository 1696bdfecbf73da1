"""The worker's Kafka consumer waits for new records no longer than configured (Faust fixes 1.5 s)."""

from __future__ import annotations

import asyncio

from service.settings import KafkaSettings, Settings
from streams.app import create_app


async def test_the_worker_consumer_uses_the_configured_fetch_wait() -> None:
    settings = Settings(kafka=KafkaSettings(bootstrap="127.0.0.1:1", fetch_max_wait_ms=120))
    app = create_app(settings)
    consumer = app.consumer._thread._create_consumer(asyncio.get_running_loop())  # what Faust starts
    try:
        assert consumer._fetch_max_wait_ms == 120
    finally:
        await consumer.stop()
