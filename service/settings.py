"""All settings in one place: defaults, then a YAML file, then environment variables.

Environment variables are ``CXPULSE_<SECTION>__<KEY>`` (``CXPULSE_API__PORT=8080``); ``CXPULSE_BROKER``
is the short form of ``CXPULSE_KAFKA__BOOTSTRAP``. Every problem is reported with the key that has it.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator

from kpis.problems import DocumentError, problems
from kpis.rules import AccountRules, QueueOverrides, QueueRules, TicketRules
from kpis.targets import Targets, parse_targets
from kpis.thresholds import Thresholds, parse_thresholds


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})$")
_KAFKA_SCHEME = "kafka://"


def parse_bootstrap(value: str) -> str:
    """``host:port[,host:port]`` from that form or Faust's ``kafka://host:port[;kafka://host:port]``.

    Checked here, once, because a malformed address otherwise fails deep inside aiokafka with a message
    that names neither the setting nor the value.
    """
    servers: list[str] = []
    for part in re.split(r"[,;]", value.strip()):
        server = part.strip()
        if server[: len(_KAFKA_SCHEME)].lower() == _KAFKA_SCHEME:
            server = server[len(_KAFKA_SCHEME) :].rstrip("/")
        match = _HOST_PORT.match(server)
        if match is None or not 1 <= int(match["port"]) <= 65535:
            raise ValueError(
                f"{part.strip()!r} is not a Kafka address: give host:port[,host:port] or kafka://host:port"
            )
        servers.append(server)
    return ",".join(servers)


class KafkaSettings(_Section):
    bootstrap: str | None = Field(
        default=None, description="host:port[,host:port] or kafka://host:port; unset runs the embedded broker"
    )
    partitions: int = Field(default=4, ge=1, le=1024, description="partitions of the topics cxpulse creates")
    replication_factor: int = Field(default=1, ge=1, le=10)
    fetch_max_wait_ms: int = Field(
        default=50, ge=1, le=5000,
        description="longest a fetch waits for new records (worker and API); brokers that do not answer a waiting fetch when data arrives add up to this to every event's delay",
    )

    compression: Literal["none", "zstd", "lz4", "snappy", "gzip"] = Field(
        default="zstd",
        description="compression of the worker's writes (state changelog and snapshots): an open slot record is rewritten whole at every write; measured here, zstd (level 3) made one a hundred and fiftieth of its size at 2.4 GB/s, six times faster than aiokafka's lz4 (level 9)",
    )

    @field_validator("bootstrap")
    @classmethod
    def _kafka_address(cls, value: str | None) -> str | None:
        return None if value is None else parse_bootstrap(value)


class EmbeddedBrokerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=19092, ge=1, le=65535)
    durable: bool = Field(
        default=True,
        description="cxpulse run journals the embedded broker's topics to data_dir and restores them on start; false: memory only",
    )
    data_dir: Path = Field(
        default=Path(".cxpulse-data"), description="where cxpulse run keeps the embedded broker's journal (relative: to the working directory)"
    )
    journal_sync_seconds: float = Field(
        default=1.0, gt=0, le=60, description="how often the journal is written and fsynced: what a kill of the whole run can lose"
    )


AgentStateName = Literal["logged_out", "available", "on_contact", "after_contact_work", "aux"]


def _twilio_activities() -> dict[str, AgentStateName]:
    return {"Available": "available", "Offline": "logged_out", "Unavailable": "aux", "Break": "aux"}


def _connect_statuses() -> dict[str, AgentStateName]:
    return {"Available": "available", "Offline": "logged_out"}


class TwilioSettings(_Section):
    activity_states: dict[str, AgentStateName] = Field(
        default_factory=_twilio_activities,
        description="TaskRouter activity name to the agent state it means; an unlisted activity is aux, with its name as the reason (so is any listed as aux)",
    )
    auth_token: SecretStr | None = Field(
        default=None,
        description="the Twilio account's auth token, which signs TaskRouter callbacks (X-Twilio-Signature); unset: the Twilio endpoint answers 403",
    )
    public_base_url: str | None = Field(
        default=None, pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
        description="scheme://host[:port][/prefix] Twilio calls, when a proxy stands between (the signature covers the URL Twilio used)",
    )


class AmazonConnectSettings(_Section):
    queue_names: dict[str, str] = Field(
        default_factory=dict, description="queue id (the last part of its ARN) to the name cxpulse shows; unlisted queues keep their id"
    )
    status_states: dict[str, AgentStateName] = Field(
        default_factory=_connect_statuses,
        description="agent status name to the agent state it means; unlisted: a routable status is available, an offline one logged_out, any other aux with its name as the reason",
    )


class IngestSettings(_Section):
    max_batch: int = Field(default=1000, ge=1, le=100_000, description="most events in one POST /v1/events")
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, description="larger ingest bodies are refused with 413")
    ack_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="how long ingest waits for the broker's acknowledgement before answering 503"
    )
    twilio: TwilioSettings = TwilioSettings()
    amazon_connect: AmazonConnectSettings = AmazonConnectSettings()


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    refresh_seconds: float = Field(
        default=1.0, ge=0.1, le=60, description="served rows are recomputed on new data, and at least this often"
    )
    sse_heartbeat_seconds: float = Field(default=15.0, ge=1, le=300, description="/v1/stream heartbeat when nothing changed")
    tokens_file: Path | None = Field(
        default=None,
        description="YAML mapping of token name to the token's SHA-256 (hex); set: /v1 needs a bearer token. Re-read on change.",
    )
    cors_origins: list[str] = Field(default_factory=list, description="origins allowed to call the API from a browser")
    ingest: IngestSettings = IngestSettings()
    role: Literal["all", "ingest"] = Field(
        default="all",
        description="ingest: serve only the ingest routes, health and metrics, without reading the KPI snapshots (dedicated ingest processes keep a serving API's frame refreshes out of their latency)",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """The environment can only give a string: ``CXPULSE_API__CORS_ORIGINS=https://a,https://b``."""
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value


class WorkerSettings(_Section):
    app_id: str = Field(default="cxpulse", pattern=r"^[A-Za-z0-9._-]+$")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9102, ge=0, le=65535, description="0 turns the worker's /metrics off")
    session_timeout_seconds: float = Field(
        default=10.0, ge=3, le=300, description="consumer-group session timeout: failover time, and join time on the embedded broker"
    )
    flush_interval_seconds: float = Field(
        default=0.05, gt=0, le=5, description="how often changed buckets are written out: freshness against write volume"
    )
    retention_minutes: int = Field(default=180, ge=60, description="how long minute buckets are kept")
    contact_horizon_minutes: int = Field(default=360, ge=10, description="how long a contact's state is kept")
    data_dir: Path | None = Field(default=None, description="Faust's data directory (default: <temp dir>/<app_id>-data)")
    group_instance_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9._-]+$",
        description="static group membership: a worker restarted with the same id takes its partitions back without waiting for the session timeout; unique per worker",
    )


class SentimentSettings(_Section):
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9103, ge=0, le=65535, description="0 turns the sentiment scorer's /metrics off")
    survey_comments: bool = Field(default=True, description="also score the comment of survey.submitted events")
    max_records: int = Field(
        default=500, ge=1, le=100_000,
        description="most records scored between two commits: what a crash makes the scorer read again",
    )


class LateEvents(str, Enum):
    DEADLETTER = "deadletter"
    DROP = "drop"


class KpiSettings(_Section):
    grace_minutes: float = Field(default=60, ge=0, le=24 * 60, description="how late an event may arrive and still count")
    late_events: LateEvents = Field(default=LateEvents.DEADLETTER, description="what happens to an event later than the grace")
    history_days: int = Field(default=35, ge=1, le=400, description="days of 15-minute history kept")
    future_tolerance_seconds: float = Field(
        default=300, ge=0, le=7 * 86400,
        description="an event whose time is further than this after its record was published is dead-lettered (kind future): a source clock that is wrong must not open buckets for years ahead",
    )
    earliest_event_time: datetime = Field(
        default=datetime(1980, 1, 1, tzinfo=timezone.utc),
        description="an event whose time is before this is dead-lettered (kind past): the epoch (1970-01-01) is a producer's unset clock, not a contact; recordings from 1980 on still count",
    )
    stale_seconds: float = Field(default=30, gt=0, description="no update for this long marks served values stale")


class AlertSettings(_Section):
    thresholds_file: Path | None = Field(
        default=None,
        description="warning/critical thresholds per KPI (YAML); unset: statuses are null and no KPI alert rules",
    )


class TargetSettings(_Section):
    file: Path | None = Field(
        default=None,
        description="targets per KPI (YAML): a value to reach by a due date from a baseline; unset: rows carry no target",
    )


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"


class Settings(_Section):
    _rules_cache: dict[str, QueueRules] = PrivateAttr(default_factory=dict)
    kafka: KafkaSettings = KafkaSettings()
    broker: EmbeddedBrokerSettings = EmbeddedBrokerSettings()
    api: ApiSettings = ApiSettings()
    worker: WorkerSettings = WorkerSettings()
    sentiment: SentimentSettings = SentimentSettings()
    log: LogSettings = LogSettings()
    kpi: KpiSettings = KpiSettings()
    alerts: AlertSettings = AlertSettings()
    targets: TargetSettings = TargetSettings()
    defaults: QueueRules = QueueRules()
    queues: dict[str, QueueOverrides] = Field(default_factory=dict)
    tickets: TicketRules = TicketRules()
    accounts: AccountRules = AccountRules()

    def rules(self, queue: str) -> QueueRules:
        """The settings of a queue: its overrides over the defaults (cached: called per event)."""
        cached = self._rules_cache.get(queue)
        if cached is None:
            overrides = self.queues.get(queue)
            cached = self.defaults
            if overrides is not None:
                cached = self.defaults.model_copy(update=overrides.model_dump(exclude_none=True))
            self._rules_cache[queue] = cached
        return cached

    @property
    def bootstrap(self) -> str:
        """Where clients connect: the configured Kafka, or the embedded broker."""
        return self.kafka.bootstrap or f"{self.broker.host}:{self.broker.port}"

    @property
    def embedded(self) -> bool:
        return self.kafka.bootstrap is None


class ConfigError(Exception):
    """Configuration that cannot be used; the message names the key and the problem."""


ENV_PREFIX = "CXPULSE_"
CONFIG_ENV = "CXPULSE_CONFIG"
_ALIASES = {"CXPULSE_BROKER": ("kafka", "bootstrap")}


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Each ``__`` goes one level down, so nested sections are reachable too
    (``CXPULSE_API__INGEST__TWILIO__AUTH_TOKEN``: secrets belong in the environment, not in a file)."""
    overrides: dict[str, Any] = {}
    for name, value in environ.items():
        if name in _ALIASES:
            path: tuple[str, ...] = _ALIASES[name]
        elif name.startswith(ENV_PREFIX) and "__" in name:
            path = tuple(name[len(ENV_PREFIX) :].lower().split("__"))
        else:
            continue
        level = overrides
        for part in path[:-1]:
            level = level.setdefault(part, {})
        level[path[-1]] = value
    return overrides


def read_yaml(path: Path, what: str) -> Any:
    """A YAML document, or ConfigError naming ``what`` (e.g. "config file") and the file."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path}: not valid YAML: {exc}") from exc


def _read_file(path: Path) -> dict[str, Any]:
    document = read_yaml(path, "config file")
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping of sections")
    return document


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the file (argument, else ``CXPULSE_CONFIG``) and the environment, validated."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(CONFIG_ENV)
    document = _read_file(Path(path)) if path else {}
    document = _merge(document, _env_overrides(environ))
    try:
        settings = Settings.model_validate(document)
    except ValidationError as exc:
        source = f" (file {path}, environment {ENV_PREFIX}*)" if path else f" (environment {ENV_PREFIX}*)"
        raise ConfigError(f"invalid configuration{source}: {problems(exc)}") from exc
    if settings.alerts.thresholds_file is not None:
        load_thresholds(settings.alerts.thresholds_file)
    if settings.targets.file is not None:
        load_targets(settings.targets.file)
    return settings


ResultT = TypeVar("ResultT")


def _read_document(path: Path, what: str, parse: Callable[[Any], ResultT]) -> ResultT:
    """A YAML file parsed by the core; ConfigError names the file, the key and the problem."""
    try:
        return parse(read_yaml(path, what) or {})
    except DocumentError as exc:
        raise ConfigError(f"{what} {path}: {exc}") from exc


def load_thresholds(path: Path) -> Thresholds:
    return _read_document(path, "thresholds file", parse_thresholds)


def load_targets(path: Path) -> Targets:
    return _read_document(path, "targets file", parse_targets)
