"""The analytics resources: object notifications to the analytics queue, dashboard and link routes, the Glue table
with partition projection, an encrypting Athena workgroup with the named queries."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from infra.analytics import GLUE_DATABASE, NAMED_QUERIES
from kizuna.catalog import STREAMS

pytestmark = pytest.mark.infra


def test_new_event_objects_are_announced_on_the_analytics_queue(synthesized):
    (notification,) = synthesized.of_type("Custom::S3BucketNotifications").values()
    (queue_config,) = notification["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert queue_config["Events"] == ["s3:ObjectCreated:*"]
    assert queue_config["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "events/"}]
    queue_logical_id = queue_config["QueueArn"]["Fn::GetAtt"][0]
    queue = synthesized.resources[queue_logical_id]["Properties"]
    assert "RedrivePolicy" in queue and "KmsMasterKeyId" in queue
    # only the events bucket may send to it
    policies = [p["Properties"] for p in synthesized.of_type("AWS::SQS::QueuePolicy").values()
                if {"Ref": queue_logical_id} in p["Properties"]["Queues"]]  # fmt: skip
    statements = [s for p in policies for s in p["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert any(s["Principal"] == {"Service": "s3.amazonaws.com"} and "ArnLike" in s["Condition"] for s in statements)


def _proxy_handlers(synthesized, api_name: str) -> dict[str, str]:
    """`<part>/{proxy+}` ANY methods of the REST API named `api_name` → the handler of the function each invokes."""
    resources = synthesized.of_type("AWS::ApiGateway::Resource")
    (api,) = [k for k, v in synthesized.of_type("AWS::ApiGateway::RestApi").items()
              if v["Properties"]["Name"] == api_name]  # fmt: skip
    found = {}
    for method in synthesized.of_type("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        if props["RestApiId"] != {"Ref": api}:
            continue
        proxy = resources[props["ResourceId"]["Ref"]]["Properties"]
        parent = resources[proxy["ParentId"]["Ref"]]["Properties"]["PathPart"]
        (function,) = [
            p["Fn::GetAtt"][0]
            for p in props["Integration"]["Uri"]["Fn::Join"][1]
            if isinstance(p, dict) and "Fn::GetAtt" in p
        ]
        found[f"/{parent}/{proxy['PathPart']}"] = synthesized.resources[function]["Properties"]["Handler"]
    return found


def test_dashboard_and_link_routes_reach_the_web_function(synthesized):
    # the dashboard on the management REST API; tracked links, alone, on the links REST API (REST events both)
    assert _proxy_handlers(synthesized, "kizuna-management")["/dashboard/{proxy+}"] == "analytics_web/handler.handler"
    assert _proxy_handlers(synthesized, "kizuna-links") == {"/l/{proxy+}": "analytics_web/handler.handler"}
    # and no link route is left on the webhooks HTTP API
    routes = {r["Properties"]["RouteKey"] for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()}
    assert not [r for r in routes if r.startswith("ANY /l/")]


def test_glue_table_reads_the_stream_with_partition_projection(synthesized):
    synthesized.template.has_resource_properties(
        "AWS::Glue::Table",
        {
            "DatabaseName": GLUE_DATABASE,
            "TableInput": Match.object_like(
                {
                    "Name": "events",
                    "PartitionKeys": [{"Name": n, "Type": "string"} for n in ("app", "year", "month", "day")],
                    "Parameters": Match.object_like({"projection.enabled": "true", "projection.app.type": "injected"}),
                    "StorageDescriptor": Match.object_like(
                        {"SerdeInfo": Match.object_like({"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"})}
                    ),
                }
            ),
        },
    )
    # the projection's location template is the Firehose prefix with the same placeholders
    (table,) = synthesized.of_type("AWS::Glue::Table").values()
    template = table["Properties"]["TableInput"]["Parameters"]["storage.location.template"]
    assert STREAMS["events"].prefix.replace("{", "${") in str(template)


def test_athena_results_are_encrypted_and_the_named_queries_exist(synthesized):
    synthesized.template.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "WorkGroupConfiguration": Match.object_like(
                {
                    "EnforceWorkGroupConfiguration": True,
                    "ResultConfiguration": Match.object_like(
                        {"EncryptionConfiguration": Match.object_like({"EncryptionOption": "SSE_KMS"})}
                    ),
                }
            )
        },
    )
    names = {q["Properties"]["Name"] for q in synthesized.of_type("AWS::Athena::NamedQuery").values()}
    assert names == {f"kizuna-{n}" for n in NAMED_QUERIES}
    outputs = synthesized.template.to_json()["Outputs"]
    assert {"EventsBucket", "AthenaWorkGroup"} <= set(outputs)
