"""`make demo`, the journey: a two-week satisfaction survey on WhatsApp (endpoints that opted in) or SMS, with a split
on the reply, a reminder after a week for those who did not answer and a last message after two — published through
the Pinpoint API and run by the journey engine in local mode, fast-forwarded.

Some participants answer through the sandbox Twilio's signed inbound webhook (full-width "１", "いいえ", ...); the
split evaluates the replies a day later. The journey engine runs on its own clock here (`LocalKizuna(journey_clock=
OffsetClock())`), which the demo jumps to each of the journey's wake-ups: the two weeks take seconds while the rest of
local mode (request signatures, Twilio's callbacks) keeps the wall clock. Then the run's numbers from Pinpoint's
GetJourneyExecutionMetrics and GetJourneyExecutionActivityMetrics, and what reached the sandbox Twilio."""

from __future__ import annotations

import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kizuna.clock import OffsetClock
from kizuna.local.sandbox_twilio import VALID_FROM
from kizuna.local.system import SCHEDULED_QUEUES, LocalKizuna

TEXTS = {
    "ask": "【Kizuna】先日はご来店ありがとうございました。ご満足いただけましたか？ 1: はい 2: いいえ",
    "thanks": "【Kizuna】ご回答ありがとうございます！またのご来店をお待ちしております。",
    "sorry": "【Kizuna】ご期待に沿えず申し訳ございません。担当者より改めてご連絡いたします。",
    "remind": "【Kizuna】アンケートへのご回答をお待ちしております。ご満足いただけましたか？ 1: はい 2: いいえ",
    "last": "【Kizuna】アンケートは本日で終了します。ご協力ありがとうございました。",
}
CONTENT_SIDS = {key: f"HX{n:032x}" for n, key in enumerate(TEXTS, start=0xD3110)}  # approved WhatsApp templates
YES, NO = ["1", "はい"], ["2", "いいえ"]
MAX_WAKE_UPS = 10  # the journey wakes three times after its start; more would be a bug, not a reason to hang


@dataclass(frozen=True)
class Participant:
    endpoint_id: str
    channel: str  # SMS or WHATSAPP
    number: str
    reply: str | None  # what they answer to the first message, through the inbound webhook

    @property
    def to(self) -> str:
        return f"whatsapp:{self.number}" if self.channel == "WHATSAPP" else self.number


PARTICIPANTS = [
    Participant("wa-aiko", "WHATSAPP", "+819012340101", "１"),  # full-width: NFKC makes it "1"
    Participant("wa-kenji", "WHATSAPP", "+819012340102", "いいえ"),
    Participant("wa-mika", "WHATSAPP", "+819012340103", None),
    Participant("sms-yuki", "SMS", "+819012340104", "はい"),
    Participant("sms-ren", "SMS", "+819012340105", "2"),
    Participant("sms-sota", "SMS", "+819012340106", "たぶん"),  # an answer that is neither: the default path
    Participant("sms-hana", "SMS", "+819012340107", None),
]


def _path(p: Participant) -> list[str]:
    """The messages the journey should send the participant, in order."""
    answer = unicodedata.normalize("NFKC", p.reply or "")
    if answer in YES:
        return ["ask", "thanks"]
    if answer in NO:
        return ["ask", "sorry"]
    return ["ask", "remind", "last"]


def survey_journey(segment_id: str) -> dict[str, Any]:
    """The WriteJourneyRequest: one lane per channel, each ask → reply split (a day) → thanks / sorry / a week's
    wait → reminder → another week → last message."""
    activities: dict[str, Any] = {
        "channel": {
            "ConditionalSplit": {
                "Condition": {
                    "Conditions": [{"SegmentDimensions": {"Demographic": {"Channel": {"Values": ["WHATSAPP"]}}}}]
                },
                "TrueActivity": "waAsk",
                "FalseActivity": "smsAsk",
            }
        }
    }
    for lane, kind in (("wa", "WHATSAPP"), ("sms", "SMS")):
        reply_event = "_WHATSAPP.REPLY" if kind == "WHATSAPP" else "_SMS.REPLY"

        def answered(values: list[str], lane: str = lane, reply_event: str = reply_event) -> dict[str, Any]:
            return {
                "EventCondition": {
                    "MessageActivity": f"{lane}Ask",
                    "Dimensions": {
                        "EventType": {"Values": [reply_event]},
                        "Attributes": {"reply_body": {"Values": values}},
                    },
                }
            }

        def message(key: str, next_activity: str | None = None, lane: str = lane, kind: str = kind) -> dict:
            body = {
                "TemplateName": f"survey-{key}-{lane}",
                **({"NextActivity": next_activity} if next_activity else {}),
            }
            return {kind: body}

        activities |= {
            f"{lane}Ask": message("ask", f"{lane}Answer"),
            f"{lane}Answer": {
                "MultiCondition": {
                    "EvaluationWaitTime": {"WaitFor": "P1D"},
                    "Branches": [
                        {"Condition": answered(YES), "NextActivity": f"{lane}Thanks"},
                        {"Condition": answered(NO), "NextActivity": f"{lane}Sorry"},
                    ],
                    "DefaultActivity": f"{lane}Week",
                }
            },
            f"{lane}Thanks": message("thanks"),
            f"{lane}Sorry": message("sorry"),
            f"{lane}Week": {"Wait": {"WaitTime": {"WaitFor": "P6D"}, "NextActivity": f"{lane}Remind"}},
            f"{lane}Remind": message("remind", f"{lane}LastWait"),
            f"{lane}LastWait": {"Wait": {"WaitTime": {"WaitFor": "P7D"}, "NextActivity": f"{lane}Last"}},
            f"{lane}Last": message("last"),
        }
    return {
        "Name": "ご来店アンケート",
        "State": "ACTIVE",
        "StartActivity": "channel",
        "StartCondition": {"SegmentStartCondition": {"SegmentId": segment_id}},
        "Activities": activities,
    }


def run_journey(kizuna: LocalKizuna, pinpoint: Any, app_id: str, out: Any, timeout_s: float = 60.0) -> int:
    clock = kizuna.journey_clock
    if not isinstance(clock, OffsetClock):
        print("NOT FINISHED: the journey demo needs LocalKizuna(journey_clock=OffsetClock())", file=out)
        return 1
    started = time.monotonic()
    kizuna_client = kizuna.kizuna_client()  # WhatsApp templates and WHATSAPP activities are Kizuna's extensions
    segment_id = _audience(kizuna, pinpoint, kizuna_client, app_id)
    journey = kizuna_client.create_journey(ApplicationId=app_id, WriteJourneyRequest=survey_journey(segment_id))[
        "JourneyResponse"
    ]
    start = clock.now()
    sent: list[tuple[int, str, str]] = []  # (day, To, template key) of every message at the sandbox Twilio
    by_body = {body: key for key, body in TEXTS.items()}
    expected = Counter((p.to, key) for p in PARTICIPANTS for key in _path(p))

    def settle(day: int, wanted: int) -> bool:
        """Run what is due on the journey's clock, then wait until `wanted` messages in all reached Twilio."""
        kizuna.journey_scheduler.run_due()
        deadline = time.monotonic() + timeout_s
        while len(_journey_requests(kizuna, by_body)) < wanted and time.monotonic() < deadline:
            time.sleep(0.1)
        done = _journey_requests(kizuna, by_body)
        sent.extend((day, to, key) for to, key in done[len(sent) :])
        # Their callbacks too (a consultation's timers, delayed until its end, are not the journey's to wait for).
        return len(done) >= wanted and kizuna.drain(timeout_s, skip=SCHEDULED_QUEUES)

    ok = settle(0, sum(1 for _ in PARTICIPANTS))
    url = f"{kizuna.base_url}/webhooks/twilio/inbound?app={app_id}"
    for p in PARTICIPANTS:
        if ok and p.reply is not None:
            to = f"whatsapp:{VALID_FROM}" if p.channel == "WHATSAPP" else VALID_FROM
            ok = kizuna.sandbox.simulate_inbound(to=to, from_=p.to, body=p.reply, url=url).status_code == 200
    for _ in range(MAX_WAKE_UPS):  # the split a day later, the reminder after a week, the last message after two
        due = kizuna.journey_scheduler.next_due()
        if not ok or due is None:  # the run ended: nothing more is scheduled
            break
        clock.advance(max(timedelta(), due - clock.now()))
        day = round((clock.now() - start) / timedelta(days=1))
        ok = settle(day, sum(n for (to, key), n in expected.items() if _day_of(key) <= day))
    state = _final_state(pinpoint, app_id, journey["Id"], timeout_s)
    seconds = time.monotonic() - started
    _print_results(pinpoint, app_id, journey, sent, state, clock.now() - start, seconds, out)
    link = kizuna.dashboard_url(app_id).replace("?", f"/journeys/{journey['Id']}?", 1)
    print(f"  journey dashboard: {link}", file=out)
    if not ok or state != "COMPLETED" or Counter((to, key) for _, to, key in sent) != expected:
        print("NOT FINISHED: the journey did not run as planned", file=out)
        return 1
    return 0


def _day_of(key: str) -> int:
    return {"ask": 0, "thanks": 1, "sorry": 1, "remind": 7, "last": 14}[key]


def _audience(kizuna: LocalKizuna, pinpoint: Any, kizuna_client: Any, app_id: str) -> str:
    """The participants (tagged as the survey's audience), its segment, and the templates of both channels."""
    for p in PARTICIPANTS:
        whatsapp = {"WhatsAppOptIn": ["2026-11-20"]} if p.channel == "WHATSAPP" else {}
        pinpoint.update_endpoint(
            ApplicationId=app_id,
            EndpointId=p.endpoint_id,
            EndpointRequest={
                "ChannelType": p.channel,
                "Address": p.number,
                "Location": {"Country": "JP"},
                "Demographic": {"Timezone": "Asia/Tokyo"},
                "Attributes": {"survey": ["来店"], **whatsapp},
            },
        )
    for key, body in TEXTS.items():
        pinpoint.create_sms_template(TemplateName=f"survey-{key}-sms", SMSTemplateRequest={"Body": body})
        kizuna.sandbox.contents[CONTENT_SIDS[key]] = {"body": body, "status": "approved"}
        kizuna_client.create_whats_app_template(
            TemplateName=f"survey-{key}-wa", WhatsAppTemplateRequest={"ContentSid": CONTENT_SIDS[key]}
        )
    return pinpoint.create_segment(
        ApplicationId=app_id,
        WriteSegmentRequest={
            "Name": "来店アンケート対象",
            "Dimensions": {"Attributes": {"survey": {"AttributeType": "INCLUSIVE", "Values": ["来店"]}}},
        },
    )["SegmentResponse"]["Id"]


def _journey_requests(kizuna: LocalKizuna, by_body: dict[str, str]) -> list[tuple[str, str]]:
    """(To, template key) of each message the journey sent, as the sandbox Twilio received them, in order."""
    return [(r.to, by_body[r.body]) for r in list(kizuna.sandbox.requests) if r.body in by_body]


def _final_state(pinpoint: Any, app_id: str, journey_id: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        state = pinpoint.get_journey(ApplicationId=app_id, JourneyId=journey_id)["JourneyResponse"]["State"]
        if state == "COMPLETED" or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


BRANCHES = {"Branch_1": "1/はい", "Branch_2": "2/いいえ", "Branch_3": "default"}  # a split's paths, in order
RUN_METRICS = ("ENDPOINT_ENTERED", "ENDPOINT_LEFT", "ENDPOINT_ACTIVE")


def _print_results(
    pinpoint: Any,
    app_id: str,
    journey: dict[str, Any],
    sent: list[tuple[int, str, str]],
    state: str,
    simulated: timedelta,
    seconds: float,
    out: Any,
) -> None:
    ids = {"ApplicationId": app_id, "JourneyId": journey["Id"]}
    on_whatsapp = sum(1 for p in PARTICIPANTS if p.channel == "WHATSAPP")
    print(
        f"journey 「{journey['Name']}」: {len(PARTICIPANTS)} participants ({on_whatsapp} on WhatsApp, "
        f"{len(PARTICIPANTS) - on_whatsapp} on SMS), {simulated.days} days on the journey clock in {seconds:.1f} s "
        f"→ {state}",
        file=out,
    )
    run = pinpoint.get_journey_execution_metrics(**ids)["JourneyExecutionMetricsResponse"]["Metrics"]
    print("  GetJourneyExecutionMetrics: " + ", ".join(f"{k} {run.get(k, '0')}" for k in RUN_METRICS), file=out)
    print("  GetJourneyExecutionActivityMetrics:", file=out)
    for lane, label in (("wa", "WhatsApp"), ("sms", "SMS")):

        def metrics(step: str, lane: str = lane) -> dict[str, str]:
            return pinpoint.get_journey_execution_activity_metrics(**ids, JourneyActivityId=f"{lane}{step}")[
                "JourneyExecutionActivityMetricsResponse"
            ]["Metrics"]

        split = metrics("Answer")
        paths = ", ".join(f"{b} ({name}) {split.get(b, '0')}" for b, name in BRANCHES.items())
        print(f"    {label:<8} {lane}Answer: {paths}", file=out)
        accepted = ", ".join(
            f"{lane}{step} {metrics(step).get('SUCCESS', '0')}" for step in ("Ask", "Thanks", "Sorry", "Remind", "Last")
        )
        print(f"    {'':<8} SUCCESS: {accepted}", file=out)
    print("  at the sandbox Twilio (day on the journey clock: message):", file=out)
    for p in PARTICIPANTS:
        steps = [f"day {day} {key}" for day, to, key in sent if to == p.to]
        if p.reply is not None:
            steps.insert(1, f"replied 「{p.reply}」")
        print(f"    {p.endpoint_id:<9} {p.to:<24} " + ", ".join(steps), file=out)
    print("  the messages (the same text as SMS templates and as approved WhatsApp templates):", file=out)
    for key, body in TEXTS.items():
        print(f"    {key:<7}{body}", file=out)
