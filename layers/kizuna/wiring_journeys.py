"""Composition root for journeys (issue 7): the orchestrator that loops a run, the journey engine's ports, and the
stores of journeys, participants and engagement (see wiring.py).

Used by the journeys function, the API (journey operations, PutEvents entering event-started journeys), the Twilio
webhook and analytics_web (engagement: replies and clicks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kizuna import wiring, wiring_local
from kizuna.clock import Clock, SystemClock

if TYPE_CHECKING:
    from kizuna.settings import ApiSettings, JourneysSettings


def journey_orchestrator(state_machine_arn: str, clock: Clock) -> Any:
    if wiring_local.journey_orchestrator_factory is not None:
        return wiring_local.journey_orchestrator_factory()
    from kizuna.adapters.journey_orchestrators import StepFunctionsOrchestrator

    return StepFunctionsOrchestrator(wiring.aws("stepfunctions"), state_machine_arn, clock)


def journey_starter(settings: ApiSettings, clock: Clock) -> Callable[[dict], None]:
    """What the journey operations call when a journey becomes ACTIVE: start its run's loop."""
    orchestrator = journey_orchestrator(settings.journey_state_machine_arn, clock)

    def started(journey: dict) -> None:
        if journey.get("RunId"):
            orchestrator.start(journey["ApplicationId"], journey["Id"], journey["RunId"])

    return started


def journey_deps(settings: JourneysSettings | ApiSettings, clock: Clock | None = None, orchestrator: Any = None) -> Any:
    """The journey engine's ports: in the journeys function, and in the API, where PutEvents enters event-started
    journeys (and starts a loop of the run through `orchestrator` when an entrant must wake before it would)."""
    from kizuna.adapters.dynamo_endpoint_caps import DynamoEndpointCaps
    from kizuna.services.journey_runs import JourneyDeps
    from kizuna.services.send_messages import SendDeps

    clock = clock or wiring_local.journey_clock or SystemClock()
    data = wiring.data_store(settings.data_table)
    channels = wiring.channel_store(settings.data_table)
    send = SendDeps(data, data, wiring.send_queue(settings.send_queue_url), clock,
                    wiring.template_store(settings.data_table), channels, channels)  # fmt: skip
    return JourneyDeps(
        apps=data,
        endpoints=data,
        segments=wiring.segment_store(settings.data_table),
        journeys=journey_store(settings.data_table),
        participants=participant_store(settings.journeys_table),
        send=send,
        clock=clock,
        messages=wiring.message_store(settings.messages_table),
        engagement=engagement_store(settings.data_table),
        orchestrator=orchestrator,
        relays=wiring.relay_queue(settings.relay_queue_url),
        caps=DynamoEndpointCaps(settings.limits_table, wiring.aws("dynamodb")),
    )


def participant_store(table: str) -> Any:
    from kizuna.adapters.dynamo_participants import DynamoParticipantStore

    return DynamoParticipantStore(table, wiring.aws("dynamodb"))


def journey_store(table: str) -> Any:
    from kizuna.adapters.dynamo_journeys import DynamoJourneyStore

    return DynamoJourneyStore(table, wiring.aws("dynamodb"))


def engagement_store(table: str) -> Any:
    """What journey participants did (replies, clicks, custom events), in the data table."""
    from kizuna.adapters.dynamo_engagement import DynamoEngagementStore

    return DynamoEngagementStore(table, wiring.aws("dynamodb"))
