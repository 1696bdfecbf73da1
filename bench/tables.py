"""The plain-text table every bench suite prints, and the number formats its cells share, so the
suites' tables and ``cxpulse bench``'s combined one read alike."""

from __future__ import annotations

from typing import Any

Row = list[str]
HEADER = ["figure", "value", "target", "result"]


def number(value: float | None, digits: int = 0, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{unit}"


def verdict(check: dict[str, Any]) -> str:
    return "met" if check["met"] else "MISSED"


def table(body: list[Row], header: Row = HEADER) -> str:
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *body])
