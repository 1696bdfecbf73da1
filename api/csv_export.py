"""History rows as CSV, for the spreadsheets contact centers report in."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any, Iterable

from kpis.catalog import WINDOWED

LEADING = ("queue", "channel", "window", "date", "start", "end")
# After the KPIs: the tickets created per category, one cell ("billing=3;refund=1").
TRAILING = ("tickets_by_category",)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def columns() -> tuple[str, ...]:
    """The KPI columns are the catalog's windowed KPIs in catalog order (what a history row holds), so
    a new KPI is a new column with nothing to edit here."""
    return LEADING + tuple(kpi.name for kpi in WINDOWED) + TRAILING


def cell(value: Any) -> str:
    """Text a spreadsheet reads back as the value in any locale: an empty cell for null (not
    "None"), true/false, and numbers without exponents (``str`` writes 0.00003 as 3e-05)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return cell(";".join(f"{key}={count}" for key, count in value.items()))
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        # A queue named "=HYPERLINK(...)" must stay text in a spreadsheet, not become a formula.
        return "'" + value
    return str(value)


def render(rows: Iterable[dict[str, Any]]) -> str:
    """A row without one of the columns is an error, not an empty cell: it means the rows and the
    column list have drifted apart."""
    names = columns()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(names)
    writer.writerows([cell(row[name]) for name in names] for row in rows)
    return out.getvalue()
