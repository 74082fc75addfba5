"""What stops a simulation before it runs (light to import: the command line catches these)."""

from __future__ import annotations


class SimulationError(Exception):
    """Input the simulation cannot run with; the message names the problem (and the row or activity)."""


class JourneyRefused(SimulationError):
    """The review found errors: the journey could not be published, so it cannot be simulated either."""

    def __init__(self, errors: list[dict[str, str]], recommendations: list[dict[str, str]]) -> None:
        super().__init__(f"the journey cannot be published: {len(errors)} review errors")
        self.errors, self.recommendations = errors, recommendations
