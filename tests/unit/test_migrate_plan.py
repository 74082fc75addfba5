"""`kizuna migrate plan` on CloudFormation templates (no sockets): the fixture stack with one resource of each type
Kizuna moves plus a push channel and an in-app template; a CDK-synthesized JSON template; references between
Pinpoint resources resolved; YAML short tags; and the requests it plans validating against botocore's model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from kizuna import cli
from kizuna.migrate.apply_steps import same
from kizuna.migrate.journeys import with_journeys
from kizuna.migrate.plan import Plan, build_plan
from kizuna.migrate.resolve import Resolver
from kizuna.migrate.template import TemplateError, load_template, loads, plain, yaml_loads

FIXTURE = Path(__file__).parents[1] / "fixtures" / "pinpoint_stack.yaml"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
GIVEN = {
    "AWS::AccountId": "123456789012",
    "EventsStream.Arn": "arn:aws:kinesis:us-east-1:123456789012:stream/shop-events",
    "EventsRole.Arn": "arn:aws:iam::123456789012:role/shop-events",
}


def plan_of(template: dict[str, Any], parameters: dict[str, str] | None = None, outputs: Any = None) -> Plan:
    resolver = Resolver(template, "shop-stack", "us-east-1", parameters or {}, outputs)
    return build_plan(template, "template", resolver, NOW)


def by_id(plan: Plan) -> dict[str, Any]:
    return {item.logical_id: item for item in plan.items}


def test_yaml_short_tags_are_read_as_the_long_form_functions():
    template = load_template(FIXTURE)

    campaign = template["Resources"]["Welcome"]["Properties"]
    assert campaign["SegmentId"] == {"Fn::GetAtt": ["Regulars", "SegmentId"]}
    assert campaign["ApplicationId"] == {"Ref": "App"}
    assert campaign["Priority"] == {"Fn::If": ["IsShop", 2, 3]}
    assert template["Resources"]["Newsletter"]["Properties"]["TemplateName"] == {
        "Fn::Join": ["-", [{"Ref": "ProjectName"}, "newsletter"]]
    }
    assert template["Resources"]["Settings"]["Properties"]["QuietTime"] == {"Start": "22:00", "End": "07:00"}
    # Without cfn-lint, PyYAML with the same short tags reads the file the same way.
    assert plain(yaml_loads(FIXTURE.read_text(encoding="utf-8"))) == template


def test_the_fixture_plan_names_each_resources_call_and_status_in_dependency_order():
    plan = plan_of(load_template(FIXTURE), GIVEN)
    items = by_id(plan)

    assert {lid: (i.call, i.shown_status) for lid, i in items.items()} == {
        "App": ("CreateApp", "move"),
        "Settings": ("UpdateApplicationSettings", "move"),
        "Sms": ("UpdateSmsChannel", "decide"),
        "Voice": ("UpdateVoiceChannel", "decide"),
        "Email": ("UpdateEmailChannel", "decide"),
        "Events": ("PutEventStream", "decide"),
        "WelcomeSms": ("CreateSmsTemplate", "move"),
        "Newsletter": ("CreateEmailTemplate", "move"),
        "Regulars": ("CreateSegment", "move"),
        "Welcome": ("CreateCampaign", "move"),
        "Push": (None, "cannot"),
        "Banner": (None, "cannot"),
        "EmailConfigurationSet": (None, "external"),
    }
    order = [i.logical_id for i in plan.items]
    assert order[0] == "App"
    assert order.index("Welcome") > max(order.index("Regulars"), order.index("WelcomeSms"))
    assert plan.other_resources == 2  # the Kinesis stream and the IAM role stay with CloudFormation
    assert plan.exit_code == 2
    assert "push" in items["Push"].blockers[0] and "in-app" in items["Banner"].blockers[0]


def test_decisions_name_what_a_human_has_to_do():
    items = by_id(plan_of(load_template(FIXTURE), GIVEN))

    assert "Twilio" in items["Sms"].decisions[0] and "SenderId SHOP" in items["Sms"].decisions[0]
    assert (
        "identity arn:aws:ses:us-east-1:123456789012:identity/kizuna.local must be verified"
        in (items["Email"].decisions[0])
    )
    assert "kizuna-email" in items["Email"].decisions[0]  # the PinpointEmail configuration set's Ref is its Name
    assert "role must trust Kizuna" in items["Events"].decisions[0]
    assert "AWS::SES::ConfigurationSet" in items["EmailConfigurationSet"].decisions[0]


def test_values_only_a_human_knows_hold_their_resources_back():
    items = by_id(plan_of(load_template(FIXTURE)))

    assert items["Events"].status == "held"
    assert items["Events"].holds == ["needs EventsRole.Arn, EventsStream.Arn: pass --parameter NAME=VALUE"]
    assert items["Email"].status == "held" and "AWS::AccountId" in items["Email"].holds[0]
    assert items["Welcome"].status == "move"


def test_references_between_pinpoint_resources_are_resolved():
    template = load_template(FIXTURE)
    items = by_id(plan_of(template, GIVEN))
    campaign = items["Welcome"]

    assert campaign.app == "<Ref App>" and campaign.depends_on == ["App", "Regulars", "WelcomeSms"]
    assert campaign.request == {
        "Name": "shop welcome",
        "Description": "Welcome everyone imported from Pinpoint",
        "SegmentId": "<GetAtt Regulars.SegmentId>",
        "TemplateConfiguration": {"SMSTemplate": {"Name": "shop-welcome"}},  # a template's Ref is its name
        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE", "Timezone": "UTC+09"},  # TimeZone → Timezone
        "Limits": {"Daily": 1},
        "Priority": 2,  # Fn::If on the IsShop condition
    }
    assert items["Newsletter"].name == "shop-newsletter" and items["WelcomeSms"].name == "shop-welcome"
    assert items["Email"].request["FromAddress"] == "news@kizuna.local"  # a parameter's Default

    # Once apply has created them, the same references are the ids Kizuna gave them.
    ids = {("App", None): "app-1", ("Regulars", "SegmentId"): "seg-1"}
    resolved = by_id(plan_of(template, GIVEN, lambda lid, attr: ids.get((lid, attr))))["Welcome"]
    assert (resolved.app, resolved.request["SegmentId"]) == ("app-1", "seg-1")


def test_every_planned_request_is_valid_for_botocores_pinpoint_model():
    model = botocore.session.get_session().get_service_model("pinpoint")
    for item in plan_of(load_template(FIXTURE), GIVEN).items:
        if item.call is None:
            continue
        shape = model.operation_model(item.call).input_shape
        params = {item.member: item.request}
        if "ApplicationId" in shape.members:
            params["ApplicationId"] = item.app
        if "TemplateName" in shape.members:
            params["TemplateName"] = item.name
        report = ParamValidator().validate(params, shape)
        assert not report.has_errors(), (item.logical_id, report.generate_report())


CDK_TEMPLATE = {
    "Parameters": {
        "BootstrapVersion": {
            "Type": "AWS::SSM::Parameter::Value<String>",
            "Default": "/cdk-bootstrap/hnb659fds/version",
        }
    },
    "Conditions": {"CDKMetadataAvailable": {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}},
    "Resources": {
        "ShopProject5F3A1B2C": {
            "Type": "AWS::Pinpoint::App",
            "Properties": {"Name": "shop", "Tags": {"env": "prod"}},
            "Metadata": {"aws:cdk:path": "ShopStack/ShopProject"},
        },
        "AllSms0D4E6F21": {
            "Type": "AWS::Pinpoint::Segment",
            "Properties": {
                "ApplicationId": {"Ref": "ShopProject5F3A1B2C"},
                "Name": "all-sms",
                "Dimensions": {"Demographic": {"Channel": {"DimensionType": "INCLUSIVE", "Values": ["SMS"]}}},
            },
        },
        "GoldMembers9A8B7C6D": {
            "Type": "AWS::Pinpoint::Segment",
            "Properties": {
                "ApplicationId": {"Ref": "ShopProject5F3A1B2C"},
                "Name": "gold",
                "SegmentGroups": {
                    "Include": "ALL",
                    "Groups": [
                        {
                            "Type": "ALL",
                            "SourceType": "ANY",
                            "SourceSegments": [{"Id": {"Fn::GetAtt": ["AllSms0D4E6F21", "SegmentId"]}}],
                            # a Json property given as a string, as CDK passes what it was handed
                            "Dimensions": [{"Attributes": json.dumps({"Tier": {"Values": ["gold"]}})}],
                        }
                    ],
                },
            },
        },
        "SaleCampaign1234ABCD": {
            "Type": "AWS::Pinpoint::Campaign",
            "Properties": {
                "ApplicationId": {"Ref": "ShopProject5F3A1B2C"},
                "Name": {"Fn::Join": ["", [{"Ref": "AWS::StackName"}, "-sale"]]},
                "SegmentId": {"Fn::GetAtt": ["GoldMembers9A8B7C6D", "SegmentId"]},
                "MessageConfiguration": {"SMSMessage": {"Body": "全品10%オフ", "MessageType": "PROMOTIONAL"}},
                "AdditionalTreatments": [
                    {
                        "SizePercent": "40",
                        "MessageConfiguration": {"SMSMessage": {"Body": "送料無料"}},
                        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE", "TimeZone": "UTC+09"},
                    }
                ],
                "HoldoutPercent": 10,
                "IsPaused": "false",
                "CampaignHook": {"Mode": "FILTER", "WebUrl": "https://hooks.example.com/pinpoint"},
                "Schedule": {
                    "StartTime": "2026-12-10T09:00:00",
                    "Frequency": "WEEKLY",
                    "TimeZone": "Asia/Tokyo",
                    "EventFilter": {"FilterType": "ENDPOINT", "Dimensions": {"Metrics": "{}"}},
                },
            },
            "DependsOn": ["AllSms0D4E6F21"],
        },
        "CDKMetadata": {
            "Type": "AWS::CDK::Metadata",
            "Properties": {"Analytics": "v2:deflate64:H4sIAAAAAAAA"},
            "Condition": "CDKMetadataAvailable",
        },
    },
    "Rules": {"CheckBootstrapVersion": {"Assertions": []}},
}


def test_a_cdk_synthesized_json_template_plans_through_the_command(tmp_path, capsys):
    path = tmp_path / "ShopStack.template.json"
    path.write_text(json.dumps(CDK_TEMPLATE), encoding="utf-8")

    code = cli.main(["migrate", "plan", str(path), "--json"])
    plan = json.loads(capsys.readouterr().out)
    items = {r["logical_id"]: r for r in plan["resources"]}

    assert code == 0 and plan["exit_code"] == 0 and plan["stack_name"] == "ShopStack"
    assert [r["logical_id"] for r in plan["resources"]] == [
        "ShopProject5F3A1B2C", "AllSms0D4E6F21", "GoldMembers9A8B7C6D", "SaleCampaign1234ABCD",
    ]  # fmt: skip
    gold = items["GoldMembers9A8B7C6D"]["request"]["SegmentGroups"]["Groups"][0]
    assert gold["SourceSegments"] == [{"Id": "<GetAtt AllSms0D4E6F21.SegmentId>"}]
    assert gold["Dimensions"][0]["Attributes"] == {"Tier": {"Values": ["gold"]}}
    sale = items["SaleCampaign1234ABCD"]
    assert sale["name"] == "ShopStack-sale"
    assert sale["depends_on"] == ["AllSms0D4E6F21", "GoldMembers9A8B7C6D", "ShopProject5F3A1B2C"]
    request = sale["request"]
    assert request["Hook"] == {"Mode": "FILTER", "WebUrl": "https://hooks.example.com/pinpoint"}
    assert "CampaignHook" not in request and request["IsPaused"] is False
    assert request["Schedule"]["Timezone"] == "Asia/Tokyo" and request["Schedule"]["EventFilter"]["Dimensions"] == {
        "Metrics": {}
    }
    assert request["AdditionalTreatments"][0]["SizePercent"] == 40
    assert request["AdditionalTreatments"][0]["Schedule"]["Timezone"] == "UTC+09"
    assert sale["status"] == "decide"
    assert any("does not call it" in d for d in sale["decisions"])
    assert any("AdditionalTreatments[0].Schedule is ignored" in d for d in sale["decisions"])


def test_the_table_says_what_cannot_move_and_exits_2(capsys):
    code = cli.main(["migrate", "plan", str(FIXTURE)])
    out = capsys.readouterr().out

    assert code == 2
    assert "Cannot move:" in out and "Held until given" in out
    cannot = out.split("Cannot move:")[1]
    assert "Push" in cannot and "Banner" in cannot
    assert "Welcome  " in out and "CreateCampaign" in out


def campaign_template(**properties: Any) -> dict[str, Any]:
    base = {
        "ApplicationId": {"Ref": "App"},
        "Name": "c",
        "SegmentId": {"Fn::GetAtt": ["Seg", "SegmentId"]},
        "MessageConfiguration": {"SMSMessage": {"Body": "x"}},
        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
    }
    return {
        "Resources": {
            "App": {"Type": "AWS::Pinpoint::App", "Properties": {"Name": "a"}},
            "Seg": {"Type": "AWS::Pinpoint::Segment", "Properties": {"ApplicationId": {"Ref": "App"}, "Name": "s"}},
            "Camp": {"Type": "AWS::Pinpoint::Campaign", "Properties": base | properties},
        }
    }


@pytest.mark.parametrize(
    ("properties", "status", "says"),
    [
        ({"MessageConfiguration": {"APNSMessage": {"Body": "x"}}}, "cannot", "MessageConfiguration.APNSMessage"),
        ({"TemplateConfiguration": {"PushTemplate": {"Name": "p"}}}, "cannot", "TemplateConfiguration.PushTemplate"),
        ({"CustomDeliveryConfiguration": {"DeliveryUri": "arn:aws:lambda:us-east-1:1:function:f"}}, "cannot", "URL"),
        ({"CustomDeliveryConfiguration": {"DeliveryUri": "https://hooks.example.com/p"}}, "cannot", "CustomMessage"),
        ({"HoldoutPercent": 120}, "cannot", "HoldoutPercent"),
        ({"Schedule": {"StartTime": "2026-01-01T00:00:00Z", "Frequency": "ONCE"}}, "held", "ran in Pinpoint"),
        ({"Schedule": {"StartTime": "2026-01-01T00:00:00Z", "Frequency": "DAILY"}}, "held", "next run"),
        ({"Schedule": {"StartTime": "IMMEDIATE", "QuietTime": {"Start": 1260, "End": "07:00"}}}, "cannot", "quote"),
    ],
)
def test_campaigns_kizuna_cannot_run_as_written_are_caught_before_apply(properties, status, says):
    camp = by_id(plan_of(campaign_template(**properties)))["Camp"]

    assert camp.status == status
    assert says in " ".join(camp.blockers + camp.holds)


def test_a_segment_kizuna_refuses_cannot_move_and_holds_what_depends_on_it():
    template = campaign_template()
    template["Resources"]["Seg"]["Properties"]["Dimensions"] = {
        "Location": {"GPSPoint": {"Coordinates": {"Latitude": 35.6, "Longitude": 139.7}, "RangeInKilometers": 5}}
    }
    items = by_id(plan_of(template))

    assert items["Seg"].status == "cannot" and "GPSPoint" in items["Seg"].blockers[0]
    assert items["Camp"].status == "held" and items["Camp"].holds == ["depends on Seg, which cannot move"]


def test_a_resource_whose_condition_is_false_is_omitted():
    template = campaign_template()
    template["Conditions"] = {"Never": {"Fn::Equals": ["a", "b"]}}
    template["Resources"]["Camp"]["Condition"] = "Never"

    camp = by_id(plan_of(template))["Camp"]

    assert camp.status == "omitted" and plan_of(template).exit_code == 0


def test_json_properties_and_strings_are_coerced_to_the_api_shapes():
    template = campaign_template(Limits={"Daily": "2"}, IsPaused="true", Tags='{"team": "growth"}')
    template["Resources"]["Sms"] = {
        "Type": "AWS::Pinpoint::SMSChannel",
        "Properties": {"ApplicationId": {"Ref": "App"}, "Enabled": "true", "ShortCode": 12345},
    }
    items = by_id(plan_of(template))

    assert items["Camp"].request["Limits"] == {"Daily": 2} and items["Camp"].request["IsPaused"] is True
    assert items["Camp"].request["tags"] == {"team": "growth"}
    assert items["Sms"].request == {"Enabled": True, "ShortCode": "12345"}


def test_kizunas_filled_in_defaults_compare_equal_to_what_a_template_leaves_out():
    assert same({"Name": "c", "Limits": {"Daily": 1}}, {"Name": "c", "Limits": {"Daily": 1}, "HoldoutPercent": 0})
    assert same({"IsPaused": False}, {})
    assert not same({"Limits": {"Daily": 1}}, {"Limits": {"Daily": 2}})
    assert not same({}, {"IsPaused": True})


def test_an_unreadable_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("Resources: [1\n", encoding="utf-8")

    with pytest.raises(SystemExit, match="not a readable template"):
        cli.main(["migrate", "plan", str(bad)])
    assert loads('{"Resources": {}}', yaml=False) == {"Resources": {}}


# -- journeys (--journey FILE) ----------------------------------------------------------------------------------


def journey_file(tmp_path: Path, document: Any, name: str = "welcome-journey.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False) if not isinstance(document, str) else document)
    return path


JOURNEY = {
    "Name": "ようこそ",
    "State": "ACTIVE",
    "StartActivity": "hello",
    "StartCondition": {"SegmentStartCondition": {"SegmentId": "Seg"}},
    "Activities": {"hello": {"SMS": {"TemplateName": "welcome"}}},
    "Schedule": {"EndTime": "2027-01-01T00:00:00Z"},
}


def test_a_journey_file_joins_the_plan_after_what_it_refers_to_with_the_segment_by_logical_id(tmp_path):
    template = with_journeys(campaign_template(), [journey_file(tmp_path, {"JourneyResponse": {**JOURNEY, "Id": "x"}})])

    plan = plan_of(template, outputs=lambda lid, attr: {"App": "app-1", "Seg": "seg-9"}.get(lid))
    journey = by_id(plan)["WelcomeJourney"]

    assert [i.logical_id for i in plan.items][-1] == "WelcomeJourney"
    assert (journey.status, journey.call, journey.name) == ("move", "CreateJourney", "ようこそ")
    assert set(journey.depends_on) == {"App", "Seg"}
    assert journey.request["StartCondition"]["SegmentStartCondition"]["SegmentId"] == "seg-9"
    assert "Id" not in journey.request and journey.app == "app-1"


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ("{not json", "not JSON"),
        ({"Name": "j"}, "with Activities"),
    ],
)
def test_unreadable_journey_files_are_named(tmp_path, document, says):
    with pytest.raises(TemplateError, match=says):
        with_journeys(campaign_template(), [journey_file(tmp_path, document)])


def test_a_journey_needs_its_app_named_when_the_template_has_two(tmp_path):
    template = campaign_template()
    template["Resources"]["Other"] = {"Type": "AWS::Pinpoint::App", "Properties": {"Name": "b"}}

    with pytest.raises(TemplateError, match="say which app"):
        with_journeys(template, [journey_file(tmp_path, JOURNEY)])
    named = with_journeys(template, [journey_file(tmp_path, {**JOURNEY, "ApplicationId": "Other"})])
    assert named["Resources"]["WelcomeJourney"]["Properties"]["ApplicationId"] == {"Ref": "Other"}


def test_a_journey_kizuna_cannot_run_cannot_move(tmp_path):
    push = {**JOURNEY, "Activities": {"hello": {"PUSH": {"TemplateName": "p"}}}}
    template = with_journeys(campaign_template(), [journey_file(tmp_path, push)])

    journey = by_id(plan_of(template))["WelcomeJourney"]

    assert journey.status == "cannot" and "hello" in " ".join(journey.blockers)
