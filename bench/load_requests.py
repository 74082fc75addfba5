"""The load run's requests, built exactly as their real senders build them, without sending them.

PutEvents and UpdateEndpoint go through botocore's own rest-json serializer and SigV4 signer (service
`mobiletargeting`), the steps the stock boto3 pinpoint client takes before it sends; a status callback is the form
Twilio posts, signed with twilio's RequestValidator under the account's auth token. The locust users send what
these functions return and note it in a `LoadLedger`; the accounting test sends the same through `requests`.

No locust here: importing locust monkey-patches the process with gevent, and the test and the bench runner also
run local mode (moto) in theirs.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.credentials import Credentials
from botocore.serialize import create_serializer
from botocore.session import get_session
from twilio.request_validator import RequestValidator

SERVICE = "mobiletargeting"  # Pinpoint's signing name
EVENT_TYPE = "load.view_item"  # PutEvents' events, counted apart from everything else the app records
SEQ_ATTRIBUTE = "load_seq"  # UpdateEndpoint user n writes its attempts' ids to load_seq_<n> of shared endpoints
TWILIO_API_VERSION = "2010-04-01"


@dataclass(frozen=True)
class Prepared:
    method: str
    path: str  # path and query, as sent on the wire
    headers: dict[str, str]
    body: bytes


class PinpointSigner:
    """Serializes and signs Pinpoint operations the way botocore does for `boto3.client("pinpoint")`."""

    def __init__(self, base_url: str, region: str, access_key_id: str, secret_access_key: str) -> None:
        self._model = get_session().get_service_model("pinpoint")
        self._serializer = create_serializer(self._model.metadata["protocol"], include_validation=True)
        self._base_url = base_url
        self._signer = SigV4Auth(Credentials(access_key_id, secret_access_key), SERVICE, region)

    def prepare(self, operation: str, params: dict[str, Any]) -> Prepared:
        request_dict = self._serializer.serialize_to_request(params, self._model.operation_model(operation))
        prepare_request_dict(request_dict, endpoint_url=self._base_url, user_agent="kizuna-load/1 botocore")
        request = create_request_object(request_dict)
        self._signer.add_auth(request)  # stamps X-Amz-Date now: sign just before sending
        prepared = request.prepare()
        url = urlsplit(prepared.url)
        path = url.path + (f"?{url.query}" if url.query else "")
        body = prepared.body or b""
        body = body if isinstance(body, bytes) else body.encode()
        return Prepared(prepared.method, path, dict(prepared.headers), body)


def put_events_params(app_id: str, batch: dict[str, list[str]], now: datetime | None = None) -> dict[str, Any]:
    """One PutEvents request: for each endpoint id, its events (event id → a view_item event at `now`)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "ApplicationId": app_id,
        "EventsRequest": {
            "BatchItem": {
                endpoint_id: {
                    "Endpoint": {},
                    "Events": {
                        event_id: {
                            "EventType": EVENT_TYPE,
                            "Timestamp": stamp,
                            "Attributes": {"item": "抹茶"},
                            "Metrics": {"price": 1200.0},
                        }
                        for event_id in event_ids
                    },
                }
                for endpoint_id, event_ids in batch.items()
            }
        },
    }


def accepted_events(response: dict[str, Any]) -> dict[str, list[str]]:
    """Endpoint id → ids of the events PutEvents answered 202 for (each event is answered on its own)."""
    return {
        endpoint_id: [e for e, r in (result.get("EventsItemResponse") or {}).items() if r.get("StatusCode") == 202]
        for endpoint_id, result in (response.get("Results") or {}).items()
    }


def update_endpoint_params(app_id: str, endpoint_id: str, address: str, attribute: str, seq: str) -> dict[str, Any]:
    """An upsert writing `seq` to one attribute: the other attributes, written by other users, must survive it."""
    return {
        "ApplicationId": app_id,
        "EndpointId": endpoint_id,
        "EndpointRequest": {"ChannelType": "SMS", "Address": address, "Attributes": {attribute: [seq]}},
    }


def status_callback_params(
    account_sid: str, sid: str, from_: str, to: str, status: str, error_code: str | None = None
) -> dict[str, str]:
    """The form Twilio posts to a message's StatusCallback on each status change."""
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "AccountSid": account_sid,
        "From": from_,
        "To": to,
        "ApiVersion": TWILIO_API_VERSION,
    }
    if error_code:
        params["ErrorCode"] = error_code
    return params


def status_callback(url: str, params: dict[str, str], auth_token: str) -> Prepared:
    """The POST Twilio makes: form body, X-Twilio-Signature over the full URL and the parameters."""
    signature = RequestValidator(auth_token).compute_signature(url, params)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
        "User-Agent": "TwilioProxy/1.1",
    }
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return Prepared("POST", path, headers, urlencode(params).encode())


class LoadLedger:
    """What a load run tried and what its answers acknowledged, for bench/load_check.py. An attempt is noted before
    it is sent (with no HTTP status), so one never answered counts as "maybe applied", not as acknowledged."""

    MAX_FAILURES_LISTED = 50

    def __init__(self) -> None:
        self.events: dict[str, list[str]] = defaultdict(list)  # endpoint id -> event ids answered 202
        self.events_unacknowledged: dict[str, list[str]] = defaultdict(list)  # sent without a 202
        self.endpoints: dict[str, list[list[Any]]] = defaultdict(list)  # endpoint id -> [attribute, seq, status]
        self.callbacks: dict[str, list[list[Any]]] = defaultdict(list)  # message id -> [status, code, HTTP status]
        self.responses: dict[str, Counter[str]] = defaultdict(Counter)  # operation -> 2xx / 429 / other / no answer
        self.failures: list[dict[str, Any]] = []

    def outcome(self, operation: str, status: int | None, detail: str = "") -> None:
        kind = "no answer" if not status else "2xx" if 200 <= status < 300 else "429" if status == 429 else "other"
        self.responses[operation][kind] += 1
        if kind in ("other", "no answer") and len(self.failures) < self.MAX_FAILURES_LISTED:
            self.failures.append({"operation": operation, "status": status, "detail": detail[:300]})

    def events_answered(self, batch: dict[str, list[str]], accepted: dict[str, list[str]]) -> int:
        """Note a PutEvents request's events; returns how many were sent without a 202."""
        refused = 0
        for endpoint_id, event_ids in batch.items():
            taken = set(accepted.get(endpoint_id, ()))
            self.events[endpoint_id] += [e for e in event_ids if e in taken]
            unacknowledged = [e for e in event_ids if e not in taken]
            self.events_unacknowledged[endpoint_id] += unacknowledged
            refused += len(unacknowledged)
        return refused

    def endpoint_write(self, endpoint_id: str, attribute: str, seq: str) -> list[Any]:
        """Note an UpdateEndpoint attempt; set the returned entry's [2] to the HTTP status once answered."""
        attempt: list[Any] = [attribute, seq, None]
        self.endpoints[endpoint_id].append(attempt)
        return attempt

    def callback(self, message_id: str, status: str, error_code: str | None) -> list[Any]:
        """Note a status callback attempt; set the returned entry's [2] to the HTTP status once answered."""
        attempt: list[Any] = [status, error_code, None]
        self.callbacks[message_id].append(attempt)
        return attempt

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.__dict__))
