"""Sandbox Twilio: the Calls REST subset the twilio SDK calls, and simulated inbound calls.

    client.calls.create(to=, from_=, twiml= | url=, status_callback=, status_callback_event=[...], time_limit=)
    client.calls(sid).fetch() / .update(twiml= | url= | status="completed" | "canceled") / client.calls.list(...)

Calls move queued → initiated → ringing → in-progress → completed (or busy / no-answer / failed / canceled) on
simulated time (`time_scale` real seconds per simulated second), each subscribed transition POSTing a signed status
callback with the parameters Twilio sends (CallSid, ParentCallSid for a dialed leg, CallStatus, CallDuration,
Direction, From, To, Timestamp, SequenceNumber, CallbackSource). The person answering a number behaves as
`call_outcomes[number] = (outcome, talk_seconds)` says: "completed" answers after `ring_seconds` and hangs up after
talk_seconds (None: stays until the call is cut or the TwiML ends), "busy", "no-answer", "failed".

`simulate_inbound_call(from_, to, digits=[...], hangup_after=...)` rings one of the sandbox's numbers: it POSTs the
signed voice webhook to the number's voice URL (`configure_number`) and follows the TwiML (see
sandbox_twilio_twiml). Each leg's record (`call(sid)`, `legs(sid)`) keeps its status history, callbacks, what was
said, updates and TwiML errors.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request

from kizuna.clock import Clock
from kizuna.local.sandbox_twilio_call_model import (
    EVENT_STATUSES,
    NumberConfig,
    SandboxCall,
    SimTime,
    list_calls_page,
)
from kizuna.local.sandbox_twilio_delivery import DeliveryEngine
from kizuna.local.sandbox_twilio_model import API_PREFIX, TwilioApiError, is_address, new_sid
from kizuna.local.sandbox_twilio_twiml import CallRunner, Leg

log = logging.getLogger(__name__)
_LIST = re.compile(rf"^{API_PREFIX}/(?P<account>[^/]+)/Calls\.json$")
_ONE = re.compile(rf"^{API_PREFIX}/(?P<account>[^/]+)/Calls/(?P<sid>CA[0-9a-f]+)\.json$")
OUTCOMES = frozenset({"completed", "busy", "no-answer", "failed"})


class _Timer:
    """One thread running call steps when due. Unlike the Messages engine's timers, a pending step does not make
    the sandbox busy: a call's four-hour <Dial> limit is still queued long after the call ended."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="sandbox-twilio-calls", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def schedule(self, delay_s: float, action: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._seq), action))
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                wait = self._heap[0][0] - time.monotonic() if self._heap else 0.5
                if not self._heap or wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, action = heapq.heappop(self._heap)
            try:
                action()
            except Exception:  # a broken step must not stop every other call
                log.exception("sandbox twilio: call step failed")


class SandboxCalls:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        numbers: set[str],
        clock: Clock,
        time_scale: float = 1.0,
        callback_attempts: int = 3,
        callback_retry_backoff_s: float = 0.05,
    ) -> None:
        self.account_sid = account_sid
        self.numbers = numbers  # shared with the Messages sandbox: the account's phone numbers
        self.sim = SimTime(clock, time_scale)
        self.lock = threading.RLock()
        self.engine = DeliveryEngine(auth_token, attempts=callback_attempts, retry_backoff_s=callback_retry_backoff_s)
        self.timer = _Timer()
        # knobs, settable at runtime
        self.call_outcomes: dict[str, tuple[str, float | None]] = {}
        self.default_outcome: tuple[str, float | None] = ("completed", None)
        self.ring_seconds = 3.0
        self.say_chars_per_second = 8.0
        self.callbacks_enabled = True
        self.number_config: dict[str, NumberConfig] = {}
        # observation
        self.calls: dict[str, SandboxCall] = {}
        self._runner = CallRunner(self)
        self._requests = 0
        self._idle = threading.Condition(self.lock)

    @property
    def time_scale(self) -> float:
        return self.sim.scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        self.sim.scale = value

    def start(self) -> None:
        self.engine.start()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        self.engine.stop()

    # configuration and observation ---------------------------------------------------------------------------
    def configure_number(self, number: str, *, voice_url: str | None, status_callback: str | None = None) -> None:
        """Set the number's voice webhook (A CALL COMES IN) and call status callback, as in Twilio's console."""
        self.numbers.add(number)
        self.number_config[number] = NumberConfig(voice_url, status_callback)

    def outcome_for(self, number: str) -> tuple[str, float | None]:
        outcome = self.call_outcomes.get(number, self.default_outcome)
        if outcome[0] not in OUTCOMES:
            raise ValueError(f"call outcome {outcome[0]!r} is not one of {sorted(OUTCOMES)}")
        return outcome

    def call(self, sid: str) -> SandboxCall:
        with self.lock:
            return self.calls[sid]

    def legs(self, sid: str) -> list[SandboxCall]:
        """The call and every leg it dialed, oldest first."""
        with self.lock:
            children = [c for c in self.calls.values() if c.parent_call_sid == sid]
            return [self.calls[sid], *sorted(children, key=lambda c: c.created_s)]

    def wait_for_call(self, sid: str, timeout: float = 10.0) -> bool:
        """True once the call and all its legs have ended and their callbacks (and webhooks) are delivered."""
        with self._idle:
            if not self._idle.wait_for(lambda: all(c.terminal for c in self.legs(sid)), timeout):
                return False
        return self.wait_for_idle(timeout)

    def wait_for_idle(self, timeout: float = 5.0) -> bool:
        """Every call ended, no webhook in flight, every callback delivered. A call that never ends keeps it busy."""
        with self._idle:
            done = self._idle.wait_for(
                lambda: self._requests == 0 and all(c.terminal for c in self.calls.values()), timeout
            )
        return done and self.engine.wait_for_idle(timeout)

    def changed(self) -> None:
        self._idle.notify_all()

    def run_request(self, request: Callable[[], None]) -> None:
        """Run a webhook request on its own thread (never on the timer thread, never under the lock)."""
        with self.lock:
            self._requests += 1

        def run() -> None:
            try:
                request()
            finally:
                with self.lock:
                    self._requests -= 1
                    self._idle.notify_all()

        threading.Thread(target=run, name="sandbox-twilio-webhook", daemon=True).start()

    # calls -----------------------------------------------------------------------------------------------------
    def new_call(
        self,
        *,
        to: str,
        from_: str,
        direction: str,
        t: float,
        parent_call_sid: str | None = None,
        status_callback: str | None = None,
        status_callback_events: Iterable[str] = ("completed",),
        time_limit_s: float | None = None,
    ) -> SandboxCall:
        events = frozenset(status_callback_events)
        unknown = events - EVENT_STATUSES.keys()
        if unknown:
            raise TwilioApiError(400, 21626, f"Invalid StatusCallbackEvent {sorted(unknown)}")
        call = SandboxCall(
            sid=new_sid("CA"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            direction=direction,
            status="queued",
            created_s=t,
            date_created=self.sim.moment(t),
            parent_call_sid=parent_call_sid,
            status_callback=status_callback,
            status_callback_events=events,
            time_limit_s=time_limit_s,
        )
        self.calls[call.sid] = call
        return call

    def simulate_inbound_call(
        self,
        from_: str,
        to: str,
        *,
        digits: Iterable[str] = (),
        hangup_after: float | None = None,
        url: str | None = None,
    ) -> str:
        """Ring `to` (one of the sandbox's numbers) from `from_`; returns the inbound call's CallSid.

        `digits` answer successive <Gather>s; `hangup_after` is when the caller hangs up, in simulated seconds
        after the call is answered (None: when the TwiML or the other party ends the call)."""
        config = self.number_config.get(to)
        target = url or (config.voice_url if config else None)
        if not target:
            raise ValueError(f"{to} has no voice URL: configure_number({to!r}, voice_url=...) first")
        with self.lock:
            t = self.sim.now()
            call = self.new_call(
                to=to,
                from_=from_,
                direction="inbound",
                t=t,
                status_callback=config.status_callback if config else None,
            )
            call.digits = deque(digits)
            leg = self._runner.legs[call.sid] = Leg(call, talk_s=hangup_after, doc_url=target)
            self._runner.set_status(leg, "ringing", t)
            self._runner.fetch(leg, target, {})
        return call.sid

    # REST ------------------------------------------------------------------------------------------------------
    def route(self, request: Request) -> dict[str, Any] | tuple[dict[str, Any], int] | None:
        """The JSON answer (and status) for a Calls request, or None when the path is not a Calls path."""
        if (m := _LIST.match(request.path)) and m["account"] == self.account_sid:
            if request.method == "POST":
                return self._create(request), 201
            if request.method == "GET":
                with self.lock:
                    return list_calls_page(list(self.calls.values()), request.args, self.account_sid)
            raise TwilioApiError(405, 20004, "Method not allowed")
        if (m := _ONE.match(request.path)) and m["account"] == self.account_sid:
            with self.lock:
                call = self.calls.get(m["sid"])
                if call is None:
                    raise TwilioApiError(404, 20404, f"The requested resource {request.path} was not found")
                if request.method == "POST":
                    self._update(call, request)
                return call.to_json()
        return None

    def _create(self, request: Request) -> dict[str, Any]:
        form = request.form
        to, from_ = form.get("To"), form.get("From")
        twiml, url = form.get("Twiml"), form.get("Url")
        if not to:
            raise TwilioApiError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise TwilioApiError(400, 21213, "No 'From' number is specified")
        if not is_address(to):
            raise TwilioApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if from_ not in self.numbers:
            raise TwilioApiError(400, 21210, f"The source phone number provided, {from_}, is not yet verified")
        if not twiml and not url:
            raise TwilioApiError(400, 21205, "Url parameter is required.")
        time_limit = form.get("TimeLimit")
        with self.lock:
            t = self.sim.now()
            call = self.new_call(
                to=to,
                from_=from_,
                direction="outbound-api",
                t=t,
                status_callback=form.get("StatusCallback"),
                status_callback_events=form.getlist("StatusCallbackEvent") or ("completed",),
                time_limit_s=float(time_limit) if time_limit else None,
            )
            outcome, talk_s = self.outcome_for(to)
            leg = self._runner.legs[call.sid] = Leg(call, talk_s=talk_s, doc_url=url)
            self._progress(leg, outcome, twiml, url, float(form.get("Timeout", 60)), t)
            return call.to_json()

    def _progress(self, leg: Leg, outcome: str, twiml: str | None, url: str | None, timeout: float, t: float) -> None:
        runner = self._runner
        # The create request is answered "queued"; Twilio starts dialing right after.
        runner.at(t, lambda t2: runner.set_status(leg, "initiated", t2) if not leg.call.terminal else None)
        if outcome == "failed":
            runner.at(t, lambda t2: runner.end(leg, "failed", t2))
            return
        runner.at(t + 1.0, lambda t2: runner.set_status(leg, "ringing", t2) if not leg.call.terminal else None)
        if outcome == "busy":
            runner.at(t + 2.0, lambda t2: runner.end(leg, "busy", t2))
        elif outcome == "no-answer" or self.ring_seconds > timeout:
            runner.at(t + timeout, lambda t2: runner.end(leg, "no-answer", t2))
        else:

            def answered(t2: float) -> None:
                if leg.call.terminal:
                    return
                runner.answer(leg, t2)
                program = leg.pending_twiml or twiml
                if program is not None:
                    runner.load(leg, program, None, t2)
                elif url:
                    runner.fetch(leg, url, {})

            runner.at(t + 1.0 + self.ring_seconds, answered)

    def _update(self, call: SandboxCall, request: Request) -> None:
        form = request.form
        call.updates.append(dict(form))
        status, twiml, url = form.get("Status"), form.get("Twiml"), form.get("Url")
        leg = self._runner.legs[call.sid]
        t = self.sim.now()
        if status in ("completed", "canceled"):
            if call.terminal:
                return
            if call.answered_s is None:
                self._runner.end(leg, "canceled", t)
            elif status == "completed":
                self._runner.end(leg, "completed", t)
            return  # canceled on an answered call: Twilio leaves it alone
        if status:
            raise TwilioApiError(400, 21218, f"Invalid call status {status!r}")
        if twiml is None and not url:
            raise TwilioApiError(400, 21205, "Url or Twiml is required to redirect a call.")
        if call.terminal:
            raise TwilioApiError(400, 21220, "Call is not in-progress. Cannot redirect.")
        self._runner.redirect(leg, twiml, url, t)
