"""SendMessages: per-recipient answers as Pinpoint gives them; only sendable recipients reach the queue."""

from __future__ import annotations

import pytest

from kizuna.errors import BadRequest, NotFound
from kizuna.services.apps import create_app
from kizuna.services.endpoints import update_endpoint
from kizuna.services.send_messages import send_messages

SMS = {"SMSMessage": {"Body": "ご予約ありがとうございます", "MessageType": "TRANSACTIONAL"}}


@pytest.fixture
def app_id(data, clock) -> str:
    app = create_app(data, clock, "arn:aws:mobiletargeting:us-east-1:123456789012", {"Name": "demo"})
    update_endpoint(data, data, clock, app.id, "ok", {"ChannelType": "SMS", "Address": "+819012345678"})
    update_endpoint(
        data, data, clock, app.id, "out", {"ChannelType": "SMS", "Address": "+819012345679", "OptOut": "ALL"}
    )
    return app.id


def test_addresses_and_endpoints_are_queued_with_message_ids(data, queue, clock, app_id):
    response = send_messages(
        data,
        data,
        queue,
        clock,
        app_id,
        {"Addresses": {"+15005550010": {"ChannelType": "SMS"}}, "Endpoints": {"ok": {}}, "MessageConfiguration": SMS},
    )

    assert response["Result"]["+15005550010"]["DeliveryStatus"] == "SUCCESSFUL"
    assert response["EndpointResult"]["ok"]["Address"] == "+819012345678"
    queued = {m.message_id for m, _ in queue.messages}
    assert queued == {response["Result"]["+15005550010"]["MessageId"], response["EndpointResult"]["ok"]["MessageId"]}


def test_opted_out_missing_and_invalid_recipients_are_answered_and_never_queued(data, queue, clock, app_id):
    response = send_messages(
        data,
        data,
        queue,
        clock,
        app_id,
        {
            "Addresses": {"12": {"ChannelType": "SMS"}},
            "Endpoints": {"out": {}, "ghost": {}},
            "MessageConfiguration": SMS,
        },
    )

    assert response["Result"]["12"]["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert "Address" in response["Result"]["12"]["StatusMessage"]
    assert response["EndpointResult"]["out"]["DeliveryStatus"] == "OPT_OUT"
    assert response["EndpointResult"]["ghost"]["StatusCode"] == 404
    assert queue.messages == []


def test_a_message_the_queue_refused_is_a_temporary_failure(data, clock, app_id):
    from kizuna.adapters.memory import InMemorySendQueue

    class Refusing(InMemorySendQueue):
        def enqueue(self, messages, delay_s=0):
            return [m.message_id for m in messages]

    response = send_messages(
        data,
        data,
        Refusing(),
        clock,
        app_id,
        {"Addresses": {"+15005550010": {"ChannelType": "SMS"}}, "MessageConfiguration": SMS},
    )
    assert response["Result"]["+15005550010"]["DeliveryStatus"] == "TEMPORARY_FAILURE"


def test_no_recipients_is_a_bad_request(data, queue, clock, app_id):
    with pytest.raises(BadRequest, match="Addresses or Endpoints"):
        send_messages(data, data, queue, clock, app_id, {"MessageConfiguration": SMS})


def test_unknown_app_is_not_found(data, queue, clock):
    with pytest.raises(NotFound):
        send_messages(data, data, queue, clock, "nope", {"Addresses": {"+15005550010": {}}})
