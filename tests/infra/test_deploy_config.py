"""Per-environment deploy configuration: CDK context is validated before synth, and errors name the bad key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from infra.config import ConfigError, DeployConfig

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]

PROD = {
    "stackName": "Kizuna-prod",
    "account": "111122223333",
    "region": "ap-northeast-1",
    "alarmEmails": ["ops@example.com"],
    "tags": {"cost-center": "crm"},
}
CONTEXT = {"kizuna:environments": {"prod": PROD, "dev": {"stackName": "Kizuna-dev"}}}


def test_no_kizuna_context_is_the_default_stack():
    config = DeployConfig.from_context({"@aws-cdk/core:explicitStackTags": True})
    assert (config.stack_name, config.alarm_emails, config.tags, config.account) == ("Kizuna", (), {}, None)


def test_env_selects_one_environment_of_cdk_json():
    config = DeployConfig.from_context({**CONTEXT, "env": "prod"})
    assert config.environment == "prod"
    assert config.stack_name == "Kizuna-prod"
    assert config.alarm_emails == ("ops@example.com",)
    assert config.tags == {"cost-center": "crm"}


def test_single_keys_override_the_environment_and_take_cli_strings():
    config = DeployConfig.from_context(
        {
            **CONTEXT,
            "env": "prod",
            "kizuna:stackName": "Kizuna-prod2",
            "kizuna:alarmEmails": "a@example.com, b@example.com",
            "kizuna:tags": '{"team": "crm"}',
        }
    )
    assert config.stack_name == "Kizuna-prod2"
    assert config.alarm_emails == ("a@example.com", "b@example.com")
    assert config.tags == {"team": "crm"}
    assert config.region == "ap-northeast-1"  # still the environment's


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"kizuna:stackname": "Typo"}, "kizuna:stackname"),
        ({**CONTEXT, "env": "staging"}, "env=staging: no such environment in kizuna:environments (dev, prod)"),
        ({"kizuna:stackName": "Kizuna_prod"}, "kizuna:stackName: String should match pattern"),
        ({"kizuna:stackName": "K" * 55}, "kizuna:stackName: String should have at most 54 characters"),
        ({"kizuna:account": "1234"}, "kizuna:account"),
        ({"kizuna:alarmEmails": "ops@example"}, "kizuna:alarmEmails: not an e-mail address: ops@example"),
        ({"kizuna:tags": "{not json"}, "kizuna:tags: not a JSON object"),
        ({"kizuna:tags": '{"aws:owner": "me"}'}, "kizuna:tags: tag key 'aws:owner'"),
        (
            {"kizuna:environments": {"prod": {**PROD, "alarmEmails": ["ops@"]}}, "env": "prod"},
            "kizuna:environments.prod.alarmEmails: not an e-mail address",
        ),
        (
            {"kizuna:environments": {"prod": {"alarmEmail": "ops@example.com"}}, "env": "prod"},
            "kizuna:environments.prod.alarmEmail: not a Kizuna setting",
        ),
    ],
    ids=str.split(
        "unknown-key unknown-env stack-chars stack-length account email tags-json tags-aws env-value env-key"
    ),
)
def test_a_bad_setting_fails_naming_its_context_key(context, named):
    with pytest.raises(ConfigError) as raised:
        DeployConfig.from_context(context)
    assert named in str(raised.value)


def test_an_environment_refuses_other_credentials_or_region():
    context = {**CONTEXT, "env": "prod"}
    with pytest.raises(ConfigError, match=r"kizuna:account \(env=prod\) is 111122223333, but .* 999999999999"):
        DeployConfig.from_context(context, {"CDK_DEFAULT_ACCOUNT": "999999999999"})
    with pytest.raises(ConfigError, match=r"kizuna:region \(env=prod\) is ap-northeast-1"):
        DeployConfig.from_context(context, {"CDK_DEFAULT_ACCOUNT": "111122223333", "CDK_DEFAULT_REGION": "us-east-1"})
    # the right ones, or none known (an offline synth)
    DeployConfig.from_context(context, {"CDK_DEFAULT_ACCOUNT": "111122223333", "CDK_DEFAULT_REGION": "ap-northeast-1"})
    DeployConfig.from_context(context, {})


def test_apply_tags_the_stack_and_subscribes_alarm_addresses():
    # Given a stack with an alarm topic (the real one is Observability's; a bare one keeps this test fast)
    stack = cdk.Stack(cdk.App(), "Kizuna-prod")
    topic = sns.Topic(stack, "Alarms")
    # When the prod configuration is applied
    DeployConfig.from_context({**CONTEXT, "env": "prod"}).apply(stack, alarm_topic=topic)
    # Then the address is subscribed and every resource carries the tags
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "ops@example.com", "TopicArn": {"Ref": Match.any_value()}},
    )
    template.has_resource_properties("AWS::SNS::Topic", {"Tags": [{"Key": "cost-center", "Value": "crm"}]})


def test_cdk_synth_stops_with_the_message_before_building_anything():
    # The CDK CLI hands the app its context in CDK_CONTEXT_JSON.
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"kizuna:alarmEmail": "ops@example.com"})}
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("Kizuna configuration (CDK context): unknown context key kizuna:alarmEmail;")
