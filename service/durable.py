"""The durable embedded mode of ``cxpulse run``: the data directory, its lock, and bringing it back.

The embedded broker forgets everything when it stops. With ``broker.durable`` (the default) the
supervisor journals every cxpulse topic into ``broker.data_dir`` (service/recorder.py) and, on the
next start, republishes the journal into the fresh broker (service/restore.py) before the worker
and the API start, so the worker resumes from its committed offsets and state, and the API serves
the history it served before.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import BinaryIO

from service.journal import Journal
from service.membership import sentiment_group
from service.recorder import Recorder
from service.restore import restore
from service.settings import Settings
from service.topics import wanted_topics
from streams import topics

log = logging.getLogger("cxpulse.run")

JOURNAL_DIR = "journal"


class DataDirBusy(Exception):
    """Another ``cxpulse run`` journals into the same data directory."""


def lock_data_dir(path: Path) -> BinaryIO:
    """Held for the life of the run: two runs appending to one journal would corrupt it."""
    path.mkdir(parents=True, exist_ok=True)
    lock = open(path / "lock", "a+b")
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().decode(errors="replace").strip() or "unknown"
        lock.close()
        raise DataDirBusy(f"data directory {path.resolve()} is in use by another cxpulse run (pid {holder})") from None
    lock.truncate(0)
    lock.write(str(os.getpid()).encode())
    lock.flush()
    return lock


def _journal(settings: Settings) -> tuple[Journal, set[str]]:
    wanted = wanted_topics(settings)
    layout = {topic.name: topic.num_partitions for topic in wanted}
    compacted = {t.name for t in wanted if "compact" in (t.topic_configs or {}).get("cleanup.policy", "")}
    return Journal(settings.broker.data_dir / JOURNAL_DIR, layout), compacted


async def bring_back(settings: Settings) -> tuple[Recorder, int]:
    """Restore the journal into the (empty, topics just created) embedded broker and start recording;
    also says how many source records came back."""
    journal, compacted = _journal(settings)
    journal.check_layout()
    groups = (settings.worker.app_id, sentiment_group(settings.worker.app_id))
    restored = await restore(settings.bootstrap, journal, compacted, groups)
    where = str(settings.broker.data_dir.resolve())
    if sum(restored.records.values()):
        log.info("restored the embedded broker's topics from the data directory", extra={"data_dir": where, **restored.describe()})
    else:
        log.info("nothing to restore: the data directory is new or empty; journaling to it from now", extra={"data_dir": where})
    recorder = Recorder(
        settings.bootstrap, journal, set(topics.FOLDED_TOPICS), groups, settings.broker.journal_sync_seconds
    )
    await recorder.start()
    return recorder, sum(restored.records.get(topic, 0) for topic in topics.FOLDED_TOPICS)


def say_not_durable(settings: Settings) -> None:
    """The log line a run without a journal starts with, so nobody expects a restart to keep anything."""
    if not settings.embedded:
        log.info("topics live in the configured Kafka; no journal, nothing to restore", extra={"kafka": settings.bootstrap})
    else:
        log.warning("embedded broker in memory only (--ephemeral / broker.durable false): nothing restored, "
                    "everything it holds is lost when it stops")
