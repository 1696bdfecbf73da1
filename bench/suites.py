"""The benchmark suites ``cxpulse bench`` offers; a new suite is a module with these five names and a line here.

``summary`` is what the suite measures, for ``cxpulse bench --help``; ``description`` explains how, for
``cxpulse bench SUITE --help``; ``run`` gets the parsed options (and ``config``) and returns an exit code."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

from bench import api, asterisk, ingest, pipeline, recovery, scale, scorecard, sentiment


@dataclass(frozen=True)
class Suite:
    name: str
    summary: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]

    def defaults(self) -> argparse.Namespace:
        """This suite's options as its parser defaults them, for ``cxpulse bench`` without a suite."""
        parser = argparse.ArgumentParser()
        self.add_arguments(parser)
        return parser.parse_args([])


# In this order when ``cxpulse bench`` runs them all (bench.combined).
SUITES: tuple[Suite, ...] = (
    Suite(pipeline.NAME, pipeline.SUMMARY, pipeline.DESCRIPTION, pipeline.add_arguments, pipeline.run),
    Suite(scale.NAME, scale.SUMMARY, scale.DESCRIPTION, scale.add_arguments, scale.run),
    Suite(api.NAME, api.SUMMARY, api.DESCRIPTION, api.add_arguments, api.run),
    Suite(ingest.NAME, ingest.SUMMARY, ingest.DESCRIPTION, ingest.add_arguments, ingest.run),
    Suite(asterisk.NAME, asterisk.SUMMARY, asterisk.DESCRIPTION, asterisk.add_arguments, asterisk.run),
    Suite(recovery.NAME, recovery.SUMMARY, recovery.DESCRIPTION, recovery.add_arguments, recovery.run),
    Suite(sentiment.NAME, sentiment.SUMMARY, sentiment.DESCRIPTION, sentiment.add_arguments, sentiment.run),
    Suite(scorecard.NAME, scorecard.SUMMARY, scorecard.DESCRIPTION, scorecard.add_arguments, scorecard.run),
)
