"""The journey engine's state machine in Amazon States Language: one definition, two runners. infra/journeys.py
deploys it to Step Functions (Standard) with the journeys function's ARN and the partition filled in; local mode
interprets the same document (kizuna.local.journey_orchestrator), so what runs on a laptop is what runs in AWS. One
execution per journey run loops

    Shards: Map over the 16 endpoint shards → WakeShard (journeys function {"action": "wake", shard})
    → Plan (journeys function {"action": "plan", wakes, loops, started_at}) → Next:
        done      → Done (Succeed)
        continue  → ContinueAsNew (StartExecution of itself: loops 0, started now) → Continued (Succeed)
        otherwise → UntilNextWake (Wait until plan.next_wake) → CountLoop (loops + 1) → Shards

so a run costs 21 state transitions per wake-up whatever its number of participants (participant state is in the
journeys table), and continues as a new execution long before Standard's year and 25,000 history events
(catalog.JOURNEY_LOOPS_PER_EXECUTION, JOURNEY_EXECUTION_MAX_DAYS)."""

from __future__ import annotations

from typing import Any

from kizuna.catalog import ENDPOINT_SHARDS

# Placeholders of the bare document (tests compare the deployed one with it, filled in).
FUNCTION_ARN = "${JourneysFunctionArn}"
PARTITION = "${Partition}"
RUN_FIELDS = ("app_id", "journey_id", "run_id")
# CDK's LambdaInvoke adds the first retrier (Lambda's own transient faults); the second is the engine's: a wake-up
# or plan that raised is replayed (both are idempotent), 5 s, 10 s, 20 s, 40 s later, then the execution fails.
RETRY = [
    {
        "ErrorEquals": [
            "Lambda.ClientExecutionTimeoutException",
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
        ],
        "IntervalSeconds": 2,
        "MaxAttempts": 6,
        "BackoffRate": 2,
    },
    {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 5, "MaxAttempts": 4, "BackoffRate": 2},
]


def definition(function_arn: str = FUNCTION_ARN, partition: str = PARTITION) -> dict:
    """The state machine invoking the journeys function `function_arn` in AWS partition `partition`."""
    run = {f"{field}.$": f"$.{field}" for field in RUN_FIELDS}
    invoke = f"arn:{partition}:states:::lambda:invoke"
    wake = {
        "Type": "Task",
        "Resource": invoke,
        "Parameters": {"FunctionName": function_arn, "Payload": {**run, "action": "wake", "shard.$": "$.shard"}},
        "ResultSelector": {"next_wake.$": "$.Payload.next_wake"},
        "Retry": RETRY,
        "End": True,
    }
    plan_payload = {**run, "action": "plan", "wakes.$": "$.wakes[*].next_wake", "loops.$": "$.loops",
                    "started_at.$": "$.started_at"}  # fmt: skip
    states: dict[str, Any] = {
        "Shards": {
            "Type": "Map",
            "ItemsPath": "$.shards",
            "ItemSelector": {**run, "shard.$": "$$.Map.Item.Value"},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "WakeShard",
                "States": {"WakeShard": wake},
            },
            "MaxConcurrency": ENDPOINT_SHARDS,
            "ResultPath": "$.wakes",
            "Next": "Plan",
        },
        "Plan": {
            "Type": "Task",
            "Resource": invoke,
            "Parameters": {"FunctionName": function_arn, "Payload": plan_payload},
            "ResultSelector": {"plan.$": "$.Payload"},
            "ResultPath": "$.result",
            "Retry": RETRY,
            "Next": "Next",
        },
        "Next": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.result.plan.done", "BooleanEquals": True, "Next": "Done"},
                {"Variable": "$.result.plan.continue", "BooleanEquals": True, "Next": "ContinueAsNew"},
            ],
            "Default": "UntilNextWake",
        },
        "Done": {"Type": "Succeed"},
        "ContinueAsNew": {
            "Type": "Task",
            "Resource": f"arn:{partition}:states:::states:startExecution",
            "Parameters": {
                "StateMachineArn.$": "$$.StateMachine.Id",
                "Input": {
                    **run,
                    "shards.$": "$.shards",
                    "loops": 0,
                    "started_at.$": "$$.State.EnteredTime",
                    "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id",
                },
            },
            "Next": "Continued",
        },
        "Continued": {"Type": "Succeed"},
        "UntilNextWake": {"Type": "Wait", "TimestampPath": "$.result.plan.next_wake", "Next": "CountLoop"},
        "CountLoop": {
            "Type": "Pass",
            "Parameters": {
                **run,
                "shards.$": "$.shards",
                "started_at.$": "$.started_at",
                "loops.$": "States.MathAdd($.loops, 1)",
            },
            "Next": "Shards",
        },
    }
    return {
        "Comment": "Kizuna journey run: wake the endpoint shards, plan, wait until the next wake-up, loop",
        "StartAt": "Shards",
        "States": states,
    }
