"""SendMessages: per-recipient answers as Pinpoint gives them; only sendable recipients reach the queue."""

from __future__ import annotations

import pytest

from kizuna.errors import BadRequest, NotFound
from kizuna.services.apps import create_app
from kizuna.services.endpoints import update_endpoint
from kizuna.services.send_messages import SendDeps, send_messages


def send(data, queue, clock, app_id, request, templates=None, **kwargs):
    return send_messages(SendDeps(data, data, queue, clock, templates), app_id, request, **kwargs)


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
    response = send(
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
    response = send(
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

    response = send(
        data,
        Refusing(),
        clock,
        app_id,
        {"Addresses": {"+15005550010": {"ChannelType": "SMS"}}, "MessageConfiguration": SMS},
    )
    assert response["Result"]["+15005550010"]["DeliveryStatus"] == "TEMPORARY_FAILURE"


def test_no_recipients_is_a_bad_request(data, queue, clock, app_id):
    with pytest.raises(BadRequest, match="Addresses or Endpoints"):
        send(data, queue, clock, app_id, {"MessageConfiguration": SMS})


def test_unknown_app_is_not_found(data, queue, clock):
    with pytest.raises(NotFound):
        send(data, queue, clock, "nope", {"Addresses": {"+15005550010": {}}})


# -- personalisation ------------------------------------------------------------------------------------------------


@pytest.fixture
def templates(clock):
    from kizuna.adapters.memory_templates import InMemoryTemplateStore
    from kizuna.services.templates import create_template, update_template

    store = InMemoryTemplateStore()
    create_template(
        store,
        clock,
        "arn:aws:mobiletargeting:us-east-1:123456789012",
        "SMS",
        "reminder",
        {
            "Body": "{{User.UserAttributes.FirstName}}様 {{Attributes.Date}}にお待ちしております",
            "DefaultSubstitutions": '{"User.UserAttributes.FirstName": "お客"}',
        },
    )
    update_template(store, clock, "SMS", "reminder", {"Body": "v2 {{Address}}"}, True, None)
    return store


def bodies(queue) -> dict[str, str]:
    return {m.endpoint_id or m.to: m.body for m, _ in queue.messages}


def test_a_template_is_rendered_per_recipient_with_substitutions_and_defaults(data, queue, clock, app_id, templates):
    update_endpoint(
        data, data, clock, app_id, "hanako",
        {"ChannelType": "SMS", "Address": "+819011112222", "User": {"UserAttributes": {"FirstName": ["花子"]}},
         "Attributes": {"Date": ["12月1日"]}},
    )  # fmt: skip
    request = {
        "Endpoints": {"hanako": {}, "ok": {"Substitutions": {"Attributes.Date": ["12月2日"]}}},
        "Addresses": {"+15005550010": {"ChannelType": "SMS", "BodyOverride": "raw {{not rendered}}"}},
        "TemplateConfiguration": {"SMSTemplate": {"Name": "reminder"}},
        "MessageConfiguration": {"SMSMessage": {"Substitutions": {"Attributes.Date": ["未定"]}}},
    }

    response = send(data, queue, clock, app_id, request, templates)

    assert response["EndpointResult"]["hanako"]["DeliveryStatus"] == "SUCCESSFUL"
    assert bodies(queue) == {
        "hanako": "花子様 未定にお待ちしております",  # message-level substitutions override endpoint data
        "ok": "お客様 12月2日にお待ちしております",  # the recipient's own win; the template default fills the name
        "+15005550010": "raw {{not rendered}}",  # BodyOverride is sent as given
    }


def test_a_template_version_and_a_missing_template(data, queue, clock, app_id, templates):
    versioned = {
        "Endpoints": {"ok": {}},
        "TemplateConfiguration": {"SMSTemplate": {"Name": "reminder", "Version": "2"}},
    }
    send(data, queue, clock, app_id, versioned, templates)

    assert bodies(queue) == {"ok": "v2 +819012345678"}
    with pytest.raises(NotFound, match="Template nope"):
        send(data, queue, clock, app_id,
            {"Endpoints": {"ok": {}}, "TemplateConfiguration": {"SMSTemplate": {"Name": "nope"}}}, templates,
        )  # fmt: skip


def test_a_body_that_is_not_a_valid_template_is_a_bad_request(data, queue, clock, app_id):
    request = {"Endpoints": {"ok": {}}, "MessageConfiguration": {"SMSMessage": {"Body": "{{#if x}}open"}}}

    with pytest.raises(BadRequest, match="SMSMessage.Body"):
        send(data, queue, clock, app_id, request)
    assert queue.messages == []
