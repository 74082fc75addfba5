"""Local mode's overrides of the composition root: what kizuna.local.system plugs in instead of an AWS service.

Each hook is None in AWS. Local mode sets them before it imports the handlers (they bind sinks and schedulers at
cold start) and clears them when it stops; the wiring modules read them each time they build the adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kizuna.clock import Clock
    from kizuna.ports import EventSink

# Local mode buffers the stream as Firehose does (kizuna.local.firehose_buffer); read by wiring.event_sink.
event_sink_factory: Callable[[str], EventSink] | None = None
# Campaign runs on the local scheduler instead of EventBridge Scheduler; read by wiring_campaigns.run_scheduler.
run_scheduler_factory: Callable[[], Any] | None = None
# Journeys loop on the local scheduler instead of Step Functions; read by wiring_journeys.journey_orchestrator.
journey_orchestrator_factory: Callable[[], Any] | None = None
# The clock the journeys' loop is scheduled on; read by wiring_journeys.journey_deps.
journey_clock: Clock | None = None


def use_event_sinks(factory: Callable[[str], EventSink] | None) -> None:
    """Route every event_sink() built from now on through `factory` (None: back to Firehose)."""
    global event_sink_factory
    event_sink_factory = factory


def use_run_schedulers(factory: Callable[[], Any] | None) -> None:
    """Local mode: campaign runs are scheduled on the local scheduler instead of EventBridge Scheduler."""
    global run_scheduler_factory
    run_scheduler_factory = factory


def use_journey_orchestrators(factory: Callable[[], Any] | None) -> None:
    """Local mode: journeys loop on the local scheduler instead of Step Functions."""
    global journey_orchestrator_factory
    journey_orchestrator_factory = factory


def use_journey_clock(clock: Clock | None) -> None:
    """Local mode: the journey engine (the journeys function) reads this clock, the one its loop is scheduled on."""
    global journey_clock
    journey_clock = clock
