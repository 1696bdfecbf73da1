"""``SurveyScale`` and ``SURVEY_SCALES``: the survey scores the contract carries, declared once.

A scale fixes how a score is stored (one counter per answer, so windows and partitions merge
exactly), which answers are valid, and the KPIs every scale gets (its mean). The JSON Schema of
survey events must accept exactly these answers (a test compares them). Adding a survey score is a
property in ``streams/schemas/survey-event.v1.schema.json`` and one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Better = Literal["higher", "lower"]


@dataclass(frozen=True, slots=True)
class SurveyScale:
    """One integer survey score from ``lowest`` to ``highest``; ``name`` is its field in the event."""

    name: str
    title: str
    lowest: int
    highest: int
    better: Better
    definition: str

    @property
    def size(self) -> int:
        return self.highest - self.lowest + 1

    @property
    def counts_key(self) -> str:
        """The key of its answer counts in a bucket's JSON (kept from the snapshot format before scales)."""
        return f"{self.name}_counts"


SURVEY_SCALES: Final[tuple[SurveyScale, ...]] = (
    SurveyScale("csat", "CSAT", 1, 5, "higher", "surveys"),
    SurveyScale("nps", "NPS answer", 0, 10, "higher", "surveys"),
    SurveyScale("ces", "Customer effort", 1, 7, "higher", "surveys"),
)
SCALES_BY_NAME: Final = {scale.name: scale for scale in SURVEY_SCALES}
