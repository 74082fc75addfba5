"""The sandbox Twilio's Calls API and simulated inbound calls, driven by the real twilio SDK over loopback HTTP, with
a real webhook server that serves TwiML and checks every request's X-Twilio-Signature."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from kizuna.local.sandbox_twilio import VALID_FROM, SandboxTwilio

CLIENT = "+819011112222"
EXPERT = "+819033334444"
TIME_SCALE = 0.002  # one simulated second is 2 ms


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass


class TwimlServer:
    """Answers each path with TwiML (a string, or a function of the form) and records every request."""

    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)
        self.routes: dict[str, str | Callable[[dict[str, str]], str]] = {}
        self.requests: list[tuple[str, dict[str, str], bool]] = []  # (path, form, signature valid)
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self.base = f"http://127.0.0.1:{self._server.server_port}"

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        form = dict(request.form)
        valid = self.validator.validate(request.url, form, request.headers.get("X-Twilio-Signature", ""))
        with self._lock:
            self.requests.append((request.path, form, valid))
        route = self.routes.get(request.path, "<Response/>")
        body = route(form) if callable(route) else route
        return Response(body, mimetype="text/xml")(environ, start_response)

    def forms(self, path: str) -> list[dict[str, str]]:
        with self._lock:
            return [form for p, form, _ in self.requests if p == path]

    def __enter__(self) -> TwimlServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def sandbox() -> Iterator[SandboxTwilio]:
    with SandboxTwilio(call_time_scale=TIME_SCALE) as sb:
        yield sb


@pytest.fixture
def client(sandbox: SandboxTwilio) -> Client:
    c = Client(sandbox.account_sid, sandbox.auth_token, http_client=TwilioHttpClient(timeout=5))
    c.api.base_url = sandbox.base_url
    return c


@pytest.fixture
def web(sandbox: SandboxTwilio) -> Iterator[TwimlServer]:
    with TwimlServer(sandbox.auth_token) as server:
        yield server


def statuses(forms: list[dict[str, str]], sid: str) -> list[str]:
    return [f["CallStatus"] for f in forms if f["CallSid"] == sid]


def test_api_call_says_its_message_and_reports_every_subscribed_status(sandbox, client, web):
    # Given a callee who listens to the end
    twiml = VoiceResponse()
    twiml.say("ご予約の確認です。明日十時にお待ちしております。", language="ja-JP")
    # When a call is created with TwiML and every status event subscribed
    call = client.calls.create(
        to=CLIENT,
        from_=VALID_FROM,
        twiml=str(twiml),
        status_callback=f"{web.base}/status",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    assert call.status == "queued" and call.direction == "outbound-api"
    assert sandbox.calls.wait_for_call(call.sid)
    # Then Twilio's progression was called back, signed, in order, and the TwiML was spoken in Japanese
    forms = web.forms("/status")
    assert statuses(forms, call.sid) == ["initiated", "ringing", "in-progress", "completed"]
    assert all(valid for _, _, valid in web.requests)
    assert [f["SequenceNumber"] for f in forms] == ["0", "1", "2", "3"]
    said_seconds = -(-len("ご予約の確認です。明日十時にお待ちしております。") // 8)
    assert forms[-1]["CallDuration"] == str(said_seconds)
    assert forms[-1]["Direction"] == "outbound-api" and forms[-1]["From"] == VALID_FROM
    assert sandbox.calls.call(call.sid).said == [("ご予約の確認です。明日十時にお待ちしております。", "ja-JP")]
    fetched = client.calls(call.sid).fetch()
    assert (fetched.status, fetched.duration) == ("completed", str(said_seconds))


@pytest.mark.parametrize("outcome", ["busy", "no-answer", "failed"])
def test_unanswered_outcomes_end_with_zero_duration(sandbox, client, web, outcome):
    sandbox.call_outcomes[CLIENT] = (outcome, None)
    call = client.calls.create(
        to=CLIENT,
        from_=VALID_FROM,
        twiml="<Response><Say>x</Say></Response>",
        status_callback=f"{web.base}/status",
        timeout=10,
    )
    assert sandbox.calls.wait_for_call(call.sid)
    final = web.forms("/status")[-1]
    assert (final["CallStatus"], final["CallDuration"]) == (outcome, "0")


def test_time_limit_cuts_a_call_the_callee_would_keep_open(sandbox, client, web):
    sandbox.call_outcomes[CLIENT] = ("completed", None)
    call = client.calls.create(
        to=CLIENT,
        from_=VALID_FROM,
        twiml='<Response><Pause length="600"/></Response>',
        status_callback=f"{web.base}/status",
        time_limit=30,
    )
    assert sandbox.calls.wait_for_call(call.sid)
    assert web.forms("/status")[-1]["CallDuration"] == "30"


def test_update_hangs_up_and_a_finished_call_cannot_be_redirected(sandbox, client, web):
    sandbox.call_outcomes[CLIENT] = ("completed", None)
    call = client.calls.create(
        to=CLIENT,
        from_=VALID_FROM,
        twiml='<Response><Pause length="3600"/></Response>',
        status_callback=f"{web.base}/status",
        status_callback_event=["answered", "completed"],
    )
    assert _until(lambda: sandbox.calls.call(call.sid).status == "in-progress")
    assert client.calls(call.sid).update(status="completed").status == "completed"
    with pytest.raises(TwilioRestException) as refused:
        client.calls(call.sid).update(twiml="<Response><Say>late</Say></Response>")
    assert refused.value.code == 21220
    assert sandbox.calls.wait_for_call(call.sid)
    assert statuses(web.forms("/status"), call.sid) == ["in-progress", "completed"]


def test_create_refuses_an_unknown_from_number(client):
    with pytest.raises(TwilioRestException) as refused:
        client.calls.create(to=CLIENT, from_="+815011112222", twiml="<Response/>")
    assert refused.value.code == 21210


def _bridge(web: TwimlServer, time_limit: int) -> None:
    """Voice URL: a PIN <Gather>; the PIN's action dials the expert with the Twilio number as caller ID."""
    gather_twiml = VoiceResponse()
    gather = Gather(num_digits=6, action=f"{web.base}/pin", timeout=10)
    gather.say("暗証番号を入力してください", language="ja-JP")
    gather_twiml.append(gather)
    web.routes["/voice"] = str(gather_twiml)

    def on_pin(form: dict[str, str]) -> str:
        response = VoiceResponse()
        if form.get("Digits") != "123456":
            response.hangup()
            return str(response)
        dial = Dial(time_limit=time_limit, caller_id=VALID_FROM, action=f"{web.base}/dialed")
        dial.number(
            EXPERT, status_callback=f"{web.base}/leg", status_callback_event="initiated ringing answered completed"
        )
        response.append(dial)
        return str(response)

    web.routes["/pin"] = on_pin
    web.routes["/dialed"] = "<Response><Hangup/></Response>"


def test_inbound_call_gathers_a_pin_and_dial_time_limit_cuts_the_bridge(sandbox, client, web):
    # Given the number's voice URL and status callback, and an expert who would talk for 200 s
    sandbox.calls.configure_number(VALID_FROM, voice_url=f"{web.base}/voice", status_callback=f"{web.base}/call")
    sandbox.call_outcomes[EXPERT] = ("completed", 200)
    _bridge(web, time_limit=61)
    # When the client calls and enters the PIN
    sid = sandbox.simulate_inbound_call(CLIENT, VALID_FROM, digits=["123456"])
    assert sandbox.calls.wait_for_call(sid)
    # Then the voice webhook got Twilio's inbound parameters, the PIN came back as Digits
    voice = web.forms("/voice")[0]
    assert (voice["CallSid"], voice["From"], voice["To"], voice["Direction"]) == (sid, CLIENT, VALID_FROM, "inbound")
    assert web.forms("/pin")[0]["Digits"] == "123456"
    # And the dialed leg is a child of the call, from the Twilio number, cut at exactly 61 s of talk
    parent, child = sandbox.calls.legs(sid)
    assert parent.said == [("暗証番号を入力してください", "ja-JP")]
    leg = web.forms("/leg")
    assert statuses(leg, child.sid) == ["initiated", "ringing", "in-progress", "completed"]
    assert {(f["ParentCallSid"], f["Direction"], f["From"], f["To"]) for f in leg} == {
        (sid, "outbound-dial", VALID_FROM, EXPERT)
    }
    assert leg[-1]["CallDuration"] == "61"
    dialed = web.forms("/dialed")[0]
    assert (dialed["DialCallStatus"], dialed["DialCallSid"]) == ("completed", child.sid)
    assert dialed["DialCallDuration"] == "61"
    # And the inbound call's own status callback reports its whole length; every request was signed
    assert [f["CallStatus"] for f in web.forms("/call")] == ["completed"]
    assert int(web.forms("/call")[0]["CallDuration"]) > 61
    assert all(valid for _, _, valid in web.requests)
    assert [c.sid for c in client.calls.list(parent_call_sid=sid)] == [child.sid]


def test_the_expert_hanging_up_ends_the_dial_with_the_talk_time(sandbox, web):
    sandbox.calls.configure_number(VALID_FROM, voice_url=f"{web.base}/voice")
    sandbox.call_outcomes[EXPERT] = ("completed", 45)
    _bridge(web, time_limit=600)
    sid = sandbox.simulate_inbound_call(CLIENT, VALID_FROM, digits=["123456"])
    assert sandbox.calls.wait_for_call(sid)
    assert web.forms("/leg")[-1]["CallDuration"] == "45"
    assert web.forms("/dialed")[0]["DialCallDuration"] == "45"


@pytest.mark.parametrize("outcome", ["busy", "no-answer"])
def test_an_expert_who_does_not_answer_is_reported_to_the_dial_action(sandbox, web, outcome):
    sandbox.calls.configure_number(VALID_FROM, voice_url=f"{web.base}/voice")
    sandbox.call_outcomes[EXPERT] = (outcome, None)
    _bridge(web, time_limit=600)
    sid = sandbox.simulate_inbound_call(CLIENT, VALID_FROM, digits=["123456"])
    assert sandbox.calls.wait_for_call(sid)
    assert web.forms("/dialed")[0]["DialCallStatus"] == outcome
    assert "DialCallDuration" not in web.forms("/dialed")[0]
    assert web.forms("/leg")[-1]["CallStatus"] == outcome


def test_a_wrong_pin_hangs_up_without_dialing(sandbox, web):
    sandbox.calls.configure_number(VALID_FROM, voice_url=f"{web.base}/voice")
    _bridge(web, time_limit=600)
    sid = sandbox.simulate_inbound_call(CLIENT, VALID_FROM, digits=["000000"])
    assert sandbox.calls.wait_for_call(sid)
    assert len(sandbox.calls.legs(sid)) == 1


def test_the_caller_hanging_up_ends_the_dialed_leg(sandbox, web):
    sandbox.calls.configure_number(VALID_FROM, voice_url=f"{web.base}/voice")
    sandbox.call_outcomes[EXPERT] = ("completed", None)
    _bridge(web, time_limit=600)
    sid = sandbox.simulate_inbound_call(CLIENT, VALID_FROM, digits=["123456"], hangup_after=100)
    assert sandbox.calls.wait_for_call(sid)
    parent, child = sandbox.calls.legs(sid)
    assert parent.duration == 100
    # 100 s after the answer, minus the PIN prompt, the digits and the ringing before the expert answered
    assert 0 < child.duration < 100
    assert web.forms("/dialed")[0]["DialCallStatus"] == "completed"


def test_redirecting_the_dialed_leg_moves_both_parties_into_a_conference(sandbox, client, web):
    # Given a bridged call with a 120 s limit
    sandbox.calls.configure_number(VALID_FROM, voice_url=f"{web.base}/voice")
    sandbox.call_outcomes[EXPERT] = ("completed", None)
    _bridge(web, time_limit=120)
    warning = '<Response><Say language="ja-JP">残り1分です</Say><Dial><Conference>room-1</Conference></Dial></Response>'
    web.routes["/dialed"] = (
        '<Response><Say language="ja-JP">残り1分です</Say><Dial timeLimit="60">'
        '<Conference endConferenceOnExit="true">room-1</Conference></Dial></Response>'
    )
    sid = sandbox.simulate_inbound_call(CLIENT, VALID_FROM, digits=["123456"])
    assert _until(lambda: len(sandbox.calls.legs(sid)) == 2 and sandbox.calls.legs(sid)[1].status == "in-progress")
    child_sid = sandbox.calls.legs(sid)[1].sid
    # When the dialed leg is updated with TwiML that speaks a warning and joins a conference
    client.calls(child_sid).update(twiml=warning)
    assert sandbox.calls.wait_for_call(sid)
    # Then the parent's <Dial> ended into its action, both heard the warning, and the conference limit ended both
    parent, child = sandbox.calls.legs(sid)
    assert ("残り1分です", "ja-JP") in parent.said and ("残り1分です", "ja-JP") in child.said
    assert web.forms("/dialed")[0]["DialCallStatus"] == "completed"
    assert parent.status == child.status == "completed"
    assert child.updates == [{"Twiml": warning}]
    assert child.duration > 60


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll for a state the sandbox reaches on its own timer (not a timing assertion: only a bound on waiting)."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return True
        pause.wait(0.01)
    return condition()
