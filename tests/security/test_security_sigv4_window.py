"""SigV4's 5-minute window, through the management API itself: a request signed by the stock client is replayed to
the API function later (or earlier) than it was signed.

tests/unit/test_sigv4_*.py cover verify_request on its own (exactly 5 minutes accepted, 5 min + 1 s refused either
way for X-Amz-Date, a stale request never reaching the key store). What they leave out, and this module adds: the
same through the resolver (403 in Pinpoint's error shape, nothing written), the `Date`-header variant of the window,
and what a replay inside the window does.

A replay inside the window is accepted. Kizuna does what AWS does for SigV4: there is no nonce, a signature is good
for 5 minutes either side of its timestamp, and what keeps a recorded request from being replayed is TLS (API
Gateway is HTTPS only) plus that window. A replay cache is deliberately not kept: it would cost a conditional write
on every API call, reads included, and it would refuse legitimate retries — botocore re-signs each retry, but a
retry within the same second is byte-for-byte the request it retries (SigV4's timestamp has one-second
resolution). The consequence, shared with Pinpoint: most operations are idempotent PUTs/DELETEs, so a replay
changes nothing (shown below with UpdateEndpoint); SendMessages, SendUsersMessages, SendOTPMessage and PutEvents are
not — a request captured in transit and replayed within 5 minutes sends again (PutEvents' events keep their ids,
so analytics counts them once). docs/security.md says so.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kizuna.adapters.memory import InMemoryDataStore, InMemorySendQueue
from kizuna.api.app import ApiDeps, build_resolver
from kizuna.auth.access_keys import AccessKey, CachedSecretLookup, InMemoryAccessKeyStore
from kizuna.auth.sigv4 import SignedRequest, verify_request
from kizuna.domain.apps import App
from kizuna.errors import Forbidden
from tests.security.inprocess_api import client_for, lambda_context

APP = "c0000000000000000000000000000003"
KEY_ID = "KZWINDOWTESTKEY00000"
SECRET = "window-test-secret-000000000000000000000"
WINDOW = timedelta(minutes=5)


class SetClock:
    """A clock the test sets to any instant (the API reads `now` from it for the signature check)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class Api:
    def __init__(self) -> None:
        self.clock = SetClock(datetime.now(UTC))
        self.data = InMemoryDataStore()
        self.data.put_app(App(APP, "window", f"arn:aws:mobiletargeting:::apps/{APP}", "2026-11-01", {}))
        keys = InMemoryAccessKeyStore()
        keys.put(AccessKey(KEY_ID, frozenset({APP}), self.clock.now()), SECRET)
        deps = ApiDeps(
            apps=self.data,
            endpoints=self.data,
            queue=InMemorySendQueue(),
            clock=self.clock,
            keys=CachedSecretLookup(keys, self.clock),
            arn_prefix="arn:aws:mobiletargeting:ap-northeast-1:123456789012",
        )
        self.resolver = build_resolver(deps)

    def resolve(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.resolver.resolve(event, lambda_context())


def signed_at(event: dict[str, Any]) -> datetime:
    return datetime.strptime(event["headers"]["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def recorded(api: Api) -> dict[str, Any]:
    """An UpdateEndpoint the stock client signed, as API Gateway hands it to the function (not yet delivered)."""
    events: list[dict[str, Any]] = []

    def record_only(event: dict[str, Any]) -> dict[str, Any]:
        events.append(event)
        return {"statusCode": 202, "headers": {}, "body": "{}"}  # what the client sees is not under test

    client = client_for(record_only, KEY_ID, SECRET, validate=True)
    client.update_endpoint(
        ApplicationId=APP,
        EndpointId="phone-1",
        EndpointRequest={"ChannelType": "SMS", "Address": "+819012345678", "User": {"UserId": "u-1"}},
    )
    (event,) = events
    return event


def _error(result: dict[str, Any]) -> tuple[int, str, str]:
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = values[-1]
    return result["statusCode"], headers.get("x-amzn-errortype", ""), json.loads(result["body"]).get("Message", "")


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (WINDOW + timedelta(seconds=1), "Signature expired"),  # replayed 5 min 1 s after it was signed
        (-(WINDOW + timedelta(seconds=1)), "Signature not yet current"),  # signed 5 min 1 s in the server's future
        (timedelta(days=1), "Signature expired"),
    ],
)
def test_a_request_outside_the_window_is_403_and_writes_nothing(api, recorded, offset, message):
    # Given a signed UpdateEndpoint, when the API receives it `offset` away from its signing time
    api.clock.at = signed_at(recorded) + offset
    result = api.resolve(recorded)
    # Then 403 ForbiddenException in Pinpoint's shape (x-amzn-ErrorType, body Message), and no endpoint was written
    status, error_type, text = _error(result)
    assert (status, error_type) == (403, "ForbiddenException")
    assert text.startswith(message)
    assert api.data.get_endpoint(APP, "phone-1") is None


@pytest.mark.parametrize("offset", [timedelta(0), WINDOW, -WINDOW, WINDOW - timedelta(seconds=1)])
def test_a_request_inside_the_window_is_accepted(api, recorded, offset):
    api.clock.at = signed_at(recorded) + offset
    assert api.resolve(recorded)["statusCode"] == 202
    assert api.data.get_endpoint(APP, "phone-1")["Address"] == "+819012345678"


def test_an_identical_replay_inside_the_window_is_accepted_and_an_idempotent_operation_changes_nothing(api, recorded):
    # See the module docstring: no nonce cache, as in AWS. The replay is served; UpdateEndpoint is a PUT, so the
    # endpoint is the same after it (not a second endpoint, not a new version of it).
    api.clock.at = signed_at(recorded) + timedelta(seconds=30)
    assert api.resolve(recorded)["statusCode"] == 202
    first = api.data.get_endpoint(APP, "phone-1")
    api.clock.at = signed_at(recorded) + timedelta(minutes=4, seconds=59)
    assert api.resolve(recorded)["statusCode"] == 202
    again = api.data.get_endpoint(APP, "phone-1")
    assert {k: v for k, v in again.items() if k != "EffectiveDate"} == {
        k: v for k, v in first.items() if k != "EffectiveDate"
    }
    assert [e["Id"] for e in api.data.user_endpoints(APP, "u-1")] == ["phone-1"]
    # ... and once the window has passed, the same bytes are refused.
    api.clock.at = signed_at(recorded) + WINDOW + timedelta(seconds=1)
    assert _error(api.resolve(recorded))[:2] == (403, "ForbiddenException")


# --- the Date-header variant (botocore signs with Date instead of X-Amz-Date when the request carries one) ------


def _date_signed(when: datetime) -> SignedRequest:
    request = AWSRequest(
        method="GET",
        url=f"https://api.kizuna.test/prod/v1/apps/{APP}",
        headers={"Date": format_datetime(when, usegmt=True)},
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
        SigV4Auth(Credentials(KEY_ID, SECRET), "mobiletargeting", "ap-northeast-1").add_auth(request)
    prepared = request.prepare()
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()}
    assert "X-Amz-Date" not in headers
    headers["Host"] = "api.kizuna.test"
    return SignedRequest(method="GET", path=f"/prod/v1/apps/{APP}", headers=headers)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (WINDOW, True),
        (-WINDOW, True),
        (WINDOW + timedelta(seconds=1), False),
        (-(WINDOW + timedelta(seconds=1)), False),
    ],
)
def test_the_window_holds_for_date_signed_requests_too(offset, accepted):
    when = datetime(2026, 11, 23, 10, 30, 0, tzinfo=UTC)
    request = _date_signed(when)
    secrets = {KEY_ID: SECRET}
    if accepted:
        assert verify_request(request, secrets.get, when + offset).access_key_id == KEY_ID
    else:
        with pytest.raises(Forbidden, match="Signature (expired|not yet current)"):
            verify_request(request, secrets.get, when + offset)
