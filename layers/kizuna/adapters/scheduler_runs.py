"""Campaign runs on EventBridge Scheduler: one one-time schedule per campaign (`at()` in UTC) whose target is the
jobs queue itself, so a run needs no function of its own and a schedule delivers the run message exactly as the
API would enqueue it. The schedule deletes itself after it fires; scheduling again replaces the pending one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError


def schedule_name(app_id: str, campaign_id: str) -> str:
    # Names are at most 64 characters; app and campaign ids are 32 each, so the pair is hashed.
    return "kizuna-run-" + hashlib.sha256(f"{app_id}|{campaign_id}".encode()).hexdigest()[:48]


class EventBridgeRunScheduler:
    def __init__(self, client: Any, group: str, queue_arn: str, role_arn: str, dead_letter_arn: str) -> None:
        self._scheduler = client
        self._group = group
        self._queue_arn = queue_arn
        self._role_arn = role_arn
        self._dead_letter_arn = dead_letter_arn

    def schedule_run(self, app_id: str, campaign_id: str, at: datetime, message: dict[str, Any]) -> None:
        params = {
            "Name": schedule_name(app_id, campaign_id),
            "GroupName": self._group,
            "ScheduleExpression": f"at({at.astimezone(UTC):%Y-%m-%dT%H:%M:%S})",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": self._queue_arn,
                "RoleArn": self._role_arn,
                "Input": json.dumps(message),
                # A run the scheduler cannot deliver for a day lands in the jobs DLQ (alarmed), never silently.
                "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
                "DeadLetterConfig": {"Arn": self._dead_letter_arn},
            },
            "ActionAfterCompletion": "DELETE",
        }
        try:
            self._scheduler.update_schedule(**params)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            try:
                self._scheduler.create_schedule(**params)
            except ClientError as race:  # created meanwhile by a concurrent update of the campaign
                if race.response["Error"]["Code"] != "ConflictException":
                    raise
                self._scheduler.update_schedule(**params)

    def cancel_run(self, app_id: str, campaign_id: str) -> None:
        try:
            self._scheduler.delete_schedule(Name=schedule_name(app_id, campaign_id), GroupName=self._group)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise


class LocalRunScheduler:
    """Local mode: the same schedules on the local scheduler (kizuna.local.runtime_scheduler), on its clock."""

    def __init__(self, scheduler: Any, enqueue: Callable[[dict[str, Any]], None]) -> None:
        self._scheduler = scheduler
        self._enqueue = enqueue

    def schedule_run(self, app_id: str, campaign_id: str, at: datetime, message: dict[str, Any]) -> None:
        name = schedule_name(app_id, campaign_id)
        self._scheduler.cancel(name)
        self._scheduler.at(at, lambda event, _context: self._enqueue(event), message, name=name)

    def cancel_run(self, app_id: str, campaign_id: str) -> None:
        self._scheduler.cancel(schedule_name(app_id, campaign_id))
