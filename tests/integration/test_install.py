"""A plain ``pip install`` of the wheel, no extras, in a fresh virtual environment, runs cxpulse.

What a user gets is the wheel and its declared dependencies, not this checkout and its test extra:
so the wheel is built, installed where neither the project nor the test tools are importable, and
then asked for ``--help``, made to import every module it ships, and started with ``cxpulse run
--config FILE`` (the option after the command, as users write it) until ``/readyz`` answers.
Needs the package registry (PyPI) for the dependencies, as ``make test`` does.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from tests.integration.stack import ARTIFACTS, cxpulse_environment, eventually, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT_S = 900
READY_TIMEOUT_S = 180


def run(argv: list[str], cwd: Path, timeout_s: float = INSTALL_TIMEOUT_S) -> str:
    done = subprocess.run(argv, cwd=cwd, env=clean_environment(), capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def clean_environment() -> dict[str, str]:
    """No CXPULSE_* of the developer, and nothing that would put this checkout on the import path."""
    return {k: v for k, v in cxpulse_environment().items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin directory of a fresh venv holding the wheel built from this checkout and its dependencies only."""
    where = tmp_path_factory.mktemp("install")
    # Built from a copy: setuptools leaves build/ and *.egg-info in the tree it builds.
    source = where / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "test-artifacts", "__pycache__"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(where / "dist"), str(source)], where)
    (wheel,) = (where / "dist").glob("cxpulse-*.whl")
    run([sys.executable, "-m", "venv", str(where / "venv")], where)
    bin_dir = where / "venv" / "bin"
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], where)
    return bin_dir


def test_the_installed_venv_has_no_test_extra(installed: Path) -> None:
    """The check below only means something if the test tools are really absent."""
    listed = run([str(installed / "python"), "-m", "pip", "list", "--format", "freeze"], installed)
    names = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert "cxpulse" in names
    assert not names & {"pytest", "playwright", "schemathesis", "mypy"}, names


def test_help_explains_every_command(installed: Path) -> None:
    text = run([str(installed / "cxpulse"), "--help"], installed.parent)
    for command in ("run", "worker", "api", "simulate", "replay", "bench"):
        assert command in text


def test_every_module_the_wheel_ships_imports(installed: Path) -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    script = (
        "import importlib, pkgutil, sys\n"
        f"packages = {packages!r}\n"
        "names = [m.name for p in packages for m in pkgutil.iter_modules(importlib.import_module(p).__path__, p + '.')]\n"
        "for name in names:\n"
        "    module = importlib.import_module(name)\n"
        "    assert '/site-packages/' in module.__file__, f'{name} came from {module.__file__}'\n"
        "print(len(names))\n"
    )
    imported = int(run([str(installed / "python"), "-c", script], installed.parent).strip())
    assert imported >= 40, f"only {imported} modules found: not the package this checkout builds"


async def test_cxpulse_run_with_config_after_the_command_becomes_ready(installed: Path) -> None:
    workdir = installed.parent.parent
    api_port = free_port()
    config = workdir / "my.yaml"
    config.write_text(
        f"broker: {{port: {free_port()}}}\n"
        f"api: {{port: {api_port}}}\n"
        f"worker: {{metrics_port: {free_port()}, app_id: cxpulse-install, data_dir: {workdir / 'worker-data'}}}\n"
        f"sentiment: {{metrics_port: {free_port()}}}\n"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "install-run.log", "wb") as log:
        process = subprocess.Popen(
            [str(installed / "cxpulse"), "run", "--config", str(config)],
            cwd=workdir, env=clean_environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:

        async def ready() -> bool:
            assert process.poll() is None, f"cxpulse run exited with {process.returncode}; see {log.name}"
            try:
                async with httpx.AsyncClient(timeout=5) as client:
                    return (await client.get(f"http://127.0.0.1:{api_port}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(ready, READY_TIMEOUT_S, "/readyz of the installed cxpulse to answer 200")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        code = process.wait(60)
    assert code == 0, f"cxpulse run stopped with {code}; see {log.name}"
