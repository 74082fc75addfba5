"""Sandbox Twilio calls: a TwiML interpreter for call legs, on simulated time.

Verbs: <Say> (and <Play>, <Pause>) take simulated time; <Gather> answers with the digits queued on the call (or
times out and falls through); <Dial> with <Number> creates the child leg ("outbound-dial", ParentCallSid set) that
rings, answers or fails per the sandbox's outcomes, and honours timeLimit (talk time from the answer) and timeout
(ringing); <Dial><Conference> joins a named room (endConferenceOnExit ends it for the others); <Redirect>,
<Hangup>, <Reject>. When a <Dial> ends, its action URL is requested with DialCallStatus / DialCallSid /
DialCallDuration and its TwiML followed; without one, the next verb runs, and a document that runs out hangs up.

Bridged legs behave as on Twilio: the child hanging up (or being cut by timeLimit) ends the parent's <Dial>; the
parent hanging up ends the child; updating either leg with new TwiML takes it out of the bridge (the parent's
<Dial> then ends and requests its action). Every webhook is POSTed signed with X-Twilio-Signature.

All state changes happen under the calls lock; webhook requests run on their own threads outside it.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import requests

from kizuna.local.sandbox_twilio_call_model import EVENT_STATUSES, SandboxCall, callback_params
from kizuna.local.sandbox_twilio_model import new_sid

if TYPE_CHECKING:
    from kizuna.local.sandbox_twilio_calls import SandboxCalls

log = logging.getLogger(__name__)

DEFAULT_DIAL_TIME_LIMIT_S = 14400  # Twilio's maximum call length (4 h)
DEFAULT_DIAL_TIMEOUT_S = 30
DEFAULT_GATHER_TIMEOUT_S = 5


@dataclass
class _Dial:
    action: str | None
    time_limit_s: float
    child_sid: str | None = None
    room: str | None = None
    answered_s: float | None = None


@dataclass
class Leg:
    call: SandboxCall
    gen: int = 0  # bumped whenever the leg's program is replaced or ends: stale scheduled steps see it and stop
    doc_url: str | None = None
    verbs: list[ET.Element] = field(default_factory=list)
    pc: int = 0
    talk_s: float | None = None  # the party hangs up this long after answering (None: only when cut)
    dial: _Dial | None = None
    bridge: str | None = None  # the leg this one is talking to through <Dial><Number>
    room: str | None = None
    end_conference_on_exit: bool = False
    pending_twiml: str | None = None  # TwiML given before the call was answered


class CallRunner:
    def __init__(self, calls: SandboxCalls) -> None:
        self.calls = calls
        self.legs: dict[str, Leg] = {}
        self.rooms: dict[str, set[str]] = {}

    # scheduling ----------------------------------------------------------------------------------------------
    def at(self, at_s: float, step: Callable[[float], None]) -> None:
        sim = self.calls.sim

        def run() -> None:
            with self.calls.lock:
                sim.reached(at_s)
                step(at_s)

        self.calls.timer.schedule(sim.real_delay(at_s), run)

    def at_for(self, leg: Leg, at_s: float, step: Callable[[float], None]) -> None:
        """A step of the leg's current program: skipped if the program changed or the leg ended meanwhile."""
        gen = leg.gen
        self.at(at_s, lambda t: step(t) if leg.gen == gen and not leg.call.terminal else None)

    # status --------------------------------------------------------------------------------------------------
    def set_status(self, leg: Leg, status: str, t: float) -> None:
        call = leg.call
        call.status, call.date_updated = status, self.calls.sim.moment(t)
        call.history.append(status)
        if call.status_callback and any(status in EVENT_STATUSES[e] for e in call.status_callback_events):
            params = callback_params(call, status, self.calls.sim.moment(t))
            call.sequence += 1
            call.callbacks.append(params)
            if self.calls.callbacks_enabled:
                self.calls.engine.enqueue_callback(call.sid, call.status_callback, params, new_sid("ID"))

    def answer(self, leg: Leg, t: float) -> None:
        leg.call.answered_s, leg.call.start_time = t, self.calls.sim.moment(t)
        self.set_status(leg, "in-progress", t)
        if leg.talk_s is not None:
            self.at(t + leg.talk_s, lambda t2: self.end(leg, "completed", t2))  # the person hangs up
        if leg.call.time_limit_s is not None:
            self.at(t + leg.call.time_limit_s, lambda t2: self.end(leg, "completed", t2))

    def end(self, leg: Leg, status: str, t: float) -> None:
        call = leg.call
        if call.terminal:
            return
        leg.gen += 1
        call.ended_s, call.end_time = t, self.calls.sim.moment(t)
        call.duration = round(t - call.answered_s) if call.answered_s is not None else 0
        self.set_status(leg, status, t)
        self.leave_bridge(leg, t)
        if leg.dial is not None:  # hung up during its <Dial>: a child still ringing is canceled
            dial, leg.dial = leg.dial, None
            if dial.child_sid and dial.child_sid in self.legs:
                self.end(self.legs[dial.child_sid], "canceled", t)
            if dial.action:  # Twilio still requests the action (the caller is gone; its TwiML is ignored)
                extra = {"DialCallStatus": "canceled" if dial.answered_s is None else "completed"}
                if dial.child_sid:
                    extra["DialCallSid"] = dial.child_sid
                if dial.answered_s is not None:
                    extra["DialCallDuration"] = str(round(t - dial.answered_s))
                self.fetch(leg, dial.action, extra, ignore_response=True)
        self.leave_room(leg, t)
        self.calls.changed()

    def leave_bridge(self, leg: Leg, t: float) -> None:
        if leg.bridge is None or leg.bridge not in self.legs:
            return
        other = self.legs[leg.bridge]
        leg.bridge = other.bridge = None
        if other.dial is not None and other.dial.child_sid == leg.call.sid:
            answered = other.dial.answered_s if other.dial.answered_s is not None else t
            self.dial_ended(other, t, "completed", round(t - answered))
        elif not other.call.terminal:
            self.end(other, "completed", t)

    def leave_room(self, leg: Leg, t: float) -> None:
        if leg.room is None:
            return
        members = self.rooms.get(leg.room, set())
        members.discard(leg.call.sid)
        ends_room, leg.room = leg.end_conference_on_exit, None
        if ends_room:
            for sid in sorted(members):
                other = self.legs[sid]
                other.room = None
                self.dial_ended(other, t, "completed", None)
            members.clear()

    # programs ------------------------------------------------------------------------------------------------
    def load(self, leg: Leg, twiml: str | bytes, url: str | None, t: float) -> None:
        try:
            root = ET.fromstring(twiml)
        except ET.ParseError as exc:
            leg.call.errors.append(f"12100 Document parse failure: {exc}")
            self.end(leg, "completed" if leg.call.answered_s is not None else "failed", t)
            return
        if root.tag != "Response":
            leg.call.errors.append(f"12102 Invalid root element {root.tag}")
            self.end(leg, "failed", t)
            return
        leg.gen += 1
        leg.verbs, leg.pc, leg.doc_url = list(root), 0, url or leg.doc_url
        if leg.call.answered_s is None and not (leg.verbs and leg.verbs[0].tag == "Reject"):
            self.answer(leg, t)
        self.run(leg, t)

    def fetch(self, leg: Leg, url: str, extra: dict[str, str], *, ignore_response: bool = False) -> None:
        """POST the signed webhook on its own thread; follow the TwiML it returns (unless the leg moved on)."""
        target = urljoin(leg.doc_url or "", url)
        params = leg.call.request_params() | extra
        gen = leg.gen

        def request() -> None:
            try:
                response = self.calls.engine.post_signed(target, params, new_sid("ID"))
                # Bytes: the XML declaration says the encoding (requests would guess ISO-8859-1 for text/xml).
                body, status = response.content, response.status_code
            except requests.RequestException as exc:
                body, status = b"", None
                log.warning("sandbox twilio: webhook %s failed: %s", target, exc)
            if ignore_response:
                return
            with self.calls.lock:
                if leg.gen != gen or leg.call.terminal:
                    return
                t = self.calls.sim.now()
                if status is None or status >= 400:
                    leg.call.errors.append(f"11200 HTTP retrieval failure: {target} answered {status}")
                    self.end(leg, "completed" if leg.call.answered_s is not None else "failed", t)
                else:
                    self.load(leg, body, target, t)

        self.calls.run_request(request)

    def run(self, leg: Leg, t: float) -> None:
        while leg.pc < len(leg.verbs):
            verb = leg.verbs[leg.pc]
            handler = getattr(self, f"verb_{verb.tag.lower()}", None)
            if handler is None:
                leg.call.errors.append(f"12200 Unsupported verb <{verb.tag}>")
                leg.pc += 1
                continue
            if handler(leg, verb, t):  # True: the verb waits; it resumes the program itself
                return
            leg.pc += 1
        self.end(leg, "completed", t)

    def resume(self, leg: Leg, t: float) -> None:
        leg.pc += 1
        self.run(leg, t)

    def spoken_seconds(self, leg: Leg, verb: ET.Element) -> float:
        loops = max(int(verb.get("loop", "1") or 1), 1)
        if verb.tag == "Say":
            text = "".join(verb.itertext()).strip()
            for _ in range(loops):
                leg.call.said.append((text, verb.get("language")))
            return loops * max(1.0, math.ceil(len(text) / self.calls.say_chars_per_second))
        if verb.tag == "Pause":
            return float(verb.get("length", "1"))
        return float(loops)  # <Play>: a short clip

    # verbs: each returns True when it waits ------------------------------------------------------------------
    def verb_say(self, leg: Leg, verb: ET.Element, t: float) -> bool:
        self.at_for(leg, t + self.spoken_seconds(leg, verb), lambda t2: self.resume(leg, t2))
        return True

    verb_play = verb_pause = verb_say

    def verb_gather(self, leg: Leg, verb: ET.Element, t: float) -> bool:
        prompt = sum(self.spoken_seconds(leg, child) for child in verb if child.tag in ("Say", "Play", "Pause"))
        action = verb.get("action") or leg.doc_url or ""
        if leg.call.digits:
            digits = leg.call.digits.popleft()
            self.at_for(leg, t + prompt + 0.5 * len(digits), lambda _t: self.fetch(leg, action, {"Digits": digits}))
        elif verb.get("actionOnEmptyResult") == "true":
            timeout = float(verb.get("timeout", DEFAULT_GATHER_TIMEOUT_S))
            self.at_for(leg, t + prompt + timeout, lambda _t: self.fetch(leg, action, {}))
        else:
            timeout = float(verb.get("timeout", DEFAULT_GATHER_TIMEOUT_S))
            self.at_for(leg, t + prompt + timeout, lambda t2: self.resume(leg, t2))
        return True

    def verb_hangup(self, leg: Leg, verb: ET.Element, t: float) -> bool:
        self.end(leg, "completed", t)
        return True

    def verb_reject(self, leg: Leg, verb: ET.Element, t: float) -> bool:
        self.end(leg, "busy", t)
        return True

    def verb_redirect(self, leg: Leg, verb: ET.Element, t: float) -> bool:
        self.fetch(leg, (verb.text or "").strip(), {})
        return True

    def verb_dial(self, leg: Leg, verb: ET.Element, t: float) -> bool:
        dial = _Dial(verb.get("action"), float(verb.get("timeLimit", DEFAULT_DIAL_TIME_LIMIT_S)))
        nouns = [child for child in verb if child.tag in ("Number", "Conference")]
        if not nouns and (verb.text or "").strip():
            nouns = [ET.Element("Number")]
            nouns[0].text = verb.text
        if not nouns:
            return False
        leg.dial = dial
        noun = nouns[0]
        if noun.tag == "Conference":
            self.join_room(leg, dial, noun, t)
        else:
            self.dial_number(leg, dial, noun, verb, t)
        return True

    def join_room(self, leg: Leg, dial: _Dial, noun: ET.Element, t: float) -> None:
        room = (noun.text or "").strip()
        dial.room, dial.answered_s = room, t
        leg.room, leg.end_conference_on_exit = room, noun.get("endConferenceOnExit") == "true"
        self.rooms.setdefault(room, set()).add(leg.call.sid)
        self.at_for(leg, t + dial.time_limit_s, lambda t2: self.conference_limit(leg, dial, t2))

    def conference_limit(self, leg: Leg, dial: _Dial, t: float) -> None:
        if leg.dial is dial:
            self.leave_room(leg, t)
            self.dial_ended(leg, t, "completed", None)

    def dial_number(self, leg: Leg, dial: _Dial, noun: ET.Element, verb: ET.Element, t: float) -> None:
        number = (noun.text or "").strip()
        events = frozenset((noun.get("statusCallbackEvent") or "completed").replace(",", " ").split())
        child = self.calls.new_call(
            to=number,
            from_=verb.get("callerId") or leg.call.from_,
            direction="outbound-dial",
            parent_call_sid=leg.call.sid,
            status_callback=noun.get("statusCallback"),
            status_callback_events=events,
            t=t,
        )
        outcome, talk_s = self.calls.outcome_for(number)
        child_leg = self.legs[child.sid] = Leg(child, talk_s=talk_s)
        dial.child_sid = child.sid
        self.set_status(child_leg, "initiated", t)
        if outcome == "failed":
            self.child_failed(leg, child_leg, dial, "failed", t)
            return
        ring_at = t + 1.0
        self.at(ring_at, lambda t2: self.set_status(child_leg, "ringing", t2) if not child.terminal else None)
        timeout = float(verb.get("timeout", DEFAULT_DIAL_TIMEOUT_S))
        ring_s = self.calls.ring_seconds
        if outcome == "busy":
            self.at(ring_at + 1.0, lambda t2: self.child_failed(leg, child_leg, dial, "busy", t2))
        elif outcome == "no-answer" or ring_s > timeout:
            self.at(t + timeout, lambda t2: self.child_failed(leg, child_leg, dial, "no-answer", t2))
        else:
            self.at(ring_at + ring_s, lambda t2: self.child_answered(leg, child_leg, dial, t2))

    def child_failed(self, parent: Leg, child: Leg, dial: _Dial, status: str, t: float) -> None:
        if child.call.terminal:
            return
        self.end(child, status, t)
        if parent.dial is dial:
            self.dial_ended(parent, t, status, None)

    def child_answered(self, parent: Leg, child: Leg, dial: _Dial, t: float) -> None:
        if child.call.terminal or parent.dial is not dial:
            return
        self.answer(child, t)
        dial.answered_s = t
        parent.bridge, child.bridge = child.call.sid, parent.call.sid
        self.at(t + dial.time_limit_s, lambda t2: self.dial_limit(parent, child, dial, t2))

    def dial_limit(self, parent: Leg, child: Leg, dial: _Dial, t: float) -> None:
        if parent.dial is dial and parent.bridge == child.call.sid:
            parent.bridge = child.bridge = None
            self.end(child, "completed", t)
            self.dial_ended(parent, t, "completed", round(t - (dial.answered_s or t)))

    def dial_ended(self, leg: Leg, t: float, dial_status: str, dial_duration: int | None) -> None:
        """The leg's <Dial> is over: request its action, or go on with the next verb."""
        dial, leg.dial = leg.dial, None
        if leg.call.terminal or dial is None:
            return
        leg.gen += 1
        if dial.action:
            extra = {"DialCallStatus": dial_status}
            if dial.child_sid:
                extra["DialCallSid"] = dial.child_sid
            if dial_duration is not None:
                extra["DialCallDuration"] = str(dial_duration)
                extra["DialBridged"] = "true"
            self.fetch(leg, dial.action, extra)
        else:
            self.resume(leg, t)

    # updates from the REST API -------------------------------------------------------------------------------
    def redirect(self, leg: Leg, twiml: str | None, url: str | None, t: float) -> None:
        """calls(sid).update(twiml=... | url=...): leave whatever the leg is doing and run the new TwiML."""
        if leg.call.answered_s is None and twiml is not None:
            leg.pending_twiml = twiml
            return
        leg.gen += 1
        if leg.dial is not None:
            dial, leg.dial = leg.dial, None
            if dial.child_sid and dial.child_sid in self.legs and leg.bridge is None:
                self.end(self.legs[dial.child_sid], "canceled", t)  # still ringing
        if leg.bridge is not None:
            other = self.legs[leg.bridge]
            leg.bridge = other.bridge = None
            if other.dial is not None and other.dial.child_sid == leg.call.sid:  # a child left: the parent goes on
                self.dial_ended(other, t, "completed", round(t - (other.dial.answered_s or t)))
            else:  # the parent left: Twilio hangs up the child
                self.end(other, "completed", t)
        self.leave_room(leg, t)
        if twiml is not None:
            self.load(leg, twiml, None, t)
        elif url:
            leg.doc_url = url
            self.fetch(leg, url, {})
