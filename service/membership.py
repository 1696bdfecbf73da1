"""Taking a dead worker out of its consumer group, so its restart does not wait for the dead one.

A worker killed outright (SIGKILL, OOM) never sends its LeaveGroup: the group keeps it as a member
until its session times out (``worker.session_timeout_seconds``), and a new member's join waits for
that (measured on the embedded broker: 18 s from the restarted worker's start to its partitions).
The supervisor knows which worker died; a LeaveGroup on its behalf, for the member ids its client
id gave it (Kafka and the embedded broker both name members ``<client id>-<uuid>``), ends that wait.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.group import LeaveGroupRequest


def worker_client_id(app_id: str, pid: int) -> str:
    """The Kafka client id of one worker process: what its group member ids start with."""
    return f"cxpulse-{app_id}-worker-{pid}"


def sentiment_group(app_id: str) -> str:
    """The sentiment scorer's consumer group: its own, so its progress never holds the worker's back."""
    return f"{app_id}-sentiment"


def sentiment_client_id(app_id: str, pid: int) -> str:
    return f"cxpulse-{app_id}-sentiment-{pid}"


async def remove_members(bootstrap: str, group: str, client_id: str) -> list[str]:
    """Make the group forget the members of this (dead) client; the member ids removed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        coordinator = await admin.find_coordinator(group)
        described = await admin.describe_consumer_groups([group], group_coordinator_id=coordinator)
    finally:
        await admin.close()
    members = [
        member[0]
        for response in described
        for description in response.groups
        for member in description[5]
        if member[0].startswith(f"{client_id}-")
    ]
    if not members:
        return []
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        for member in members:
            await client.send(coordinator, LeaveGroupRequest(group, member))
    finally:
        await client.close()
    return members
