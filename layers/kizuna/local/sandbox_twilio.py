"""A sandbox Twilio: the Messages REST subset the twilio SDK calls, served over real HTTP on 127.0.0.1.

    with SandboxTwilio() as twilio:                       # or: url = sandbox.start(); ...; sandbox.stop()
        client = make_twilio_client(twilio.account_sid, twilio.auth_token, twilio.base_url, timeout_s=2)
        client.messages.create(to="+819012345678", from_=VALID_FROM, body="こんにちは")

Behaviour:
- Basic auth with the account SID + auth token (401 / 20003 otherwise); Twilio's JSON error shape everywhere.
- Test-credential magic numbers (synchronous 400s), unknown From → 21606, alphanumeric sender IDs accepted.
- Accepted messages move queued → sent → delivered (or undelivered/failed with a 300xx code) on a timer; each
  transition POSTs a status callback signed like Twilio (`X-Twilio-Signature`), retried on 5xx/connection errors.
- Test controls: `requests`, `count(to, body)`, `wait_for_idle()`, and runtime knobs `rate_limit_per_sender`,
  `fail_ratio_5xx`, `fail_ratio_20429`, `timeout_ratio`, `seed`, `callbacks_enabled`, `destination_outcomes`,
  `failure_ratio`/`failure_outcome`; `simulate_inbound()` posts a signed inbound-message webhook.
- WhatsApp (`sandbox.contents`, kizuna.local.sandbox_twilio_whatsapp): Content API templates, Meta's 24-hour window.
- Calls (`sandbox.calls`, kizuna.local.sandbox_twilio_calls): create/fetch/update/list, `call_outcomes`, simulated
  inbound calls following TwiML (`simulate_inbound_call`), on simulated time (`call_time_scale`).
"""

from __future__ import annotations

import contextlib
import random
import re
import secrets
import socket
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import requests as http
from werkzeug.wrappers import Request, Response

from kizuna.clock import Clock, SystemClock
from kizuna.local.sandbox_twilio_calls import SandboxCalls
from kizuna.local.sandbox_twilio_delivery import CallbackAttempt, DeliveryEngine
from kizuna.local.sandbox_twilio_http import HttpThread, json_response
from kizuna.local.sandbox_twilio_model import (
    API_PREFIX,
    VALID_FROM,
    WHATSAPP,
    RecordedRequest,
    SandboxMessage,
    TwilioApiError,
    list_page,
    new_sid,
    validate_create,
)
from kizuna.local.sandbox_twilio_whatsapp import SandboxWhatsApp
from kizuna.sms_segments import count_segments

__all__ = ["SandboxTwilio", "VALID_FROM", "RecordedRequest", "SandboxMessage", "CallbackAttempt"]

_LIST = re.compile(rf"^{API_PREFIX}/(?P<account>[^/]+)/Messages\.json$")
_ONE = re.compile(rf"^{API_PREFIX}/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")
# The Content API (content.twilio.com): a template's WhatsApp approval, as Meta decided it.
_APPROVAL = re.compile(r"^/v1/Content/(?P<sid>HX[0-9a-fA-F]{32})/ApprovalRequests$")


class SandboxTwilio:
    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        numbers: Iterable[str] = (VALID_FROM,),
        messaging_service_sids: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        step_delays: tuple[float, float] = (0.05, 0.05),
        seed: int = 0,
        callback_attempts: int = 3,
        callback_retry_backoff_s: float = 0.05,
        callback_timeout_s: float = 2.0,  # Twilio itself waits 15 s; a short wait keeps tests of retries quick
        timeout_hang_s: float = 2.0,
        call_time_scale: float = 1.0,
    ) -> None:
        self.account_sid = account_sid or new_sid("AC")
        self.auth_token = auth_token or secrets.token_hex(16)
        self.numbers = set(numbers)
        self.messaging_service_sids = set(messaging_service_sids)
        self.host, self.port = host, port
        self.clock: Clock = clock or SystemClock()
        self.step_delays = step_delays  # (created → sent, sent → final) in real seconds
        # fault injection, settable at runtime
        self.rate_limit_per_sender: float | None = None
        self.rate_limited = 0  # 20429s answered because a sender went over rate_limit_per_sender
        self.fail_ratio_5xx = 0.0
        self.fail_ratio_20429 = 0.0
        self.timeout_ratio = 0.0
        self.timeout_mode = "hang"  # "hang": accept, stall `timeout_hang_s`, then drop; "close": drop at once
        self.timeout_hang_s = timeout_hang_s
        self.callbacks_enabled = True
        # WhatsApp: Content API templates (sid -> {"body": "…{{1}}…", "status": "approved"}) and the 24-hour window.
        self.whatsapp = SandboxWhatsApp()
        self.contents = self.whatsapp.contents
        # delivery outcomes: exact destinations, else a random share ends in `failure_outcome`
        self.destination_outcomes: dict[str, tuple[str, int]] = {}
        self.failure_ratio = 0.0
        self.failure_outcome: tuple[str, int] = ("undelivered", 30003)
        # observation
        self.requests: list[RecordedRequest] = []
        self.messages: dict[str, SandboxMessage] = {}
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._seed = seed
        self._sent_at: dict[str, deque[float]] = defaultdict(deque)
        self._outside_window: set[str] = set()
        self._engine = DeliveryEngine(
            self.auth_token,
            attempts=callback_attempts,
            retry_backoff_s=callback_retry_backoff_s,
            timeout_s=callback_timeout_s,
        )
        self._http = HttpThread(self._route, "sandbox-twilio-http")
        self._released = threading.Event()
        # Voice: the Calls API and simulated inbound calls (same account, same phone numbers).
        self.calls = SandboxCalls(
            account_sid=self.account_sid,
            auth_token=self.auth_token,
            numbers=self.numbers,
            clock=self.clock,
            time_scale=call_time_scale,
            callback_attempts=callback_attempts,
            callback_retry_backoff_s=callback_retry_backoff_s,
        )
        self.call_outcomes = self.calls.call_outcomes
        self.simulate_inbound_call = self.calls.simulate_inbound_call

    # lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> str:
        if self._http.bound:
            return self.base_url
        self._released.clear()
        self.port = self._http.bind(self.host, self.port)
        self._engine.start()
        self.calls.start()
        self._http.serve()
        return self.base_url

    def stop(self) -> None:
        if not self._http.bound:
            return
        self._released.set()  # free handlers stalled by timeout_ratio
        self._http.stop()
        self._engine.stop()
        self.calls.stop()

    def __enter__(self) -> SandboxTwilio:
        self.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # test controls ---------------------------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        with self._lock:
            self._seed = value
            self._rng = random.Random(value)

    def count(self, to: str, body: str) -> int:
        """How many create requests "Twilio" accepted for (To, Body)."""
        with self._lock:
            return self._counts[(to, body)]

    @property
    def callback_log(self) -> list[CallbackAttempt]:
        """Every status-callback POST attempt (url, params, HTTP status or None, attempt number)."""
        return list(self._engine.attempt_log)

    def wait_for_idle(self, timeout: float = 5.0) -> bool:
        """True once every scheduled status change and every callback (with retries) is done."""
        return self._engine.wait_for_idle(timeout) and self.calls.wait_for_idle(timeout)

    def simulate_inbound(
        self, to: str, from_: str, body: str, url: str, *, num_media: int = 0, messaging_service_sid: str | None = None
    ) -> http.Response:
        """POST a signed inbound-message webhook to `url` (as Twilio does for a reply or STOP)."""
        now = self.clock.now()
        msg = SandboxMessage(
            sid=new_sid("SM"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            status="received",
            num_segments=count_segments(body).segments,
            direction="inbound",
            date_created=now,
            date_updated=now,
            date_sent=now,
            messaging_service_sid=messaging_service_sid,
        )
        with self._lock:
            self.messages[msg.sid] = msg
            if from_.startswith(WHATSAPP):
                self.whatsapp.received(to, from_, self.clock.now().timestamp())
        return self._engine.post_signed(url, msg.inbound_params(num_media), new_sid("ID"))

    # the REST API ----------------------------------------------------------------------------------------------
    def _route(self, request: Request, environ: dict[str, Any]) -> Response:
        auth = request.authorization
        if auth is None or auth.username != self.account_sid or auth.password != self.auth_token:
            raise TwilioApiError(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        path = request.path
        if (answer := self.calls.route(request)) is not None:
            body, status = answer if isinstance(answer, tuple) else (answer, 200)
            return json_response(body, status)
        if (m := _LIST.match(path)) and m["account"] == self.account_sid:
            if request.method == "POST":
                return self._create(request, environ)
            if request.method == "GET":
                return self._list(request)
            raise TwilioApiError(405, 20004, "Method not allowed")
        if (m := _ONE.match(path)) and m["account"] == self.account_sid and request.method == "GET":
            with self._lock:
                msg = self.messages.get(m["sid"])
                if msg is not None:
                    return json_response(msg.to_json(), 200)
        if (m := _APPROVAL.match(path)) and request.method == "GET":
            return json_response(self.whatsapp.approval(m["sid"], self.account_sid), 200)
        raise TwilioApiError(404, 20404, f"The requested resource {path} was not found")

    def _roll(self, ratio: float) -> bool:
        with self._lock:
            return ratio > 0 and self._rng.random() < ratio

    def _create(self, request: Request, environ: dict[str, Any]) -> Response:
        if self._roll(self.fail_ratio_5xx):
            raise TwilioApiError(503, 20503, "Service unavailable")
        if self._roll(self.fail_ratio_20429):
            raise TwilioApiError(429, 20429, "Too Many Requests", {"Retry-After": "1"})
        form = request.form
        to, from_, service = form.get("To"), form.get("From"), form.get("MessagingServiceSid")
        body, callback = form.get("Body", ""), form.get("StatusCallback")
        content_sid, variables = form.get("ContentSid"), form.get("ContentVariables")
        if content_sid:
            body = self.whatsapp.render(content_sid, variables)
        validity = validate_create(to, from_, service, body, form.get("ValidityPeriod"), numbers=self.numbers,
                                   services=self.messaging_service_sids)  # fmt: skip
        assert to is not None
        self._check_rate(service or from_ or "")
        now = self.clock.now()
        msg = SandboxMessage(
            sid=new_sid("SM"),
            account_sid=self.account_sid,
            to=to,
            from_=from_ or "",
            body=body,
            status="accepted" if service else "queued",
            num_segments=0 if service else count_segments(body).segments,  # Twilio: 0 until a sender is picked
            direction="outbound-api",
            date_created=now,
            date_updated=now,
            messaging_service_sid=service,
            status_callback=callback,
            validity_period=validity,
        )
        with self._lock:
            self.messages[msg.sid] = msg
            self._counts[(to, body)] += 1
            self.requests.append(
                RecordedRequest(
                    msg.sid, to, from_, service, body, callback, validity, now,
                    content_sid=content_sid, content_variables=variables,
                    media_urls=tuple(form.getlist("MediaUrl")),
                )
            )  # fmt: skip
            whatsapp_text = to.startswith(WHATSAPP) and not content_sid
            if whatsapp_text and not self.whatsapp.window_open(to, from_ or "", self.clock.now().timestamp()):
                self._outside_window.add(msg.sid)
            response_body = msg.to_json()
        self._start_progression(msg)
        if self._roll(self.timeout_ratio):
            self._drop_connection(environ)
        return json_response(response_body, 201)

    def _check_rate(self, sender: str) -> None:
        limit = self.rate_limit_per_sender
        if not limit:
            return
        now = time.monotonic()
        with self._lock:
            window = self._sent_at[sender]
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                self.rate_limited += 1
                raise TwilioApiError(429, 20429, "Too Many Requests", {"Retry-After": "1"})
            window.append(now)

    def _drop_connection(self, environ: dict[str, Any]) -> None:
        """The message is accepted, but the client never sees the reply: the ambiguous case."""
        if self.timeout_mode == "hang":
            self._released.wait(self.timeout_hang_s)
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # the client may already have gone
                sock.shutdown(socket.SHUT_RDWR)

    # status progression ----------------------------------------------------------------------------------------
    def _start_progression(self, msg: SandboxMessage) -> None:
        """All steps run on the engine's single timer thread, so one message's callbacks are enqueued in order."""
        final, code = self._outcome(msg.to)
        if msg.sid in self._outside_window:
            final, code = "failed", 63016  # Meta refuses free-form text outside the 24-hour window
        to_sent, to_final = self.step_delays
        if msg.validity_period is not None and msg.validity_period < to_sent:
            final, code = "failed", 30036  # stayed queued longer than its ValidityPeriod
        self._engine.schedule(0, lambda: self._transition(msg.sid, "queued"))
        if final == "failed":
            self._engine.schedule(to_sent, lambda: self._transition(msg.sid, "failed", code))
            return
        self._engine.schedule(to_sent, lambda: self._transition(msg.sid, "sent"))
        self._engine.schedule(to_sent + to_final, lambda: self._transition(msg.sid, final, code))

    def _outcome(self, to: str) -> tuple[str, int | None]:
        if to in self.destination_outcomes:
            return self.destination_outcomes[to]
        if self._roll(self.failure_ratio):
            return self.failure_outcome
        return "delivered", None

    def _transition(self, sid: str, status: str, error_code: int | None = None) -> None:
        now = self.clock.now()
        with self._lock:
            msg = self.messages[sid]
            msg.move_to(status, now, error_code, self.numbers)
            if not msg.status_callback or not self.callbacks_enabled:
                return
            params, url = msg.callback_params(now), msg.status_callback
        self._engine.enqueue_callback(sid, url, params, new_sid("ID"))

    def _list(self, request: Request) -> Response:
        with self._lock:
            messages = list(self.messages.values())
        return json_response(list_page(messages, request.args, self.account_sid), 200)
