"""`cdk diff` of an upgrade shows no replacement of stateful resources.

CloudFormation replaces a resource when its logical id changes (a construct renamed or moved) or when a property
that cannot be updated changes (a table's key schema, a secret's name). Replacing a stateful resource means a new,
empty one: the retained old one is orphaned with the data, the others are deleted with it. These tests pin what an
upgrade must keep, against `stateful_logical_ids.json`, generated once from the template and checked in.

Decisions, per resource type (`STATEFUL`): which ones must be retained when the stack is deleted or a resource is
replaced, and why the others are not. Logical ids and replacement-forcing properties are pinned for all of them.

After a deliberate change (a new table, a queue that is really meant to go), regenerate the list and commit it:
    KIZUNA_UPDATE_STATEFUL_IDS=1 .venv/bin/python -m pytest -q tests/infra/test_upgrade_safety.py -p no:cacheprovider
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import aws_cdk as cdk
import pytest

from kizuna.catalog import TABLES

pytestmark = pytest.mark.infra

SNAPSHOT = Path(__file__).with_name("stateful_logical_ids.json")
UPDATE_VAR = "KIZUNA_UPDATE_STATEFUL_IDS"

RETAIN = "Retain"
# type → (retained?, what is lost if it is replaced or deleted / why it is not retained)
STATEFUL: dict[str, tuple[bool | None, str]] = {
    # None: decided per table by catalog.Table.retain (the limits table holds rate buckets that expire in days).
    "AWS::DynamoDB::Table": (None, "apps, endpoints, delivery records, access keys, consultations, analytics"),
    "AWS::S3::Bucket": (True, "the event stream (400 days of raw events) and its access logs"),
    "AWS::KMS::Key": (True, "the key all of the data is encrypted with: without it, retained data is unreadable"),
    # Not retained: the value is a copy of credentials kept at Twilio/Stripe, and a retained secret keeps its fixed
    # name (<stack>/twilio), which would make the next deploy of a stack with that name fail.
    "AWS::SecretsManager::Secret": (False, "the credentials the operator put (they must be put again)"),
    # Not retained: after a replacement consumers read the new queue, so messages left in a retained old one would
    # never be processed; on teardown, work in flight is meant to go. The ids still matter: a renamed send queue
    # drops accepted messages, a renamed DLQ the failures waiting to be investigated.
    "AWS::SQS::Queue": (False, "messages in flight and dead letters"),
    # Not retained: schedules in a deleted group are deleted with it, which is what a teardown wants.
    "AWS::Scheduler::ScheduleGroup": (False, "every scheduled campaign run (schedules live in the group)"),
    # Not retained: alarms need a topic of this stack; subscriptions added by hand are lost on replacement.
    "AWS::SNS::Topic": (False, "alarm subscriptions added outside the stack"),
    # Not retained: a teardown means the URLs go. A replaced REST API gets a new id, so a new URL: every client's
    # endpoint_url (management) or every tracked link already sent in SMS and WhatsApp (links, up to 180 days old).
    "AWS::ApiGateway::RestApi": (False, "its URL: clients' endpoint_url, the links in messages already sent"),
}
# Log groups are left out: operational logs (3 months), and the function log groups are deliberately destroyed with
# the stack; a renamed one only starts a new log group.

# Properties whose change makes CloudFormation replace the resource (those this stack could plausibly set).
REPLACED_ON_CHANGE: dict[str, tuple[str, ...]] = {
    "AWS::DynamoDB::Table": ("TableName", "LocalSecondaryIndexes"),  # KeySchema: pinned as key_schema
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::KMS::Key": ("KeySpec", "KeyUsage", "MultiRegion"),
    "AWS::SecretsManager::Secret": ("Name",),
    "AWS::SQS::Queue": ("QueueName", "FifoQueue"),
    "AWS::Scheduler::ScheduleGroup": ("Name",),
    "AWS::SNS::Topic": ("TopicName", "FifoTopic"),
    "AWS::ApiGateway::RestApi": (),  # its id is what must stay (Name and the rest are updated in place)
}

REGENERATE = f"regenerate the list ({UPDATE_VAR}=1, see this module's docstring)"


def _keep_the_id(old_id: str) -> str:
    return (
        "CloudFormation would create new, empty resources and delete (or, if retained, orphan) the old ones with "
        "their data. If you renamed or moved a construct, keep its old logical id on the new construct's resource: "
        f'`construct.node.default_child.override_logical_id("{old_id}")` (an L1 resource: '
        f'`resource.override_logical_id("{old_id}")`). If the change is deliberate, {REGENERATE} and describe how '
        "existing deployments migrate."
    )


def _paths(stack: cdk.Stack) -> dict[str, str]:
    """logical id (after any override) → construct path inside the stack, for every CloudFormation resource."""
    return {
        stack.resolve(c.logical_id): c.node.path.removeprefix(f"{stack.node.path}/")
        for c in stack.node.find_all()
        if isinstance(c, cdk.CfnResource)
    }


def _key_schema(props: dict) -> list[str]:
    """["pk:S:HASH", "sk:S:RANGE"]: each key attribute with its type, as CloudFormation declares them."""
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    return [f"{k['AttributeName']}:{types[k['AttributeName']]}:{k['KeyType']}" for k in props["KeySchema"]]


def _catalog_key_schema(key: str) -> list[str]:
    # infra/storage.py declares every catalog key attribute as a string.
    spec = TABLES[key]
    return [f"{spec.partition_key}:S:HASH"] + ([f"{spec.sort_key}:S:RANGE"] if spec.sort_key else [])


def _table_keys(synthesized) -> dict[str, str]:
    """logical id of each catalog table → its catalog key."""
    storage = synthesized.stack.node.find_child("Storage")
    return {synthesized.stack.resolve(t.node.default_child.logical_id): k for k, t in storage.tables.items()}


def _current(synthesized) -> dict[str, dict]:
    paths = _paths(synthesized.stack)
    current = {}
    for logical_id, resource in sorted(synthesized.resources.items()):
        kind = resource["Type"]
        if kind not in STATEFUL:
            continue
        props = resource.get("Properties", {})
        entry: dict = {"type": kind, "path": paths.get(logical_id, "")}
        pinned = {name: props[name] for name in REPLACED_ON_CHANGE[kind] if name in props}
        if pinned:
            entry["replaced_on_change"] = pinned
        if kind == "AWS::DynamoDB::Table":
            entry["key_schema"] = _key_schema(props)
        current[logical_id] = entry
    return current


def _snapshot() -> dict[str, dict]:
    return json.loads(SNAPSHOT.read_text())["resources"]


@pytest.fixture(scope="module")
def current(synthesized) -> dict[str, dict]:
    resources = _current(synthesized)
    if os.environ.get(UPDATE_VAR):
        note = (
            "Stateful resources of the synthesized Kizuna stack, by logical id. Checked by "
            "tests/infra/test_upgrade_safety.py: a changed id or key schema means CloudFormation replaces the "
            "resource. Regenerate only for a deliberate change: see that module's docstring."
        )
        SNAPSHOT.write_text(json.dumps({"_note": note, "resources": resources}, indent=2, ensure_ascii=False) + "\n")
    return resources


# --- (a) what survives a delete or a replacement -------------------------------------------------------------------


def test_every_stateful_resource_type_is_present(current):
    # A type that vanished from the template (or was never there) would make the checks below vacuous.
    assert {entry["type"] for entry in current.values()} == set(STATEFUL)


@pytest.mark.parametrize("kind", [k for k, (retained, _) in STATEFUL.items() if retained], ids=str)
def test_retained_types_are_kept_on_delete_and_on_replacement(synthesized, kind):
    for logical_id, resource in synthesized.of_type(kind).items():
        policies = (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy"))
        assert policies == (RETAIN, RETAIN), (
            f"{logical_id} ({kind}) must have DeletionPolicy and UpdateReplacePolicy Retain, has {policies}: a stack "
            f"delete or a replacement would lose {STATEFUL[kind][1]}. Use removal_policy=RemovalPolicy.RETAIN."
        )


def test_tables_are_retained_exactly_where_the_catalog_says(synthesized):
    keys = _table_keys(synthesized)
    tables = synthesized.of_type("AWS::DynamoDB::Table")
    assert set(tables) == set(keys), "every DynamoDB table comes from catalog.TABLES"
    for logical_id, resource in tables.items():
        spec = TABLES[keys[logical_id]]
        policies = (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy"))
        protected = resource["Properties"].get("DeletionProtectionEnabled", False)
        if spec.retain:
            assert policies == (RETAIN, RETAIN) and protected, (
                f"table {spec.key} ({logical_id}) holds data that must outlive the stack: Retain both policies "
                f"and enable deletion protection (it has {policies}, protection {protected})"
            )
        else:
            # Deliberate (catalog.Table.retain=False, with the reason next to it in the catalog).
            assert RETAIN not in policies and not protected, (
                f"table {spec.key} is marked retain=False in the catalog, but the template retains it"
            )


def test_only_the_limits_table_is_deliberately_not_retained():
    # The one table whose loss costs nothing: rate buckets and daily spend counters, TTL'd within days.
    # Marking another table retain=False is a decision about customer data; make it here, on purpose.
    assert sorted(k for k, t in TABLES.items() if not t.retain) == ["limits"]


# --- (b) logical ids -----------------------------------------------------------------------------------------------


def test_stateful_logical_ids_are_unchanged(current):
    expected = _snapshot()
    missing = sorted(set(expected) - set(current))
    added = sorted(set(current) - set(expected))
    retyped = sorted(i for i in set(expected) & set(current) if expected[i]["type"] != current[i]["type"])

    def describe(ids: list[str], entries: dict[str, dict]) -> str:
        return ", ".join(f"{i} ({entries[i]['type']} at {entries[i]['path']})" for i in ids) or "none"

    problems = []
    if missing or retyped:
        problems.append(f"gone from the template: {describe(missing + retyped, expected)}")
    if added:
        problems.append(f"new in the template: {describe(added, current)}")
    assert not problems, (
        f"Stateful logical ids differ from {SNAPSHOT.name} — {'; '.join(problems)}. "
        + (f"A renamed id is a replacement: {_keep_the_id((missing + retyped)[0])} " if missing or retyped else "")
        + f"A really new stateful resource: {REGENERATE}, so that its id is pinned from now on."
    )


def test_properties_that_force_replacement_are_unchanged(current):
    expected = _snapshot()
    changed = {
        logical_id: (expected[logical_id].get("replaced_on_change"), entry.get("replaced_on_change"))
        for logical_id, entry in current.items()
        if logical_id in expected and expected[logical_id].get("replaced_on_change") != entry.get("replaced_on_change")
    }
    assert not changed, (
        f"Changing these properties makes CloudFormation replace the resource (was, now): {changed}. Keep them, or "
        f"create a new resource next to the old one, migrate, and {REGENERATE}."
    )


# Tracked links sent before the webhooks moved to an HTTP API point at the webhooks REST API's stage URL
# (https://<id>.execute-api.<region>.amazonaws.com/prod/l/<code>). infra/links_api.py keeps that API: these are the
# logical ids it had then (construct path WebhooksApi/Api/...). A changed RestApi id is a new URL; a changed stage or
# /l resource id makes CloudFormation create a second `prod` stage or `l` resource on the same API, which fails.
LINKS_API_IDS = {
    "WebhooksApiBD6A85B4": ("AWS::ApiGateway::RestApi", None),
    "WebhooksApiDeploymentStageprod7CF63B93": ("AWS::ApiGateway::Stage", "prod"),
    "WebhooksApil4A2D0FFF": ("AWS::ApiGateway::Resource", "l"),
    "WebhooksApilproxyD75CD15E": ("AWS::ApiGateway::Resource", "{proxy+}"),
    "WebhooksApilproxyANY7974FDA0": ("AWS::ApiGateway::Method", "ANY"),
}


def test_tracked_links_stay_on_the_rest_api_they_were_sent_with(synthesized):
    for logical_id, (kind, name) in LINKS_API_IDS.items():
        resource = synthesized.resources.get(logical_id)
        assert resource is not None and resource["Type"] == kind, (
            f"{logical_id} ({kind}) is gone: links in messages already sent use its URL. {_keep_the_id(logical_id)}"
        )
        props = resource["Properties"]
        assert name in (None, props.get("StageName"), props.get("PathPart"), props.get("HttpMethod"))
    # and the links' base (LinksBaseUrl, what the api and jobs functions write links under) is that API's stage URL
    url = synthesized.template.to_json()["Outputs"]["LinksBaseUrl"]["Value"]
    refs = [p["Ref"] for p in url["Fn::Join"][1] if isinstance(p, dict) and "Ref" in p]
    assert refs == ["WebhooksApiBD6A85B4", "AWS::Region", "AWS::URLSuffix", "WebhooksApiDeploymentStageprod7CF63B93"]


# --- (c) key schemas -----------------------------------------------------------------------------------------------


def test_table_key_schemas_equal_the_catalog(synthesized):
    keys = _table_keys(synthesized)
    for logical_id, resource in synthesized.of_type("AWS::DynamoDB::Table").items():
        key = keys[logical_id]
        assert _key_schema(resource["Properties"]) == _catalog_key_schema(key), (
            f"table {key} ({logical_id}) is not keyed as catalog.TABLES[{key!r}] says"
        )


def test_table_key_schemas_are_unchanged_since_deployed(current):
    expected = _snapshot()
    changed = {
        logical_id: (expected[logical_id]["key_schema"], entry["key_schema"])
        for logical_id, entry in current.items()
        if entry["type"] == "AWS::DynamoDB::Table"
        and logical_id in expected
        and expected[logical_id].get("key_schema") != entry["key_schema"]
    }
    assert not changed, (
        f"Table key schemas changed (was, now): {changed}. A table's partition/sort key cannot be updated: "
        "CloudFormation replaces the table with a new, empty one (the retained old one is orphaned with every item). "
        "Keep the key and add a GSI, or add a new catalog table and migrate the items into it."
    )
