"""Campaign runs in the synthesized stack: a schedule group, a scheduler role that may only send to the jobs queue
(and its DLQ), and functions that may manage schedules in that group only and pass that role only."""

from __future__ import annotations

import json

import pytest

from kizuna.catalog import CAMPAIGN_SCHEDULE_GROUP_ENV_VAR, CAMPAIGN_SCHEDULER_ROLE_ENV_VAR, JOBS_QUEUE_ARN_ENV_VAR

pytestmark = pytest.mark.infra


def _statements(synthesized, role_ref: str) -> list[dict]:
    found = []
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        if any(r.get("Ref") == role_ref for r in policy["Properties"]["Roles"]):
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return actions if isinstance(actions, list) else [actions]


def test_one_schedule_group_and_a_scheduler_role_that_only_sends_to_the_jobs_queues(synthesized):
    [group] = synthesized.of_type("AWS::Scheduler::ScheduleGroup").values()
    assert group["Properties"]["Name"].endswith("-campaigns")
    roles = {
        logical_id: role
        for logical_id, role in synthesized.of_type("AWS::IAM::Role").items()
        if "CampaignSchedules" in logical_id
    }
    [(role_id, role)] = roles.items()
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "scheduler.amazonaws.com"
    }
    actions = {a for s in _statements(synthesized, role_id) for a in _actions(s)}
    assert {a for a in actions if not a.startswith("kms:")} <= {
        "sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
    }  # fmt: skip


@pytest.mark.parametrize("handler", ["api/handler.handler", "jobs/handler.handler"])
def test_the_api_and_jobs_functions_schedule_runs_in_the_group_only(synthesized, handler):
    [(_, function)] = [
        (k, f) for k, f in synthesized.of_type("AWS::Lambda::Function").items() if f["Properties"]["Handler"] == handler
    ]
    env = function["Properties"]["Environment"]["Variables"]
    assert {CAMPAIGN_SCHEDULE_GROUP_ENV_VAR, CAMPAIGN_SCHEDULER_ROLE_ENV_VAR, JOBS_QUEUE_ARN_ENV_VAR} <= set(env)
    role_ref = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = _statements(synthesized, role_ref)
    scheduling = [s for s in statements if "scheduler:CreateSchedule" in _actions(s)]
    assert scheduling, "no permission to create run schedules"
    for statement in scheduling:
        assert "/*" in json.dumps(statement["Resource"]) and "-campaigns" in json.dumps(statement["Resource"])
    [pass_role] = [s for s in statements if "iam:PassRole" in _actions(s)]
    assert pass_role["Resource"] != "*"
