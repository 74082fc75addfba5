"""The journey state machine in the synthesized stack: the very document local mode interprets
(kizuna.journey_state_machine) with the journeys function's ARN substituted, allowed to invoke that function and to
start itself only, logged and traced, and alarmed when an execution fails, times out or is aborted."""

from __future__ import annotations

import json

import pytest

from kizuna.journey_state_machine import FUNCTION_ARN, PARTITION, definition

pytestmark = pytest.mark.infra


def _state_machine(synthesized) -> tuple[str, dict]:
    [(logical_id, machine)] = synthesized.of_type("AWS::StepFunctions::StateMachine").items()
    return logical_id, machine["Properties"]


def _journeys_function(synthesized) -> str:
    [logical_id] = [
        k
        for k, f in synthesized.of_type("AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == "journeys/handler.handler"
    ]
    return logical_id


def test_the_deployed_definition_is_the_one_local_mode_interprets(synthesized):
    # Given the definition string CloudFormation joins from the partition and the journeys function's ARN
    _, machine = _state_machine(synthesized)
    placeholders = {
        json.dumps({"Ref": "AWS::Partition"}): PARTITION,
        json.dumps({"Fn::GetAtt": [_journeys_function(synthesized), "Arn"]}): FUNCTION_ARN,
    }
    separator, parts = machine["DefinitionString"]["Fn::Join"]
    joined = separator.join(p if isinstance(p, str) else placeholders[json.dumps(p)] for p in parts)
    # Then it is kizuna.journey_state_machine's document, with those two filled in
    assert json.loads(joined) == definition()
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["Level"] == "ALL"


def test_it_may_invoke_the_journeys_function_and_start_itself_only(synthesized):
    _, machine = _state_machine(synthesized)
    role = machine["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in synthesized.of_type("AWS::IAM::Policy").values()
        if any(r.get("Ref") == role for r in p["Properties"]["Roles"])
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    [invoke] = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
    assert {"Fn::GetAtt": [_journeys_function(synthesized), "Arn"]} in invoke["Resource"]
    [start] = [s for s in statements if s["Action"] == "states:StartExecution"]
    assert start["Resource"]["Fn::Join"][1][-1] == f":stateMachine:{machine['StateMachineName']}"


def test_failed_timed_out_or_aborted_executions_raise_an_alarm(synthesized):
    logical_id, _ = _state_machine(synthesized)
    [alarm] = [
        a["Properties"]
        for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if "Metrics" in a["Properties"] and "StateMachineArn" in json.dumps(a["Properties"]["Metrics"])
    ]
    metrics = {m["Id"]: m for m in alarm["Metrics"]}
    [expression] = [m for m in alarm["Metrics"] if "Expression" in m]
    assert expression["Expression"] == "FILL(failed, 0) + FILL(timed_out, 0) + FILL(aborted, 0)"
    for metric_id, name in (("failed", "ExecutionsFailed"), ("timed_out", "ExecutionsTimedOut"),
                            ("aborted", "ExecutionsAborted")):  # fmt: skip
        stat = metrics[metric_id]["MetricStat"]
        assert stat["Metric"]["Namespace"] == "AWS/States" and stat["Metric"]["MetricName"] == name
        assert stat["Metric"]["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": logical_id}}]
        assert stat["Stat"] == "Sum"
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    [topic] = synthesized.of_type("AWS::SNS::Topic")
    assert alarm["AlarmActions"] == [{"Ref": topic}]
