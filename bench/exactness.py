"""The pipeline's final counts against the ceiling consumer's and the bench's own, per (queue, channel).

The pipeline's side comes from GET /v1/history by day: /v1/kpis windows are relative to now, history
rows are not, and summed over the days they hold every event however its time falls. Abandons are
compared as abandoned plus short abandoned, so the comparison does not depend on the short-abandon
threshold (the bench also sets it to 0); handled is ``contact.ended`` and surveys ``survey.submitted``,
the definitions in docs/kpi-definitions.md.
"""

from __future__ import annotations

from typing import Any, Iterable

from bench.ceiling import ABANDONED, ANSWERED, COUNT_NAMES, HANDLED, OFFERED, SURVEYS, Counts, Pair

ROLL_UP = "*"
MISMATCHES_SHOWN = 10


def history_counts(rows: Iterable[dict[str, Any]]) -> dict[Pair, Counts]:
    """Sum /v1/history rows over their dates per real (queue, channel); roll-up rows are left out."""
    counts: dict[Pair, Counts] = {}
    for row in rows:
        if row["queue"] == ROLL_UP or row["channel"] == ROLL_UP:
            continue
        pair = counts.setdefault((row["queue"], row["channel"]), [0] * len(COUNT_NAMES))
        pair[OFFERED] += row["offered"]
        pair[ANSWERED] += row["answered"]
        pair[ABANDONED] += row["abandoned"] + row["short_abandoned"]
        pair[HANDLED] += row["handled"]
        pair[SURVEYS] += row["surveys"]
    return counts


def totals(counts: dict[Pair, Counts]) -> dict[str, int]:
    return {name: sum(pair[i] for pair in counts.values()) for i, name in enumerate(COUNT_NAMES)}


def differences(sources: dict[str, dict[Pair, Counts]]) -> list[dict[str, Any]]:
    """Every (queue, channel, count) on which the sources disagree, with each source's number.

    A pair missing from one source counts as zeros there, so a queue the pipeline never served shows up.
    """
    pairs = sorted(set().union(*sources.values()))
    zero = [0] * len(COUNT_NAMES)
    found = []
    for pair in pairs:
        for index, name in enumerate(COUNT_NAMES):
            values = {source: counts.get(pair, zero)[index] for source, counts in sources.items()}
            if len(set(values.values())) > 1:
                found.append({"queue": pair[0], "channel": pair[1], "count": name, **values})
    return found


def compare(sources: dict[str, dict[Pair, Counts]]) -> dict[str, Any]:
    """Totals per source, whether every per-pair count agrees, and the first disagreements."""
    found = differences(sources)
    return {
        "exact": not found,
        "pairs": len(set().union(*sources.values())),
        "totals": {source: totals(counts) for source, counts in sources.items()},
        "mismatches": len(found),
        "first_mismatches": found[:MISMATCHES_SHOWN],
    }
