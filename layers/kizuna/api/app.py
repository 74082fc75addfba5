"""The management API: Pinpoint v1 routes generated from botocore's model, SigV4 on every request.

Each implemented operation is one function in an operations module (`operations_*.py`) registered by name with
`@operation("UpdateEndpoint")`; this module builds the Powertools resolver from that registry, so paths, methods and
success codes come from the model and never from hand-typed strings.
"""

from __future__ import annotations

import base64
import importlib
import json
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from kizuna.api.errors import domain_error_response, error_response
from kizuna.auth.access_keys import AccessKey, authorize
from kizuna.auth.sigv4 import SignedRequest, verify_request
from kizuna.clock import Clock
from kizuna.errors import BadRequest, Forbidden, KizunaError, PayloadTooLarge
from kizuna.pinpoint.model import Operation, bind_input, to_wire
from kizuna.pinpoint.model import operation as model_operation
from kizuna.pinpoint.openapi import openapi_document
from kizuna.ports import (
    AppStore,
    ChannelStore,
    ConsentStore,
    EndpointStore,
    EventSink,
    JobQueue,
    JobStore,
    JourneyStore,
    SegmentStore,
    SendQueue,
    TemplateStore,
)
from kizuna.ports_analytics import AggregateStore, EventStreamStore
from kizuna.ports_journeys import EngagementStore, ParticipantStore
from kizuna.services.otp import OtpDeps
from kizuna.services.send_messages import LinkTracking, SendDeps

logger = Logger(child=True)

# The OpenAPI document of the operations served (kizuna.pinpoint.openapi); under /v1 because that is the only prefix
# the deployed REST API sends to this function, and signed like every other request.
OPENAPI_PATH = "/v1/openapi.json"

# Pinpoint's largest request (PutEvents) is 4 MB; anything bigger is refused before it is parsed or verified.
MAX_BODY_BYTES = 5 * 1024 * 1024


class KeyRing:
    """What the API needs of access keys: the secret to check a signature, and the key's scope."""

    def secret_for(self, access_key_id: str) -> str | None: ...
    def key(self, access_key_id: str) -> AccessKey | None: ...


@dataclass
class ApiDeps:
    apps: AppStore
    endpoints: EndpointStore
    queue: SendQueue
    clock: Clock
    keys: KeyRing
    arn_prefix: str
    segments: SegmentStore | None = None
    jobs: JobStore | None = None
    jobs_queue: JobQueue | None = None
    templates: TemplateStore | None = None
    channels: ChannelStore | None = None
    consent: ConsentStore | None = None
    # One-time passwords: built per call (a Deliverer holds one request's events), absent where OTP is not wired.
    otp: Callable[[], OtpDeps] | None = None
    consultations: Any = None  # kizuna.services.consultations_deps.ConsultationDeps (billed consultations)
    content_approvals: Callable[[], Any] | None = None  # WhatsApp template approvals (adapters.twilio_content)
    # Analytics (issue 5): the event stream PutEvents writes to, the day aggregates KPIs read, app destinations.
    events: EventSink | None = None
    analytics: AggregateStore | None = None
    event_streams: EventStreamStore | None = None
    links: LinkTracking | None = None  # tracked links of SMS/WhatsApp sends (the app's policy turns them on)
    journeys: JourneyStore | None = None
    campaigns: Any = None  # kizuna.services.campaign_runs.CampaignDeps (issue 6)
    journey_started: Callable[[dict[str, Any]], None] | None = None  # starts an ACTIVE journey's run (issue 7)
    engagement: EngagementStore | None = None  # custom events journeys' conditions read; erased with the user
    participants: ParticipantStore | None = None  # journey runs' counters (execution metrics)
    journey_engine: Any = None  # kizuna.services.journey_runs.JourneyDeps: PutEvents enters event-started journeys

    def send_deps(self) -> SendDeps:
        return SendDeps(
            self.apps, self.endpoints, self.queue, self.clock, self.templates, self.channels, self.consent, self.links
        )


@dataclass(frozen=True)
class Call:
    """One authenticated operation call as the operation functions see it."""

    deps: ApiDeps
    caller: AccessKey
    params: dict[str, Any]
    request_id: str

    @property
    def app_id(self) -> str:
        return self.params["ApplicationId"]


OperationFn = Callable[[Call], dict[str, Any] | None]
OPERATIONS: dict[str, OperationFn] = {}
# Operations that are not scoped to one app (their scope check happens inside the operation); every operation with
# an application id in its path is checked against the caller's key before anything else.
UNSCOPED = frozenset({"CreateApp", "GetApps", "PhoneNumberValidate"})


def operation(name: str) -> Callable[[OperationFn], OperationFn]:
    def register(fn: OperationFn) -> OperationFn:
        OPERATIONS[name] = fn
        return fn

    return register


def build_resolver(deps: ApiDeps) -> APIGatewayRestResolver:
    registered_operations()

    app = APIGatewayRestResolver()

    def authenticate(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
        event = app.current_event
        body = _raw_body(event)
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"Request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
        request = SignedRequest(
            method=event.http_method,
            path=event.request_context.path or event.path,
            query=event.multi_value_query_string_parameters or {},
            headers=event.headers or {},
            body=body,
        )
        verified = verify_request(request, deps.keys.secret_for, deps.clock.now())
        key = deps.keys.key(verified.access_key_id)
        if key is None:
            raise Forbidden("The security token included in the request is invalid.")
        app.append_context(caller=key, raw_body=body)
        return next_middleware(app)

    app.use(middlewares=[authenticate])

    for name, fn in OPERATIONS.items():
        op = model_operation(name)
        app.route(op.route, op.method)(_view(app, deps, op, fn))

    @app.get(OPENAPI_PATH)
    def openapi() -> Response:
        # Relative to where the document was fetched, so it names the stage prefix of a deployed API too.
        wire_path = app.current_event.request_context.path or OPENAPI_PATH
        stage = wire_path[: -len(OPENAPI_PATH)] if wire_path.endswith(OPENAPI_PATH) else ""
        server = stage or "/"
        return Response(
            status_code=200,
            content_type="application/json",
            body=json.dumps(openapi_document(OPERATIONS, server_url=server), ensure_ascii=False),
            headers={"x-amzn-RequestId": _request_id(app)},
        )

    @app.exception_handler(KizunaError)
    def on_domain_error(exc: KizunaError) -> Response:
        return domain_error_response(exc, _request_id(app))

    @app.not_found
    def on_not_found(_exc: Exception) -> Response:
        path = app.current_event.path
        return error_response(
            404, "NotFoundException", f"No operation at {app.current_event.http_method} {path}", _request_id(app)
        )

    return app


def _view(app: APIGatewayRestResolver, deps: ApiDeps, op: Operation, fn: OperationFn) -> Callable[..., Response]:
    def view(**path_params: str) -> Response:
        caller: AccessKey = app.context["caller"]
        # Scope first: a key for another app learns nothing, not even whether its body would have been valid.
        if "application_id" in path_params:
            authorize(caller, path_params["application_id"])
        body = _json_body(app.context["raw_body"])
        query = app.current_event.query_string_parameters or {}
        params = bind_input(op, path_params, query, body)
        request_id = _request_id(app)
        # rest-json: the body is the output shape's payload member, which is what operations return.
        result = fn(Call(deps, caller, params, request_id))
        if result is not None and op.output_member is not None:
            result = to_wire(op.model.output_shape.members[op.output_member], result)
        return Response(
            status_code=op.status,
            content_type="application/json",
            body=json.dumps(result if result is not None else {}, ensure_ascii=False),
            headers={"x-amzn-RequestId": request_id},
        )

    view.__name__ = op.name
    return view


def registered_operations() -> dict[str, OperationFn]:
    """Every operation the API serves, by name: importing each kizuna.api.operations_* module registers its own."""
    import kizuna.api

    for module in pkgutil.iter_modules(kizuna.api.__path__):
        if module.name.startswith("operations_"):
            importlib.import_module(f"kizuna.api.{module.name}")
    return OPERATIONS


def _raw_body(event) -> bytes:  # noqa: ANN001
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")


def _json_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}") from None


def _request_id(app: APIGatewayRestResolver) -> str:
    return app.current_event.request_context.request_id or "local"
