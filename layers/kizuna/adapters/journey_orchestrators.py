"""What runs a journey's wake-up loop in AWS: a Step Functions Standard execution (infra/journeys.py defines the
state machine: wake the 16 shards, plan, Wait until the next wake-up, loop; continue as a new execution before a year
or 25,000 history events). Local mode runs the same loop on the local scheduler (kizuna.local.journey_orchestrator)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.clock import Clock, iso


def execution_input(app_id: str, journey_id: str, run_id: str, now: datetime) -> dict[str, Any]:
    return {
        "app_id": app_id,
        "journey_id": journey_id,
        "run_id": run_id,
        "shards": list(range(ENDPOINT_SHARDS)),
        "loops": 0,
        "started_at": iso(now),
    }


class StepFunctionsOrchestrator:
    def __init__(self, client: Any, state_machine_arn: str, clock: Clock) -> None:
        self._sfn = client
        self._arn = state_machine_arn
        self._clock = clock

    def start(self, app_id: str, journey_id: str, run_id: str) -> None:
        now = self._clock.now()
        # One execution name per (run, start): a resumed journey starts a new execution of the same run. Names are
        # at most 80 characters: journey ids are 32, run ids 16.
        name = f"{journey_id}-{run_id}-{now:%Y%m%d%H%M%S}"
        try:
            self._sfn.start_execution(
                stateMachineArn=self._arn, name=name, input=_json(execution_input(app_id, journey_id, run_id, now))
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":  # the same start, retried
                raise


def _json(value: Any) -> str:
    return json.dumps(value)
