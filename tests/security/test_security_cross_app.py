"""Cross-app access: a key scoped to app A is refused on app B by every operation of the management API, and the
refusal comes before anything of B is read or written — before the body is even validated.

The operations come from the API's own registry (kizuna.api.app.OPERATIONS, whose routes come from botocore's
Pinpoint model plus Kizuna's extensions), so a new operation is covered the day it is registered. Every port the
operations could reach is a tripwire: touching one (a read, a write, a queue, a clock-independent side effect) is
recorded and stops the request. A refused request must touch none, which is a stronger "nothing was written to B"
than comparing B's data before and after. The same requests on A's own app must get past the scope check (reach a
port or fail validation), so the 403s are the scope check and not a routing accident.

Over the network with the stock client, tests/e2e/test_audience_api.py::test_a_key_scoped_to_another_app_gets_403
does the same for every app-scoped operation against local mode (DynamoDB on moto).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.model import Shape

from kizuna.adapters.memory import InMemoryDataStore
from kizuna.api import app as api_app
from kizuna.api.app import ApiDeps, build_resolver
from kizuna.auth.access_keys import AccessKey, CachedSecretLookup, InMemoryAccessKeyStore, KeyStatus
from kizuna.clock import VirtualClock
from kizuna.domain.apps import App
from kizuna.pinpoint.model import operation, service_model
from tests.security.inprocess_api import client_for, lambda_context

APP_A = "a0000000000000000000000000000001"
APP_B = "b0000000000000000000000000000002"
NOW = datetime.now(UTC)  # botocore signs with the wall clock; the API's clock must agree within 5 minutes


class Reached(BaseException):  # noqa: N818 - not an error: the request got past authorization to a port
    """Raised by a tripwire; BaseException so no `except Exception` in an operation can swallow it."""


class Tripwire:
    """Stands for one port of ApiDeps. Any use of it is recorded and ends the request."""

    def __init__(self, name: str, touched: list[str]) -> None:
        self._name = name
        self._touched = touched

    def __getattr__(self, attr: str) -> Any:
        self._touched.append(f"{self._name}.{attr}")
        raise Reached(f"{self._name}.{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._touched.append(f"{self._name}()")
        raise Reached(f"{self._name}()")

    def __bool__(self) -> bool:  # `if deps.segments:` is a use too
        self._touched.append(f"bool({self._name})")
        raise Reached(f"bool({self._name})")


def _operations() -> list[str]:
    api_app.registered_operations()
    return sorted(api_app.OPERATIONS)


ALL_OPERATIONS = _operations()
APP_SCOPED = [n for n in ALL_OPERATIONS if "{application-id}" in operation(n).uri]
TEMPLATE_OPERATIONS = [n for n in ALL_OPERATIONS if operation(n).uri.startswith("/v1/templates")]
TEMPLATE_WRITES = [n for n in TEMPLATE_OPERATIONS if operation(n).method != "GET"]


# who -> (key, secret): scoped to A; scoped to A but deactivated; admin (every app).
KEYS = {
    "scoped": (AccessKey("KZSCOPEDTOAPPAONLY00", frozenset({APP_A}), NOW), "scoped-secret-00000000000000000000000"),
    "inactive": (
        AccessKey("KZINACTIVEAPPA000000", frozenset({APP_A}), NOW, KeyStatus.INACTIVE),
        "inactive-secret-000000000000000000000",
    ),
    "admin": (AccessKey("KZADMINKEY0000000000", None, NOW), "admin-secret-0000000000000000000000000"),
}


class World:
    """The API with tripwire ports, a key scoped to A, a key scoped to A that was deactivated, and an admin key."""

    def __init__(self, apps: Any = None) -> None:
        self.touched: list[str] = []
        self._clients: dict[str, Any] = {}
        self.clock = VirtualClock(NOW)
        store = InMemoryAccessKeyStore()
        for key, secret in KEYS.values():
            store.put(key, secret)
        self.key_ids = {who: key.access_key_id for who, (key, _) in KEYS.items()}
        self.secrets = {who: secret for who, (_, secret) in KEYS.items()}
        ports: dict[str, Any] = {}
        for f in fields(ApiDeps):
            if f.name in ("clock", "keys", "arn_prefix"):
                continue
            ports[f.name] = Tripwire(f.name, self.touched)
        if apps is not None:
            ports["apps"] = apps
        deps = ApiDeps(
            clock=self.clock,
            keys=CachedSecretLookup(store, self.clock),
            arn_prefix="arn:aws:mobiletargeting:ap-northeast-1:123456789012",
            **ports,
        )
        self.resolver = build_resolver(deps)

    def resolve(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.resolver.resolve(event, lambda_context())

    def client(self, who: str) -> Any:
        if who not in self._clients:
            self._clients[who] = client_for(self.resolve, self.key_ids[who], self.secrets[who])
        return self._clients[who]


@pytest.fixture(scope="module")
def shared() -> World:
    return World()


@pytest.fixture
def world(shared: World) -> World:
    """One resolver for the module (building one per test is most of the time); each test starts untouched."""
    shared.touched.clear()
    return shared


def _uri_params(name: str, app_id: str) -> dict[str, Any]:
    """Every URI label of the operation (ApplicationId = app_id, others a plain value); no body, no query."""
    params: dict[str, Any] = {}
    for member_name, member in operation(name).model.input_shape.members.items():
        if member.serialization.get("location") != "uri":
            continue
        params[member_name] = app_id if member_name == "ApplicationId" else ("1" if member_name == "Version" else "x")
    return params


def _minimal(shape: Shape) -> Any:
    """The smallest value of `shape` with every required member (what the model demands of a body)."""
    if shape.type_name == "structure":
        return {name: _minimal(shape.members[name]) for name in shape.required_members}
    if shape.type_name == "list":
        return []
    if shape.type_name == "map":
        return {}
    if shape.type_name in ("integer", "long"):
        return 1
    if shape.type_name in ("double", "float"):
        return 1.0
    if shape.type_name == "boolean":
        return False
    if shape.type_name == "timestamp":
        return "2026-11-01T00:00:00Z"
    return shape.enum[0] if getattr(shape, "enum", None) else "x"


def _with_minimal_body(name: str, app_id: str) -> dict[str, Any]:
    params = _uri_params(name, app_id)
    op = operation(name)
    payload = op.payload_member
    if payload is not None:
        params[payload] = _minimal(op.model.input_shape.members[payload])
    return params


def _call(client: Any, name: str, params: dict[str, Any]) -> ClientError | None:
    try:
        getattr(client, xform_name(name))(**params)
    except ClientError as exc:
        return exc
    return None


def _assert_forbidden(error: ClientError | None, *, mentions: str | None = None) -> None:
    assert error is not None, "the call succeeded"
    response = error.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # Pinpoint's error shape: x-amzn-ErrorType → the modelled ForbiddenException, the body's Message, a request id.
    assert response["Error"]["Code"] == "ForbiddenException"
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    if mentions is not None:
        assert mentions in response["Error"]["Message"]


# --- every app-scoped operation ----------------------------------------------------------------------------------


def test_the_registry_is_what_the_model_routes_and_every_operation_is_classified():
    # Given the registry the resolver is built from
    # Then each operation is in botocore's (extended) Pinpoint model, and each is app-scoped, a template operation
    # (account-wide: reads for any key, writes for admin keys) or one of the few listed as unscoped.
    assert set(ALL_OPERATIONS) <= set(service_model().operation_names)
    assert {"UpdateEndpoint", "DeleteUserEndpoints", "PutEvents", "SendMessages", "DeleteApp"} <= set(APP_SCOPED)
    others = set(ALL_OPERATIONS) - set(APP_SCOPED) - set(TEMPLATE_OPERATIONS)
    assert others == set(api_app.UNSCOPED), "a new operation without {application-id}: decide its scope here"


@pytest.mark.parametrize("name", APP_SCOPED)
def test_a_key_for_app_a_is_refused_on_app_b_before_any_port_is_touched(world, name):
    # Given a key scoped to app A, and every port of the API a tripwire
    # When it calls the operation on app B, with an empty body (the refusal must not depend on the body)
    error = _call(world.client("scoped"), name, _uri_params(name, APP_B))
    # Then 403 ForbiddenException, naming B, and nothing of B (or anything else) was read or written
    _assert_forbidden(error, mentions=APP_B)
    assert world.touched == []


@pytest.mark.parametrize("name", APP_SCOPED)
def test_a_key_for_app_a_is_refused_on_app_b_with_a_valid_body_too(world, name):
    error = _call(world.client("scoped"), name, _with_minimal_body(name, APP_B))
    _assert_forbidden(error, mentions=APP_B)
    assert world.touched == []


@pytest.mark.parametrize("name", APP_SCOPED)
def test_the_same_request_on_its_own_app_gets_past_the_scope_check(world, name):
    # Control: the key's own app. The request reaches a port (Reached) or is judged on its body (400) — never 403,
    # so the refusals above are the scope check and not a route that does not match.
    try:
        error = _call(world.client("scoped"), name, _uri_params(name, APP_A))
    except Reached:
        assert world.touched
        return
    assert error is not None
    assert error.response["Error"]["Code"] == "BadRequestException", error.response["Error"]["Message"]


@pytest.mark.parametrize("name", APP_SCOPED)
def test_a_deactivated_key_is_refused_even_on_its_own_app(world, name):
    error = _call(world.client("inactive"), name, _uri_params(name, APP_A))
    _assert_forbidden(error, mentions="security token")
    assert world.touched == []


# --- what has no application id ----------------------------------------------------------------------------------


def test_a_scoped_key_cannot_create_apps(world):
    error = _call(world.client("scoped"), "CreateApp", {"CreateApplicationRequest": {"Name": "mine"}})
    _assert_forbidden(error)
    assert world.touched == []


def test_get_apps_lists_only_the_apps_of_a_scoped_key():
    # Given two apps in a real store
    apps = InMemoryDataStore()
    for app_id in (APP_A, APP_B):
        apps.put_app(App(app_id, f"app {app_id[0]}", f"arn:aws:mobiletargeting:::apps/{app_id}", "2026-11-01", {}))
    world = World(apps=apps)
    # When each key lists apps
    scoped = world.client("scoped").get_apps()["ApplicationsResponse"]["Item"]
    admin = world.client("admin").get_apps()["ApplicationsResponse"]["Item"]
    # Then the scoped key sees A only; the admin key sees both
    assert [a["Id"] for a in scoped] == [APP_A]
    assert sorted(a["Id"] for a in admin) == [APP_A, APP_B]


@pytest.mark.parametrize("name", TEMPLATE_WRITES)
def test_templates_are_shared_so_only_an_admin_key_changes_them(world, name):
    # Templates are account-wide in Pinpoint (no ApplicationId): a scoped key may read them (its app sends with
    # them) but not change what every other app sends.
    error = _call(world.client("scoped"), name, _with_minimal_body(name, APP_A))
    _assert_forbidden(error, mentions="admin")
    assert world.touched == []


def test_phone_number_validate_reads_no_tenant_data(world):
    response = world.client("scoped").phone_number_validate(
        NumberValidateRequest={"PhoneNumber": "090-1234-5678", "IsoCountryCode": "JP"}
    )
    assert response["NumberValidateResponse"]["CleansedPhoneNumberE164"] == "+819012345678"
    assert world.touched == []
