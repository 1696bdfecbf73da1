"""Every import in the installed packages is a runtime dependency: a plain ``pip install .`` runs.

Imports inside functions count too (``cxpulse run`` imports httpx only when it waits for the API), so
the modules are read, not imported. The install test (tests/integration/test_install.py) does the
same for real in a fresh virtual environment.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def own_packages() -> set[str]:
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    return {package.split(".")[0] for package in listed}


def normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def imported_modules() -> dict[str, set[str]]:
    """Top-level module name -> files of the installed packages that import it (anywhere in the file)."""
    found: dict[str, set[str]] = {}
    for package in own_packages():
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_a_declared_runtime_dependency() -> None:
    declared = {normalized(re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]) for requirement in project()["dependencies"]}
    providers = packages_distributions()
    third_party = {
        module: files
        for module, files in imported_modules().items()
        if module not in sys.stdlib_module_names and module not in own_packages()
    }
    assert {"faust", "aiokafka", "fastapi", "httpx"} <= set(third_party), "the scan found too little to be right"
    undeclared = {
        module: sorted(files)
        for module, files in third_party.items()
        if not {normalized(name) for name in providers.get(module, [module])} & declared
    }
    assert not undeclared, f"imported at run time but not in [project].dependencies: {undeclared}"
