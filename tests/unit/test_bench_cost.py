"""The cost model's arithmetic (bench/cost_model.py, bench/cost.py): given measured figures, the dollars per 1M units
are the counts × the published prices, computed here again by hand from the prices as published."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import cost  # noqa: E402
import cost_model as cm  # noqa: E402
from report import Section, read_figures, write_figures  # noqa: E402

GIB = 1024**3
LAMBDA_GB_S = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1e6
REST_REQUEST = 3.50 / 1e6
HTTP_API_REQUEST = 1.00 / 1e6
WRU, RRU = 0.625 / 1e6, 0.125 / 1e6


def _line(lines: list[cm.Line], service: str, words: str) -> cm.Line:
    (found,) = [line for line in lines if line.service == service and words in line.item]
    return found


def test_a_status_callback_costs_its_http_api_request_lambda_request_and_duration() -> None:
    # Given three callbacks per message, each 10 ms of CPU, one UpdateItem and one PutRecordBatch
    f = {
        "fn.twilio_webhook.invocations": 3.0,
        "fn.twilio_webhook.cpu_s": 0.030,
        "fn.twilio_webhook.calls.dynamodb.UpdateItem": 3.0,
        "fn.twilio_webhook.calls.firehose.PutRecordBatch": 3.0,
    }
    # When priced
    lines = cm.sms_lines(f, {})
    # Then: 3 HTTP API requests at $1.00/M (the webhooks API; infra/webhooks_api.py), 3 Lambda requests at $0.20/M,
    # and GB-s at 256 MB
    assert _line(lines, "API Gateway", "webhooks").usd_per_million == pytest.approx(3 * HTTP_API_REQUEST * 1e6)
    assert _line(lines, "Lambda", "requests").usd_per_million == pytest.approx(3 * 0.20)
    seconds = 0.030 / (256 / 1769) + 3 * 0.008 + 3 * 0.020
    expected = seconds * 256 / 1024 * LAMBDA_GB_S * 1e6
    assert _line(lines, "Lambda", "duration: twilio_webhook").usd_per_million == pytest.approx(expected)
    # and X-Ray traces 5% of the requests at $5 per million traces
    assert _line(lines, "X-Ray", "traces").usd_per_million == pytest.approx(3 * 0.05 * 5.00)


def test_the_sender_waits_for_its_paced_slots_and_twilio_and_its_pool_tasks_overlap() -> None:
    # Given batches of 10 (0.1 invocations a message), 20 pooled DynamoDB calls of 30 made
    f = {
        "fn.sender.invocations": 0.1,
        "fn.sender.cpu_s": 0.002,
        "fn.sender.pooled_cpu_s": 0.003,
        "fn.sender.calls.dynamodb.PutItem": 3.0,
        "fn.sender.pooled_calls": 2.0,
        "twilio.twilio_requests": 1.0,
    }
    seconds = (0.005 / (512 / 1769)) + (3 * 0.008 - 2 * 0.008 * 0.9) + 0.1 * (0.250 + 9 / 100)
    assert cm.function_seconds(f, "sender") == pytest.approx(seconds * 0.5)
    # and the event source mapping's receive + delete per batch is billed as SQS requests
    sqs = _line(cm.sms_lines(f, {}), "SQS", "event source mapping")
    assert sqs.usd_per_million == pytest.approx(2 * 0.1 * 0.40)


def test_writes_reads_firehose_and_the_messages_events_analytics() -> None:
    f = {
        "fn.sender.invocations": 0.1,
        "fn.sender.dynamodb.messages.wru": 2.0,
        "fn.sender.dynamodb.messages.index_wru": 1.0,
        "fn.twilio_webhook.dynamodb.messages.wru": 3.0,
        "fn.twilio_webhook.dynamodb.messages.rru": 1.0,
        "fn.sender.dynamodb.limits.wru": 0.2,
        "fn.twilio_webhook.firehose.billed_bytes": 3 * 5120.0,
        "fn.twilio_webhook.firehose.records": 3.0,
        "fn.twilio_webhook.firehose.events": 3.0,
        "fn.sender.firehose.events": 1.0,
    }
    a = {"ingest.wru": 1.3, "ingest.rru": 0.1, "firehose.bytes_per_event": 500.0, "ingest.objects": 0.001}
    lines = cm.sms_lines(f, a)
    assert _line(lines, "DynamoDB", "writes: messages").usd_per_million == pytest.approx(6.0 * 0.625)
    assert _line(lines, "DynamoDB", "writes: limits").usd_per_million == pytest.approx(0.2 * 0.625)
    assert _line(lines, "DynamoDB", "reads: every table").quantity == pytest.approx(1.0)
    assert _line(lines, "Firehose", "ingestion").usd_per_million == pytest.approx(3 * 5120 / GIB * 0.029 * 1e6)
    # the 4 events of the message are counted by analytics_ingest at its measured units per event
    ledger = _line(lines, "DynamoDB", "ledger claims")
    assert ledger.usd_per_million == pytest.approx(4 * 1.3 * 0.625)
    partitioned = _line(lines, "Firehose", "dynamic partitioning: bytes")
    assert partitioned.usd_per_million == pytest.approx(4 * 500 / GIB * 0.020 * 1e6)


def test_an_event_pays_its_share_of_the_putevents_request() -> None:
    a = {"put_events.events": 10.0, "put_events.invocations": 1.0, "put_events.rru": 2.5}
    lines = cm.event_lines(a)
    assert _line(lines, "API Gateway", "PutEvents").usd_per_million == pytest.approx(3.50 / 10)
    assert _line(lines, "Lambda", "api requests").usd_per_million == pytest.approx(0.20 / 10)
    assert _line(lines, "DynamoDB", "api reads").usd_per_million == pytest.approx(2.5 / 10 * 0.125)


def test_a_participant_costs_its_transitions_invocations_and_units() -> None:
    j = {
        "per_participant.transitions": 1e-4,
        "per_participant.lambda_invocations": 1e-4,
        "per_participant.lambda_gb_seconds": 0.015,
        "per_participant.dynamodb_wru": 8.0,
        "per_participant.dynamodb_rru": 5.0,
        "per_participant.sqs_requests": 0.2,
    }
    expected = (
        1e-4 * 0.025 / 1000 + 1e-4 * LAMBDA_REQUEST + 0.015 * LAMBDA_GB_S + 8 * WRU + 5 * RRU + 0.2 * 0.40 / 1e6
    ) * 1e6 + 1e-4 * cm.PLATFORM_LOG_BYTES / GIB * 0.50 * 1e6
    assert cm.total(cm.journey_lines(j)) == pytest.approx(expected)


def test_the_verdict_names_the_biggest_items_when_a_target_is_missed() -> None:
    over = cm.sms_lines({"fn.twilio_webhook.invocations": 3.0}, {})
    verdict, notes = cost.sms_verdict(cm.total(over), over)
    assert "**missed** the ≤ $5 target" in verdict
    assert notes[0].startswith("- API Gateway, webhooks API") and "HTTP API" in notes[0]
    under = cm.sms_lines({"fn.twilio_webhook.invocations": 0.5}, {})
    verdict, notes = cost.sms_verdict(cm.total(under), under)
    assert "**met** the ≤ $5 target" in verdict and notes == []
    # 0.1% of Twilio's US price ($0.0083) is $8.30 per million
    share = cm.total(under) / 1e6 / 0.0083
    assert f"{share:.3%} of Twilio's US price" in verdict


def test_figures_merge_into_the_json_beside_the_doc(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    write_figures(doc, [Section("a", "A", "cmd a", figures={"x": 1.0}), Section("b", "B", "cmd b", figures={"y": 2})])
    write_figures(doc, [Section("b", "B", "cmd b", figures={"y": 3}), Section("c", "C", "cmd c")])
    recorded = read_figures(doc)
    assert recorded["a"]["figures"] == {"x": 1.0} and recorded["b"]["figures"] == {"y": 3.0}
    assert "c" not in recorded  # a section without figures records none
    text = (tmp_path / "benchmarks.json").read_text()
    assert text == json.dumps(recorded, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


class _Op:
    def __init__(self, name: str) -> None:
        self.name = name


def _write(units: object, op: str, params: dict, failed: bool = False) -> None:
    context: dict = {}
    units.before(model=_Op(op), params=params, context=context)
    units.after(
        model=_Op(op), parsed={"Error": {"Code": "ConditionalCheckFailedException"}} if failed else {}, context=context
    )


def test_index_writes_follow_the_delivery_record_into_and_out_of_the_open_index() -> None:
    from dynamo_units import DynamoUnits

    class Items:  # what settle() reads the updated items' sizes from: a record of 3 KB
        def get_item(self, TableName: str, Key: dict) -> dict:  # noqa: N803 - botocore's parameter names
            return {"Item": {"message_id": {"S": "m1"}, "status": {"S": "delivered"}, "body": {"S": "x" * 2500}}}

    units = DynamoUnits({"messages": "Messages"})
    key = {"message_id": {"S": "m1"}}
    claim = {**key, "open_shard": {"S": "open#3"}, "first_attempt_at": {"S": "2026-12-03T00:00:00Z"},
             "updated_at": {"S": "2026-12-03T00:00:00Z"}, "body": {"S": "x" * 2500}}  # fmt: skip
    _write(units, "PutItem", {"TableName": "Messages", "Item": claim})  # enters the index: its keys, 1 unit
    touch = {"TableName": "Messages", "Key": key, "UpdateExpression": "SET #s = :s, updated_at = :now",
             "ExpressionAttributeNames": {"#s": "status"}}  # fmt: skip
    _write(units, "UpdateItem", touch)  # a callback: the keys-only index holds nothing it changes, 0
    _write(units, "UpdateItem", touch, failed=True)  # a late status refused by its condition: nothing indexed
    close = {**touch, "UpdateExpression": "SET #s = :s, updated_at = :now REMOVE open_shard"}
    _write(units, "UpdateItem", close)  # leaves the index: 1
    _write(units, "UpdateItem", touch)  # no longer in the index: 0
    units.settle(Items())
    taken = units.take()
    who = next(iter(taken["wru"]))[0]
    assert taken["index_wru"][(who, "messages")] == 1 + 0 + 0 + 1 + 0
    assert taken["wru"][(who, "messages")] == 3 * 5  # every attempt spends the record's 3 units, the refused one too


def test_an_index_holding_every_attribute_is_rewritten_by_each_update_and_twice_for_a_key() -> None:
    from dynamo_units import DynamoUnits

    class Items:  # a consultation record of 2 KB
        def get_item(self, TableName: str, Key: dict) -> dict:  # noqa: N803 - botocore's parameter names
            return {"Item": {**Key, "open_shard": {"S": "open#1"}, "check_at": {"S": "b"}, "doc": {"S": "x" * 1500}}}

    # Given the consultations table, whose `open` index (projection ALL) is sorted by check_at
    units = DynamoUnits({"consultations": "Consultations"})
    key = {"pk": {"S": "c#1"}, "sk": {"S": "c"}}
    item = {**key, "open_shard": {"S": "open#1"}, "check_at": {"S": "a"}, "doc": {"S": "x" * 1500}}
    _write(units, "PutItem", {"TableName": "Consultations", "Item": item})  # enters: the whole item, 2 units
    other = {"TableName": "Consultations", "Key": key, "UpdateExpression": "SET doc = :d"}
    _write(units, "UpdateItem", other)  # its copy in the index is rewritten: 1 write of 2 units
    moved = {"TableName": "Consultations", "Key": key, "UpdateExpression": "SET check_at = :c"}
    _write(units, "UpdateItem", moved)  # a key changed: delete + put, 2 writes of 2 units
    units.settle(Items())
    taken = units.take()
    who = next(iter(taken["wru"]))[0]
    assert taken["index_wru"][(who, "consultations")] == 2 + 2 + 4
