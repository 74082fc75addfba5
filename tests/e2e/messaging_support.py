"""What the messaging e2e modules (test_messaging_channels.py, test_messaging_consent_whatsapp.py) share: the client
and the fresh app their fixtures hand out, and helpers that add endpoints, send, post inbound messages as Twilio does
and read back what reached the sandbox and the event stream."""

from __future__ import annotations

import uuid
from typing import Any

from kizuna.local.sandbox_twilio import VALID_FROM
from kizuna.local.system import LocalKizuna
from tests.e2e.support import events_in_stream

DONE = frozenset({"delivered", "failed", "undelivered", "expired", "read"})
TEMPLATE_SID = "HX" + "a1" * 16


def messaging_client(kizuna: LocalKizuna) -> Any:
    """The pinpoint client with Kizuna's extensions (WhatsApp, messaging policy), on a sandbox whose calls ring and
    speak in milliseconds and whose Twilio account holds the approved template TEMPLATE_SID."""
    kizuna.sandbox.calls.time_scale = 0.02
    kizuna.sandbox.contents[TEMPLATE_SID] = {"body": "{{1}}様、ご予約の確認です。", "status": "approved"}
    return kizuna.kizuna_client()


def new_app(client: Any) -> str:
    return client.create_app(CreateApplicationRequest={"Name": f"msg-{uuid.uuid4().hex[:8]}"})["ApplicationResponse"][
        "Id"
    ]


def inbound(kizuna: LocalKizuna, app: str, from_: str, body: str) -> Any:
    """The user's message to the app's number, as Twilio posts it (WhatsApp addresses carry "whatsapp:")."""
    url = f"{kizuna.base_url}/webhooks/twilio/inbound?app={app}"
    to = f"whatsapp:{VALID_FROM}" if from_.startswith("whatsapp:") else VALID_FROM
    return kizuna.sandbox.simulate_inbound(to=to, from_=from_, body=body, url=url)


def endpoint(client: Any, app: str, endpoint_id: str, channel: str, address: str, **extra: Any) -> None:
    client.update_endpoint(
        ApplicationId=app, EndpointId=endpoint_id, EndpointRequest={"ChannelType": channel, "Address": address, **extra}
    )


def send(client: Any, app: str, config: dict, **recipients: Any) -> dict:
    return client.send_messages(ApplicationId=app, MessageRequest={**recipients, "MessageConfiguration": config})[
        "MessageResponse"
    ]


def sent_to(kizuna: LocalKizuna, to: str) -> list[Any]:
    return [r for r in kizuna.sandbox.requests if r.to == to]


def events_of(kizuna: LocalKizuna, app: str) -> list[dict]:
    return [e for e in events_in_stream(kizuna) if e["application"]["app_id"] == app]
