from typing import AsyncIterator

import pytest

from tests.integration.stack import Stack


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[Stack]:
    """One running cxpulse (embedded broker, worker, API) shared by the integration tests.

    Tests keep out of each other's way by using queue names of their own.
    """
    running = Stack("shared")
    await running.start()
    yield running
    await running.stop()
