"""The journey engine's steps, invoked by the journey state machine (or the local orchestrator): "wake" one endpoint
shard of a run (enrol once, move the due participants, answer the shard's next wake-up), then "plan" the loop
(done, or when to wake next and whether to continue as a new execution)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from kizuna.observability import logger
from kizuna.services.journey_runs import plan, wake_shard
from kizuna.settings import JourneysSettings
from kizuna.wiring_journeys import journey_deps

settings = JourneysSettings()
deps = journey_deps(settings)


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    app_id, journey_id, run_id = event["app_id"], event["journey_id"], event["run_id"]
    if event["action"] == "wake":
        return {"next_wake": wake_shard(deps, app_id, journey_id, run_id, int(event["shard"]))}
    return plan(deps, app_id, journey_id, run_id, list(event["wakes"]), int(event["loops"]), event["started_at"])
