"""The KPI catalog as data: what each KPI in /v1/kpis means, its unit, how to show it, which way is better.

Screens (the wallboard first) format values from here instead of keeping their own copy of the
list, so a KPI added to ``kpis/catalog.py`` is shown right everywhere without touching them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kpis.catalog import KPIS, Kpi
from kpis.scales import SURVEY_SCALES

router = APIRouter(prefix="/v1", tags=["kpis"])


def describe(kpi: Kpi) -> dict[str, Any]:
    return {
        "name": kpi.name,
        "title": kpi.title,
        "section": kpi.section,
        "kind": kpi.kind,
        "unit": kpi.unit,
        "display": kpi.display,
        "better": kpi.better,
        "indicator": kpi.indicator,
        "thresholds": kpi.judged,
        "volume": list(kpi.volume) if kpi.volume is not None else None,
        "metric": kpi.metric,
        "help": kpi.help,
        "definition": f"docs/kpi-definitions.md#{kpi.definition}",
    }


CATALOG = {
    "kpis": [describe(kpi) for kpi in KPIS],
    "survey_scales": [
        {"name": scale.name, "title": scale.title, "lowest": scale.lowest, "highest": scale.highest, "better": scale.better}
        for scale in SURVEY_SCALES
    ],
}


@router.get("/catalog", summary="Every KPI with its title, unit, display format and direction, in catalog order")
async def get_catalog() -> dict[str, Any]:
    return CATALOG
