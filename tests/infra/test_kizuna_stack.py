"""The synthesized Kizuna stack has the properties the catalog and the settings models promise: its functions, APIs,
schedules and alarms, no secret values, and clean cdk-nag and cfn-lint runs. Queues, tables and the event stream:
test_kizuna_stack_data.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks

from infra.functions import lambda_handler
from kizuna.catalog import FUNCTIONS, QUEUES
from kizuna.settings import SETTINGS_BY_FUNCTION

pytestmark = pytest.mark.infra


def _functions_by_key(synthesized) -> dict[str, dict]:
    by_handler = {lambda_handler(key): key for key in FUNCTIONS}
    return {
        by_handler[fn["Properties"]["Handler"]]: fn["Properties"]
        for fn in synthesized.of_type("AWS::Lambda::Function").values()
        if fn["Properties"].get("Handler") in by_handler
    }


# --- functions -----------------------------------------------------------------------------------------------------


def test_every_catalog_function_is_deployed(synthesized):
    assert set(_functions_by_key(synthesized)) == set(FUNCTIONS)


@pytest.mark.parametrize("key", list(FUNCTIONS))
def test_function_is_arm64_python_traced_with_catalog_limits(synthesized, key):
    props = _functions_by_key(synthesized)[key]
    assert props["Architectures"] == ["arm64"]
    assert re.fullmatch(r"python3\.(1[3-9]|[2-9]\d)", props["Runtime"])
    assert props["Timeout"] == FUNCTIONS[key].timeout_s
    assert props["MemorySize"] == FUNCTIONS[key].memory_mb
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert len(props["Layers"]) == 2


@pytest.mark.parametrize("key", list(FUNCTIONS))
def test_function_environment_is_exactly_what_its_settings_model_reads(synthesized, key):
    variables = _functions_by_key(synthesized)[key]["Environment"]["Variables"]
    assert set(variables) == SETTINGS_BY_FUNCTION[key].env_names()
    assert variables["POWERTOOLS_SERVICE_NAME"] == f"kizuna-{key}"


def _webhooks_api(synthesized) -> str:
    (logical_id,) = [k for k, v in synthesized.of_type("AWS::ApiGatewayV2::Api").items()
                     if v["Properties"]["Name"] == "kizuna-webhooks"]  # fmt: skip
    return logical_id


def test_sender_calls_back_to_the_webhooks_api(synthesized):
    # The HTTP API's endpoint on its `$default` stage: https://<id>.execute-api.<region>.amazonaws.com, no stage path
    sender = _functions_by_key(synthesized)[QUEUES["send"].consumer]
    webhook_url = sender["Environment"]["Variables"]["WEBHOOK_BASE_URL"]
    assert webhook_url == {"Fn::GetAtt": [_webhooks_api(synthesized), "ApiEndpoint"]}
    assert synthesized.template.to_json()["Outputs"]["WebhooksApiUrl"]["Value"] == webhook_url
    # and it writes no links (the functions that do read LINKS_BASE_URL: below)
    assert "LINKS_BASE_URL" not in sender["Environment"]["Variables"]


def _links_api(synthesized) -> str:
    (logical_id,) = [k for k, v in synthesized.of_type("AWS::ApiGateway::RestApi").items()
                     if v["Properties"]["Name"] == "kizuna-links"]  # fmt: skip
    return logical_id


@pytest.mark.parametrize("key", ["api", QUEUES["jobs"].consumer])
def test_links_are_written_under_the_links_rest_apis_stage_url(synthesized, key):
    # The api (SendMessages) and jobs (campaign runs) functions rewrite links to <base>/l/<code>;
    # the base is the links REST API's stage URL, which the LinksBaseUrl output shows too.
    links_url = _functions_by_key(synthesized)[key]["Environment"]["Variables"]["LINKS_BASE_URL"]
    joined = "".join(p if isinstance(p, str) else json.dumps(p) for p in links_url["Fn::Join"][1])
    assert joined.startswith(f'https://{{"Ref": "{_links_api(synthesized)}"}}.execute-api.') and "/l" not in joined
    stage = links_url["Fn::Join"][1][-1]["Ref"]
    assert synthesized.resources[stage]["Properties"]["StageName"] == "prod"
    assert synthesized.template.to_json()["Outputs"]["LinksBaseUrl"]["Value"] == links_url


def test_layers_fit_lambdas_unzipped_limit():
    from infra import build
    from infra.functions import RUNTIME_PYTHON_VERSION

    roots = (build.build_domain_layer(), build.build_dependency_layer(RUNTIME_PYTHON_VERSION), build.FUNCTIONS_DIR)
    assert build.unzipped_size(*roots) < build.MAX_UNZIPPED_BYTES
    deps = build.build_dependency_layer(RUNTIME_PYTHON_VERSION) / "python"
    assert not (deps / "boto3").exists() and not (deps / "botocore").exists()


# --- APIs ----------------------------------------------------------------------------------------------------------


def test_apis_log_access_trace_and_throttle(synthesized):
    # The REST APIs' stages (management, tracked links): access log, X-Ray, one stage-wide throttle
    stages = synthesized.of_type("AWS::ApiGateway::Stage")
    assert stages
    for stage in stages.values():
        props = stage["Properties"]
        assert props["TracingEnabled"] is True
        assert "DestinationArn" in props["AccessLogSetting"]
        (settings,) = props["MethodSettings"]
        assert settings["HttpMethod"] == "*" and settings["ResourcePath"] == "/*"
        assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0
    # The webhooks HTTP API's stage: a JSON access log with the request id, and the default route settings throttle
    # (HTTP API stages cannot be traced by X-Ray; the functions behind them are)
    (http_stage,) = synthesized.of_type("AWS::ApiGatewayV2::Stage").values()
    props = http_stage["Properties"]
    assert props["StageName"] == "$default" and props["AutoDeploy"] is True
    assert "DestinationArn" in props["AccessLogSettings"]
    assert json.loads(props["AccessLogSettings"]["Format"])["requestId"] == "$context.requestId"
    throttle = props["DefaultRouteSettings"]
    assert throttle["ThrottlingRateLimit"] > 0 and throttle["ThrottlingBurstLimit"] > 0
    assert "RouteSettings" not in props


def test_api_paths_are_greedy_proxies(synthesized):
    paths = {r["Properties"]["PathPart"] for r in synthesized.of_type("AWS::ApiGateway::Resource").values()}
    assert {"v1", "dashboard", "{proxy+}"} <= paths
    synthesized.template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {"HttpMethod": "ANY", "AuthorizationType": "NONE", "Integration": Match.object_like({"Type": "AWS_PROXY"})},
    )
    routes = [r["Properties"] for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()]
    assert {r["RouteKey"] for r in routes} == {
        "ANY /webhooks/twilio/{proxy+}", "ANY /webhooks/twilio/voice/{proxy+}", "ANY /webhooks/stripe/{proxy+}",
    }  # fmt: skip
    assert all(r["AuthorizationType"] == "NONE" for r in routes)
    for integration in synthesized.of_type("AWS::ApiGatewayV2::Integration").values():
        assert integration["Properties"]["IntegrationType"] == "AWS_PROXY"
        assert integration["Properties"]["PayloadFormatVersion"] == "2.0"  # what APIGatewayHttpResolver parses


# --- schedules and alarms ------------------------------------------------------------------------------------------


def test_reconciler_runs_on_its_catalog_rate(synthesized):
    from kizuna.catalog import SCHEDULES

    for spec in SCHEDULES.values():
        synthesized.template.has_resource_properties(
            "AWS::Scheduler::Schedule", {"ScheduleExpression": f"rate({spec.rate_minutes} minutes)"}
        )


def test_every_dead_letter_queue_and_function_is_alarmed(synthesized):
    alarms = [a["Properties"] for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()]
    dlq_alarms = [a for a in alarms if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"]
    error_alarms = [a for a in alarms if a.get("MetricName") == "Errors"]
    dead_letter_queues = {
        k for k, q in synthesized.of_type("AWS::SQS::Queue").items() if "RedrivePolicy" not in q["Properties"]
    }
    assert {a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in dlq_alarms} == dead_letter_queues
    assert len(error_alarms) == len(FUNCTIONS)
    for alarm in alarms:
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["AlarmActions"]
    synthesized.template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


# --- secrets -------------------------------------------------------------------------------------------------------

SECRET_LOOKING = [
    re.compile(r"\bAC[0-9a-f]{32}\b"),  # Twilio account SID
    re.compile(r"\b[0-9a-f]{32}\b"),  # Twilio auth token
    re.compile(r"\b(sk|rk|whsec)_(live|test)_\w+"),  # Stripe keys
    re.compile(r'"auth_token"\s*:\s*"[^"]+"'),
]


def test_template_holds_no_secret_values(synthesized):
    for secret in synthesized.of_type("AWS::SecretsManager::Secret").values():
        assert "SecretString" not in secret["Properties"]
        assert "SecretStringTemplate" not in secret["Properties"].get("GenerateSecretString", {})
        assert secret["Properties"]["KmsKeyId"]
    text = json.dumps(synthesized.template.to_json())
    for pattern in SECRET_LOOKING:
        assert not pattern.search(text), pattern.pattern


# --- cdk-nag and cfn-lint ------------------------------------------------------------------------------------------


def test_cdk_nag_aws_solutions_has_no_unacknowledged_findings(synthesized):
    report = AwsSolutionsChecks().validate_scope(synthesized.app)
    findings = [f"{v.severity} {v.rule_name}: {[r.construct_path for r in v.violating_resources]}"
                for v in report.violations]  # fmt: skip
    assert findings == []
    annotations = Annotations.from_stack(synthesized.stack)
    assert annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*")) == []
    assert annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*")) == []


def test_cfn_lint_finds_nothing(synthesized):
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), "--format", "parseable", str(synthesized.template_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
