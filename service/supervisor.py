"""``cxpulse run``: starts broker, topics, worker, API (and simulator), and stops all of them on exit.

Children run in their own process groups, so Ctrl-C reaches only this supervisor, which then stops
them in reverse order, the embedded broker last, after the journal has read everything (see
service/durable.py); the kernel's parent-death signal stops them too if the supervisor is killed.

A worker that dies is replaced at once, as its partitions wait for it: by a standby worker kept
ready (imports done, waiting on its stdin), else by a new process. Measured on the embedded broker
(``cxpulse bench recovery``), a takeover's time went to Python importing Faust and the fold (1-3 s
on a loaded machine: the standby skips it) and to the broker holding every JoinGroup for half the
group's session timeout (Tansu's join loop: 5 s at the 10 s default), so a worker of the embedded
broker gets a shorter session timeout unless one is configured.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.errors import KafkaError

from service.broker import broker_command, wait_for_port
from service.durable import DataDirBusy, bring_back, lock_data_dir, say_not_durable
from service.journal import JournalLayoutError
from service.membership import remove_members, sentiment_client_id, sentiment_group, worker_client_id
from service.recorder import Recorder
from service.restore import RestoreError
from service.settings import Settings
from service.topics import ensure_topics

log = logging.getLogger("cxpulse.run")

_PR_SET_PDEATHSIG = 1
STOP_TIMEOUT_S = 15.0
# A worker that dies this often within the window is broken, not unlucky: stop instead of looping.
MAX_RESTARTS = 5
RESTART_WINDOW_S = 300.0
FORGET_TIMEOUT_S = 5.0
EXIT_POLL_S = 0.1
# The embedded broker answers a JoinGroup after half the session timeout, in whole seconds: 4 s
# gives a 2 s join (3 s, the least the settings allow, gives no less) and heartbeats every 1.3 s.
# Kafka refuses session timeouts under its group.min.session.timeout.ms (6 s by default): only
# the embedded broker's workers get it.
EMBEDDED_SESSION_TIMEOUT_S = 4.0
# A standby starts this long after a worker did, so its imports do not compete for the CPU with
# the starting worker; a second death within it is met by a new process, as without a standby.
STANDBY_DELAY_S = 10.0
WORKER = "worker"
STANDBY = "standby"
SENTIMENT = "sentiment"
# Consumers whose partitions wait for them: restarted when they die, within the limits above.
RESTARTED = (WORKER, SENTIMENT)


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Supervisor:
    """The children of one ``cxpulse run``, the worker's replacement, and how they stop."""

    settings: Settings
    config_path: str | None
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    restarts: list[float] = field(default_factory=list)
    standby_due: float | None = None

    def environment(self, name: str) -> dict[str, str]:
        env = dict(os.environ)
        if self.config_path:
            env["CXPULSE_CONFIG"] = self.config_path
        env["CXPULSE_BROKER"] = self.settings.bootstrap
        if name in (WORKER, STANDBY) and self.settings.embedded and "session_timeout_seconds" not in self.settings.worker.model_fields_set:
            env["CXPULSE_WORKER__SESSION_TIMEOUT_SECONDS"] = str(EMBEDDED_SESSION_TIMEOUT_S)
        return env

    def spawn(self, name: str, argv: list[str], stdin: int | None = None) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            argv, env=self.environment(name), stdin=stdin, stdout=sys.stderr.fileno(), start_new_session=True,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        self.children = [(n, p) for n, p in self.children if n != name] + [(name, process)]
        log.info("started", extra={"child": name, "pid": process.pid})
        return process

    def cxpulse(self, name: str, *args: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
        return self.spawn(name, [sys.executable, "-m", "service.cli", *args], stdin)

    def start_worker(self) -> None:
        self.cxpulse(WORKER, "worker")
        self.standby_due = time.monotonic() + STANDBY_DELAY_S

    def start_standby_when_due(self) -> None:
        if self.standby_due is not None and time.monotonic() >= self.standby_due:
            self.standby_due = None
            if self.child(STANDBY) is None:
                self.cxpulse(STANDBY, "worker", "--standby", stdin=subprocess.PIPE)

    def child(self, name: str) -> subprocess.Popen[bytes] | None:
        return next((process for n, process in self.children if n == name), None)

    def replace_worker(self) -> None:
        """The standby takes over if there is one alive; else a new worker process starts."""
        standby = self.child(STANDBY)
        self.children = [(n, p) for n, p in self.children if n not in (WORKER, STANDBY)]
        if standby is not None and standby.poll() is None and standby.stdin is not None:
            try:
                standby.stdin.write(b"start\n")
                standby.stdin.close()
            except OSError as exc:
                log.warning("the standby worker could not be started", extra={"pid": standby.pid, "error": repr(exc)})
            else:
                self.children.append((WORKER, standby))
                self.standby_due = time.monotonic() + STANDBY_DELAY_S
                log.info("standby worker took over", extra={"child": WORKER, "pid": standby.pid})
                return
        self.start_worker()

    async def forget_dead(self, name: str, process: subprocess.Popen[bytes]) -> None:
        """Its LeaveGroup, sent for it (a worker's or the sentiment scorer's): the replacement's join
        then need not wait for its session to time out. Sent after the replacement started, which
        joins a second or more later (it removes only the dead process's members, whenever it
        lands). Best effort: without it the join only takes longer."""
        app_id = self.settings.worker.app_id
        if name == SENTIMENT:
            group, client_id = sentiment_group(app_id), sentiment_client_id(app_id, process.pid)
        else:
            group, client_id = app_id, worker_client_id(app_id, process.pid)
        try:
            removed = await asyncio.wait_for(remove_members(self.settings.bootstrap, group, client_id), FORGET_TIMEOUT_S)
            log.info(f"dead {name} taken out of its group", extra={"members": removed})
        except (KafkaError, OSError, asyncio.TimeoutError) as exc:
            log.warning(f"could not take the dead {name} out of its group", extra={"error": repr(exc)})

    def may_restart(self, name: str) -> bool:
        """The worker and the sentiment scorer are restarted at once (their partitions wait for
        them), unless they keep dying."""
        now = time.monotonic()
        self.restarts = [at for at in self.restarts if now - at < RESTART_WINDOW_S]
        if name not in RESTARTED or len(self.restarts) >= MAX_RESTARTS:
            return False
        self.restarts.append(now)
        return True

    def stop_all(self, keep: tuple[str, ...] = ()) -> None:
        stopping = [(name, process) for name, process in reversed(self.children) if name not in keep]
        for name, process in stopping:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in stopping:
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("did not stop in time, killing", extra={"child": name, "pid": process.pid})
                process.kill()
                process.wait()
            log.info("stopped", extra={"child": name, "code": process.returncode})
        self.children = [(name, process) for name, process in self.children if name in keep]


async def _wait_for_http(url: str, timeout_s: float) -> None:
    import httpx

    deadline = asyncio.get_running_loop().time() + timeout_s
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(url)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")
            await asyncio.sleep(0.1)


def _simulate_through_asterisk(supervisor: Supervisor, settings: Settings, simulate_args: list[str]) -> None:
    """Demo traffic the way a PBX delivers it: the simulator appends its calls to a queue_log file and
    the Asterisk adapter follows that file, so the board is fed through the adapter. The file and the
    follower's position live in the data directory when the run is durable (a restart resumes both)."""
    folder = settings.broker.data_dir if settings.embedded and settings.broker.durable else Path(tempfile.mkdtemp(prefix="cxpulse-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    queue_log = folder / "demo-queue_log"
    supervisor.cxpulse("simulator", "simulate", *simulate_args, "--format", "asterisk", "--output", str(queue_log))
    supervisor.cxpulse("asterisk", "ingest", "asterisk", str(queue_log), "--follow", "--position-file", f"{queue_log}.position")


def _without_backfill(simulate_args: list[str]) -> list[str]:
    at = simulate_args.index("--backfill-minutes")
    return [*simulate_args[:at], "--backfill-minutes", "0", *simulate_args[at + 2 :]]


async def _first_exit(supervisor: Supervisor, stop: asyncio.Event, recorder: Recorder | None) -> str | None:
    """Name of the child that exited on its own (the worker is restarted instead, within limits), or
    None when a stop signal came first."""
    while not stop.is_set():
        for name, process in supervisor.children:
            if process.poll() is None:
                continue
            if name == STANDBY:
                log.warning("the standby worker exited; a dying worker is replaced by a new process",
                            extra={"pid": process.pid, "code": process.returncode})
                supervisor.children = [(n, p) for n, p in supervisor.children if p is not process]
                continue
            if not supervisor.may_restart(name):
                return name
            log.warning(f"{name} exited, restarting it", extra={"child": name, "pid": process.pid, "code": process.returncode})
            if name == SENTIMENT:
                supervisor.cxpulse(SENTIMENT, "sentiment")
            else:
                supervisor.replace_worker()
            await supervisor.forget_dead(name, process)
        supervisor.start_standby_when_due()
        if recorder is not None and recorder.task is not None and recorder.task.done():
            log.error("the journal stopped: what comes now would not survive a restart",
                      extra={"error": repr(recorder.task.exception())})
            return "journal"
        try:
            await asyncio.wait_for(stop.wait(), EXIT_POLL_S)
        except asyncio.TimeoutError:
            pass
    return None


async def run(
    settings: Settings, config_path: str | None, simulate: bool, simulate_args: list[str], source: str = "events"
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    supervisor = Supervisor(settings, config_path)
    durable = settings.embedded and settings.broker.durable
    recorder: Recorder | None = None
    lock = None
    try:
        if durable:
            try:
                lock = lock_data_dir(settings.broker.data_dir)
            except DataDirBusy as exc:
                log.error(str(exc))
                return 2
        if settings.embedded:
            supervisor.spawn("broker", broker_command(settings.broker.host, settings.broker.port))
            await wait_for_port(settings.broker.host, settings.broker.port, 30)
        await ensure_topics(settings)
        if durable:
            try:
                recorder, restored_sources = await bring_back(settings)
                if restored_sources and simulate:
                    # The demo's history is back: publishing the backfill again would count its span twice.
                    simulate_args = _without_backfill(simulate_args)
            except (JournalLayoutError, RestoreError) as exc:
                log.error(str(exc))
                return 2
        else:
            say_not_durable(settings)
        supervisor.start_worker()
        supervisor.cxpulse(SENTIMENT, "sentiment")
        supervisor.cxpulse("api", "api")
        base_url = f"http://{settings.api.host}:{settings.api.port}"
        await _wait_for_http(f"{base_url}/healthz", 60)
        if simulate and source == "asterisk":
            _simulate_through_asterisk(supervisor, settings, simulate_args)
        elif simulate:
            supervisor.cxpulse("simulator", "simulate", *simulate_args)
        worker_metrics = (
            f", worker metrics http://{settings.worker.metrics_host}:{settings.worker.metrics_port}/metrics"
            if settings.worker.metrics_port
            else ""
        )
        print(
            f"cxpulse is serving at {base_url}  (wallboard {base_url}/wallboard, KPIs {base_url}/v1/kpis, docs {base_url}/docs, "
            f"metrics {base_url}/metrics{worker_metrics}); Ctrl-C stops everything",
            flush=True,
        )
        exited = await _first_exit(supervisor, stop, recorder)
        if exited is not None:
            log.error("a process exited; stopping the others", extra={"child": exited})
            return 1
        return 0
    finally:
        # Everything that writes stops first, then the journal reads the topics to their end, then the broker.
        supervisor.stop_all(keep=("broker",))
        if recorder is not None:
            await recorder.close()
            log.info("journal written", extra={"data_dir": str(settings.broker.data_dir.resolve()),
                                               "records_this_run": recorder.synced_records})
        supervisor.stop_all()
        if lock is not None:
            lock.close()
