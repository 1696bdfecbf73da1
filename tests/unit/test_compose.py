"""docker-compose.yml, checked without a Docker engine.

The file is validated by Docker Compose itself (`docker-compose config`, the Debian package installed
by deploy/system-packages.sh: schema, interpolation, undefined services and volumes), then checked
against the files it points at: every bind-mounted host path exists, every cxpulse service runs a real
`cxpulse` subcommand with settings that load, Prometheus finds its rules and its targets as mounted,
and Grafana's dashboard provider path is where the dashboards are mounted.
"""

from __future__ import annotations

import glob
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from service.cli import build_parser
from service.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
CXPULSE = Path(sys.executable).parent / "cxpulse"  # .venv/bin/cxpulse when run as .venv/bin/python -m pytest
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))

# Environment variables of cxpulse that name a file inside the container.
FILE_SETTINGS = ("CXPULSE_CONFIG", "CXPULSE_ALERTS__THRESHOLDS_FILE", "CXPULSE_TARGETS__FILE", "CXPULSE_API__TOKENS_FILE")


def load_compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict) and isinstance(document.get("services"), dict), (
        "no services in docker-compose.yml"
    )
    return document


COMPOSE_DOC = load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE_DOC["services"]


def uses_cxpulse_image(service: dict[str, Any]) -> bool:
    build = service.get("build")
    dockerfile = build.get("dockerfile") if isinstance(build, dict) else None
    return dockerfile == "deploy/Dockerfile" or str(service.get("image", "")).startswith("cxpulse:")


CXPULSE_SERVICES = sorted(name for name, service in SERVICES.items() if uses_cxpulse_image(service))


def services_with_image(prefix: str) -> list[str]:
    return sorted(name for name, service in SERVICES.items() if str(service.get("image", "")).startswith(prefix))


def only_service_with_image(prefix: str) -> str:
    names = services_with_image(prefix)
    assert len(names) == 1, f"expected one service with image {prefix}*, found {names}"
    return names[0]


def volume_entries(service: dict[str, Any]) -> list[dict[str, str]]:
    """The service's volumes in long form: type (bind|volume), source, target."""
    entries = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            entries.append({"type": volume["type"], "source": volume.get("source", ""), "target": volume["target"]})
            continue
        parts = volume.split(":")
        if len(parts) == 1:
            entries.append({"type": "volume", "source": "", "target": parts[0]})
            continue
        source, target = parts[0], parts[1]
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        entries.append({"type": kind, "source": source, "target": target})
    return entries


def binds(service: dict[str, Any]) -> list[tuple[str, Path]]:
    """(container path, host path) of every bind mount, the host path resolved from the repository."""
    return [
        (entry["target"].rstrip("/") or "/", (REPO / entry["source"]).resolve())
        for entry in volume_entries(service)
        if entry["type"] == "bind"
    ]


def host_path(service: dict[str, Any], container_path: str) -> Path | None:
    """Where a container path of the service comes from on the host (the deepest bind mount holding it)."""
    container_path = posixpath.normpath(container_path)
    for target, source in sorted(binds(service), key=lambda pair: len(pair[0]), reverse=True):
        if container_path == target or container_path.startswith(target + "/"):
            return source / posixpath.relpath(container_path, target)
    return None


def flag(service: dict[str, Any], name: str, default: str) -> str:
    """The value of --name=value in the service's command list, else the image's default."""
    for argument in service.get("command", []):
        if argument.startswith(f"--{name}="):
            return argument.split("=", 1)[1]
    return default


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    return shlex.split(command) if isinstance(command, str) else list(command or [])


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerfile_copies() -> list[tuple[list[str], str]]:
    copies = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "COPY":
            parts = [part for part in rest.split() if not part.startswith("--")]
            copies.append((parts[:-1], parts[-1]))
    return copies


def baked_file(container_path: str) -> Path | None:
    """The repository file that the Dockerfile copies to this absolute container path, if any."""
    for sources, destination in dockerfile_copies():
        if len(sources) == 1 and posixpath.isabs(destination) and posixpath.normpath(destination) == container_path:
            return REPO / sources[0]
    return None


def settings_of(name: str) -> Settings:
    """The settings the service's cxpulse process would load, its container file paths mapped to the repository."""
    service = SERVICES[name]
    environment = {key: str(value) for key, value in (service.get("environment") or {}).items()}
    for key in FILE_SETTINGS:
        if key in environment:
            path = host_path(service, environment[key]) or baked_file(environment[key])
            assert path is not None and path.is_file(), (
                f"{name}: {key}={environment[key]} is neither mounted nor baked into the image"
            )
            environment[key] = str(path)
    return load_settings(environ=environment)


def listening_port(name: str) -> int:
    """The port the service listens on inside the network, from its own configuration."""
    service = SERVICES[name]
    image = str(service.get("image", ""))
    if uses_cxpulse_image(service):
        command = command_of(service)[0]
        settings = settings_of(name)
        ports = {"api": settings.api.port, "worker": settings.worker.metrics_port, "sentiment": settings.sentiment.metrics_port}
        assert command in ports, f"{name} runs `cxpulse {command}`, which serves no port"
        return ports[command]
    if image.startswith("prom/prometheus:"):
        return int(flag(service, "web.listen-address", ":9090").rsplit(":", 1)[1])
    if image.startswith("prom/alertmanager:"):
        return int(flag(service, "web.listen-address", ":9093").rsplit(":", 1)[1])
    if image.startswith("grafana/grafana:"):
        return int((service.get("environment") or {}).get("GF_SERVER_HTTP_PORT", 3000))
    raise AssertionError(f"no known listening port for service {name} ({image})")


def published_targets(service: dict[str, Any]) -> set[int]:
    targets = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            targets.add(int(port["target"]))
        else:
            targets.add(int(str(port).split("/")[0].rsplit(":", 1)[-1]))
    return targets


def replicas(service: dict[str, Any]) -> int:
    return int((service.get("deploy") or {}).get("replicas", 1))


# --- the validator --------------------------------------------------------------------------------


def compose_config(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose config --quiet`: parses, interpolates and validates the file; needs no engine."""
    executable = shutil.which("docker-compose")
    assert executable, (
        "docker-compose is missing: `make system` (deploy/system-packages.sh) installs Debian's docker-compose"
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("COMPOSE_", "DOCKER_"))}
    return subprocess.run(
        [executable, "--project-directory", str(REPO), "-f", str(path), *args, "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )


@pytest.mark.parametrize("profiles", [[], ["demo"]], ids=["default", "demo"])
def test_docker_compose_accepts_the_file(profiles: list[str]) -> None:
    args = [argument for profile in profiles for argument in ("--profile", profile)]
    done = compose_config(COMPOSE, *args)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr


def test_the_validator_rejects_a_broken_file(tmp_path: Path) -> None:
    """The validator in use does catch mistakes (a typo'd key, an undefined dependency), offline."""
    text = COMPOSE.read_text(encoding="utf-8")
    for good, bad in (
        ("    restart: unless-stopped\n", "    restrat: unless-stopped\n"),
        ("      - prometheus\n", "      - prometheus-typo\n"),
    ):
        assert good in text
        broken = text.replace(good, bad, 1)
        copy = tmp_path / "docker-compose.yml"
        copy.write_text(broken, encoding="utf-8")
        done = compose_config(copy)
        assert done.returncode != 0, f"docker-compose accepted {bad.strip()!r}"


# --- the file itself -------------------------------------------------------------------------------


def test_every_image_is_pinned() -> None:
    for name, service in SERVICES.items():
        image = service.get("image")
        assert image, f"{name} has no image name"
        repository, _, tag = str(image).rpartition(":")
        assert repository and "/" not in tag and tag not in ("", "latest"), f"{name}: image {image} is not pinned"
    for name in CXPULSE_SERVICES:
        assert SERVICES[name]["image"] == f"cxpulse:{PROJECT['project']['version']}", (
            f"{name}: tag it with pyproject's version"
        )


def test_the_stack_has_every_part() -> None:
    for prefix in ("apache/kafka:", "prom/prometheus:", "prom/alertmanager:", "grafana/grafana:"):
        only_service_with_image(prefix)
    commands = {name: command_of(SERVICES[name])[0] for name in CXPULSE_SERVICES}
    assert sorted(commands.values()) == ["api", "sentiment", "simulate", "topics", "worker"], commands
    for name, command in commands.items():
        profiles = SERVICES[name].get("profiles", [])
        assert profiles == (["demo"] if command == "simulate" else []), f"{name}: profiles {profiles}"


def test_every_bind_mounted_host_path_exists() -> None:
    mounts = [(name, source) for name, service in SERVICES.items() for _, source in binds(service)]
    assert mounts, "no bind mounts found"
    missing = [
        f"{name}: {source.relative_to(REPO) if source.is_relative_to(REPO) else source}"
        for name, source in mounts
        if not source.exists()
    ]
    assert not missing, f"bind-mounted host paths that do not exist: {missing}"
    for name, source in mounts:
        assert source.is_relative_to(REPO), f"{name} mounts {source}, outside the repository"


def test_named_volumes_hold_the_data_of_kafka_prometheus_alertmanager_and_grafana() -> None:
    declared = set(COMPOSE_DOC.get("volumes") or {})
    for name, service in SERVICES.items():
        for entry in volume_entries(service):
            if entry["type"] == "volume" and entry["source"]:
                assert entry["source"] in declared, f"{name} uses undeclared volume {entry['source']}"
    kafka, prometheus, alertmanager, grafana = (
        only_service_with_image(prefix)
        for prefix in ("apache/kafka:", "prom/prometheus:", "prom/alertmanager:", "grafana/grafana:")
    )
    data_dirs = {
        kafka: SERVICES[kafka]["environment"]["KAFKA_LOG_DIRS"],
        prometheus: flag(SERVICES[prometheus], "storage.tsdb.path", "/prometheus"),
        alertmanager: flag(SERVICES[alertmanager], "storage.path", "/alertmanager"),
        grafana: (SERVICES[grafana].get("environment") or {}).get("GF_PATHS_DATA", "/var/lib/grafana"),
    }
    for name, data_dir in data_dirs.items():
        named = {
            entry["target"] for entry in volume_entries(SERVICES[name]) if entry["type"] == "volume" and entry["source"]
        }
        assert data_dir in named, f"{name} keeps its data in {data_dir}, which is not a named volume ({named})"


def test_dependencies_wait_for_what_they_need() -> None:
    kafka = only_service_with_image("apache/kafka:")
    assert SERVICES[kafka].get("healthcheck", {}).get("test"), "kafka needs a healthcheck"
    topics = [name for name in CXPULSE_SERVICES if command_of(SERVICES[name])[0] == "topics"]
    assert len(topics) == 1
    for name, service in SERVICES.items():
        depends_on = service.get("depends_on") or {}
        conditions = (
            {other: "service_started" for other in depends_on}
            if isinstance(depends_on, list)
            else {other: spec.get("condition", "service_started") for other, spec in depends_on.items()}
        )
        for other, condition in conditions.items():
            assert other in SERVICES, f"{name} depends on undefined {other}"
            if condition == "service_healthy":
                assert SERVICES[other].get("healthcheck", {}).get("test"), (
                    f"{name} waits for {other} to be healthy: it has no healthcheck"
                )
            if condition == "service_completed_successfully":
                assert SERVICES[other].get("restart", "no") == "no", f"{other} must run once for {name} to wait for it"
        if name in CXPULSE_SERVICES and name != topics[0]:
            assert conditions.get(topics[0]) == "service_completed_successfully", (
                f"{name} must start after the topics exist"
            )
        if name in CXPULSE_SERVICES:
            assert conditions.get(kafka) == "service_healthy", f"{name} must wait for a healthy Kafka"


def test_workers_scale() -> None:
    (worker,) = [name for name in CXPULSE_SERVICES if command_of(SERVICES[name])[0] == "worker"]
    service = SERVICES[worker]
    assert replicas(service) >= 2, "run more than one worker (deploy: replicas)"
    assert "container_name" not in service and not service.get("ports"), (
        "container_name or published ports stop --scale"
    )


# --- the cxpulse services --------------------------------------------------------------------------


def test_the_image_runs_cxpulse() -> None:
    entrypoints = [json.loads(rest) for keyword, rest in dockerfile_instructions() if keyword == "ENTRYPOINT"]
    assert entrypoints and entrypoints[-1] == ["cxpulse"], "the compose commands are cxpulse arguments"


@pytest.mark.parametrize("name", CXPULSE_SERVICES)
def test_the_command_is_a_cxpulse_subcommand(name: str) -> None:
    command = command_of(SERVICES[name])
    assert command, f"{name} has no command"
    done = subprocess.run([str(CXPULSE), command[0], "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"`cxpulse {command[0]} --help` failed: {done.stderr}"
    parser, _ = build_parser()
    try:
        parsed = parser.parse_args(command)
    except SystemExit as exc:  # argparse reports the problem on stderr
        raise AssertionError(f"{name}: `cxpulse {shlex.join(command)}` does not parse") from exc
    assert parsed.command == command[0]


@pytest.mark.parametrize("name", CXPULSE_SERVICES)
def test_the_settings_load_and_reach_kafka(name: str) -> None:
    settings = settings_of(name)
    kafka = only_service_with_image("apache/kafka:")
    listeners = SERVICES[kafka]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert settings.kafka.bootstrap is not None, f"{name} would start the embedded broker"
    for address in settings.kafka.bootstrap.split(","):
        assert f"//{address}" in listeners, f"{name}: {address} is not an advertised listener of {kafka} ({listeners})"
    partitions = {settings_of(other).kafka.partitions for other in CXPULSE_SERVICES}
    assert len(partitions) == 1, f"the cxpulse services disagree on kafka.partitions: {partitions}"


def test_the_api_listens_on_its_published_port_and_checks_readiness() -> None:
    (api,) = [name for name in CXPULSE_SERVICES if command_of(SERVICES[name])[0] == "api"]
    settings = settings_of(api)
    assert settings.api.host == "0.0.0.0"
    assert settings.api.port in published_targets(SERVICES[api]), "the API's port is not published"
    check = " ".join(SERVICES[api]["healthcheck"]["test"])
    assert f"127.0.0.1:{settings.api.port}/readyz" in check, check
    assert settings.alerts.thresholds_file is not None, "the API gets the thresholds file (row statuses)"
    repo_thresholds = (REPO / "deploy" / "alerts" / "thresholds.yaml").resolve()
    assert settings.alerts.thresholds_file.resolve() == repo_thresholds, (
        "the API must judge by deploy/alerts/thresholds.yaml"
    )
    assert settings.targets.file is not None, "the API gets the targets file (target marks, /v1/targets)"
    assert settings.targets.file.resolve() == (REPO / "deploy" / "targets.yaml").resolve()


def test_the_worker_serves_metrics_to_the_network() -> None:
    (worker,) = [name for name in CXPULSE_SERVICES if command_of(SERVICES[name])[0] == "worker"]
    settings = settings_of(worker)
    assert settings.worker.metrics_host == "0.0.0.0" and settings.worker.metrics_port > 0
    check = " ".join(SERVICES[worker].get("healthcheck", {}).get("test", []))
    assert f":{settings.worker.metrics_port}/metrics" in check, check


def test_the_dockerfile_installs_every_package_with_its_data_and_bakes_thresholds_and_targets() -> None:
    copies = dockerfile_copies()
    copied = {posixpath.normpath(source) for sources, _ in copies for source in sources}
    assert {"pyproject.toml", "README.md"} <= copied
    packages = PROJECT["tool"]["setuptools"]["packages"]
    for package in packages:
        top = package.split(".")[0]
        assert top in copied, f"package {package}: the Dockerfile does not copy {top}/"
    for package, patterns in PROJECT["tool"]["setuptools"]["package-data"].items():
        assert package.split(".")[0] in copied
        for pattern in patterns:
            assert glob.glob(str(REPO / package.replace(".", "/") / pattern)), (
                f"package data {package}/{pattern} matches nothing"
            )
    runs = " ".join(rest for keyword, rest in dockerfile_instructions() if keyword == "RUN")
    assert re.search(r"pip install (?!-e)", runs) and " -e " not in runs, (
        "install the package (not editable), so package data is copied"
    )
    environment = " ".join(rest for keyword, rest in dockerfile_instructions() if keyword == "ENV")
    match = re.search(r"CXPULSE_ALERTS__THRESHOLDS_FILE=(\S+)", environment)
    assert match, "the image should use its thresholds file"
    assert baked_file(match.group(1)) == REPO / "deploy" / "alerts" / "thresholds.yaml"
    match = re.search(r"CXPULSE_TARGETS__FILE=(\S+)", environment)
    assert match, "the image should use its targets file: the example settings name a path relative to a checkout"
    assert baked_file(match.group(1)) == REPO / "deploy" / "targets.yaml"


# --- Prometheus and Alertmanager ------------------------------------------------------------------


def prometheus_config() -> tuple[dict[str, Any], str, Path]:
    name = only_service_with_image("prom/prometheus:")
    container_path = flag(SERVICES[name], "config.file", "/etc/prometheus/prometheus.yml")
    path = host_path(SERVICES[name], container_path)
    assert path is not None and path.is_file(), f"{name}: --config.file={container_path} is not mounted"
    return yaml.safe_load(path.read_text(encoding="utf-8")), container_path, path


def test_prometheus_finds_the_rules_where_they_are_mounted(tmp_path: Path) -> None:
    name = only_service_with_image("prom/prometheus:")
    config, container_path, _ = prometheus_config()
    patterns = config.get("rule_files") or []
    assert patterns, "prometheus.yml loads no rule_files (the alert rules in deploy/prometheus/rules/ are mounted)"
    host_patterns = []
    for pattern in patterns:
        in_container = posixpath.join(posixpath.dirname(container_path), pattern)
        on_host = host_path(SERVICES[name], in_container)
        assert on_host is not None, f"rule_files {pattern} -> {in_container}: not inside a mount of {name}"
        assert glob.glob(str(on_host)), f"rule_files {pattern} -> {in_container} -> {on_host}: no file"
        host_patterns.append(str(on_host))
    rendered = sorted(str(path.resolve()) for path in (REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))
    loaded = sorted({str(Path(match).resolve()) for pattern in host_patterns for match in glob.glob(pattern)})
    assert rendered and set(rendered) <= set(loaded), f"rules not loaded: {set(rendered) - set(loaded)}"
    # promtool reads the configuration as Prometheus would, with the rule paths as seen from the host.
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make system` installs Debian's prometheus"
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump({**config, "rule_files": host_patterns}), encoding="utf-8")
    done = subprocess.run([promtool, "check", "config", str(copy)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def scrape_targets(config: dict[str, Any]) -> list[tuple[str, str, int, str]]:
    """(job, host, port, how) of every static and DNS-discovered target."""
    found = []
    for job in config.get("scrape_configs", []):
        for static in job.get("static_configs", []):
            for target in static.get("targets", []):
                host, _, port = target.rpartition(":")
                found.append((job["job_name"], host, int(port), "static"))
        for dns in job.get("dns_sd_configs", []):
            for host in dns.get("names", []):
                found.append((job["job_name"], host, int(dns["port"]), "dns"))
    return found


def test_prometheus_scrapes_compose_services_on_their_ports() -> None:
    config, _, _ = prometheus_config()
    targets = scrape_targets(config)
    scraped = {host for _, host, _, _ in targets}
    for command in ("api", "worker", "sentiment"):
        (name,) = [other for other in CXPULSE_SERVICES if command_of(SERVICES[other])[0] == command]
        assert name in scraped, f"Prometheus does not scrape {name}"
    for job, host, port, how in targets:
        assert host in SERVICES, f"job {job}: {host} is not a compose service"
        assert port == listening_port(host), f"job {job}: {host} listens on {listening_port(host)}, not {port}"
        if replicas(SERVICES[host]) > 1:
            assert how == "dns", (
                f"job {job}: {host} runs {replicas(SERVICES[host])} replicas; a static target reaches one of them at a time "
                f"(use dns_sd_configs: [{{names: [{host}], type: A, port: {port}}}])"
            )


def test_prometheus_sends_alerts_to_alertmanager() -> None:
    config, _, _ = prometheus_config()
    alertmanager = only_service_with_image("prom/alertmanager:")
    targets = [
        target
        for manager in (config.get("alerting") or {}).get("alertmanagers", [])
        for static in manager.get("static_configs", [])
        for target in static.get("targets", [])
    ]
    assert f"{alertmanager}:{listening_port(alertmanager)}" in targets, f"prometheus.yml alerting targets: {targets}"


def test_alertmanager_reads_the_mounted_configuration() -> None:
    name = only_service_with_image("prom/alertmanager:")
    container_path = flag(SERVICES[name], "config.file", "/etc/alertmanager/alertmanager.yml")
    path = host_path(SERVICES[name], container_path)
    assert path == (REPO / "deploy" / "alertmanager" / "alertmanager.yml").resolve(), path
    assert path.is_file(), f"{path.relative_to(REPO)} does not exist"


# --- Grafana ----------------------------------------------------------------------------------------


def grafana_provisioning() -> tuple[str, dict[str, Any], Path]:
    name = only_service_with_image("grafana/grafana:")
    service = SERVICES[name]
    provisioning = (service.get("environment") or {}).get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning")
    path = host_path(service, provisioning)
    assert path == (REPO / "deploy" / "grafana" / "provisioning").resolve(), f"{provisioning} comes from {path}"
    return name, service, path


def test_grafana_dashboards_are_mounted_where_the_provider_looks() -> None:
    name, service, provisioning = grafana_provisioning()
    providers = [
        provider
        for file in sorted((provisioning / "dashboards").glob("*.y*ml"))
        for provider in (yaml.safe_load(file.read_text(encoding="utf-8")) or {}).get("providers", [])
        if provider.get("type", "file") == "file"
    ]
    assert providers, "no file dashboard provider in deploy/grafana/provisioning/dashboards/"
    repo_dashboards = sorted(path.name for path in (REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
    assert repo_dashboards
    for provider in providers:
        path = provider["options"]["path"]
        on_host = host_path(service, path)
        assert on_host is not None, f"{name}: provider {provider['name']} reads {path}, which is not mounted"
        assert on_host.is_dir() and sorted(p.name for p in on_host.glob("*.json")) == repo_dashboards, (
            f"provider {provider['name']}: {path} -> {on_host}, not deploy/grafana/dashboards/"
        )
    home = (service.get("environment") or {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        assert (host_path(service, home) or Path("/nonexistent")).is_file(), f"home dashboard {home} is not mounted"


def test_grafana_data_source_is_the_compose_prometheus() -> None:
    _, _, provisioning = grafana_provisioning()
    sources = [
        source
        for file in sorted((provisioning / "datasources").glob("*.y*ml"))
        for source in (yaml.safe_load(file.read_text(encoding="utf-8")) or {}).get("datasources", [])
        if source.get("type") == "prometheus"
    ]
    assert sources, "no Prometheus data source provisioned"
    prometheus = only_service_with_image("prom/prometheus:")
    for source in sources:
        url = urlsplit(source["url"])
        assert (url.scheme, url.hostname, url.port) == ("http", prometheus, listening_port(prometheus)), source["url"]
