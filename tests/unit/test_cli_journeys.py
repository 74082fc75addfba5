"""`kizuna journeys simulate` on the sample two-week WhatsApp + SMS check-in (docs/examples/journeys): each
participant's printed path — quiet time, a full-width reply taking the yes branch, a refused WhatsApp message, an
undelivered SMS — the JSON form, a 540-day journey chaining executions, segments from a file, and bad input
answered with a message naming the problem and exit 2, never a traceback."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from kizuna.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "journeys"
JOURNEY, ENDPOINTS, REPLIES = (EXAMPLES / n for n in ("two-week-checkin.json", "endpoints.jsonl", "replies.json"))
SAMPLE = ["journeys", "simulate", str(JOURNEY), "--endpoints", str(ENDPOINTS), "--replies", str(REPLIES)]


def simulate(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main([*SAMPLE, "--fail", "sms-ren", "--until", "16d", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def paths(out: str) -> dict[str, list[str]]:
    """The printed lines by participant: 'TIME  ENDPOINT  TEXT' → {endpoint: ['TIME TEXT', ...]}."""
    found: dict[str, list[str]] = defaultdict(list)
    for line in out.splitlines():
        parts = line.split("  ", 2)
        if len(parts) == 3 and parts[0].startswith("20"):
            found[parts[1]].append(f"{parts[0]} {parts[2]}")
    return dict(found)


def test_the_sample_prints_each_participants_path_with_its_timestamps(capsys):
    code, out, err = simulate(capsys)
    assert code == 0 and err == ""
    printed = paths(out)
    assert sorted(printed) == ["sms-ren", "sms-yuki", "wa-aiko", "wa-kenji", "wa-mika", "wa-taro"]
    # 13:30 UTC is 22:30 in Tokyo: the question waits for 08:00 (23:00 UTC); the full-width "１" means yes.
    assert printed["wa-aiko"] == [
        "2026-12-01T13:30:00Z entered at 'hold'",
        "2026-12-01T13:30:00Z Holdout 'hold' passed",
        "2026-12-01T13:30:00Z ConditionalSplit 'channel' → 'waAsk'",
        "2026-12-01T13:30:00Z WHATSAPP activity 'waAsk' held for quiet time until 2026-12-01T23:00:00Z",
        "2026-12-01T13:30:00Z waiting at 'waAsk' until 2026-12-01T23:00:00Z",  # held with its message
        "2026-12-01T23:00:00Z WHATSAPP activity 'waAsk' sent (delivered)",
        "2026-12-01T23:00:00Z waiting at 'waAnswer' until 2026-12-02T23:00:00Z",  # a day from the send
        "2026-12-01T23:05:00Z replied \"１\" to 'waAsk'",
        "2026-12-02T23:00:00Z MultiCondition 'waAnswer' → 'waThanks'",
        "2026-12-02T23:00:00Z WHATSAPP activity 'waThanks' sent (delivered)",  # 08:00 in Tokyo: not held
        "2026-12-02T23:00:00Z left at 'waThanks'",
    ]
    assert "2026-12-02T23:00:00Z MultiCondition 'waAnswer' → 'waCallUs'" in printed["wa-kenji"]  # "いいえ"
    assert "2026-12-02T23:00:00Z MultiCondition 'smsAnswer' → 'smsThanks'" in printed["sms-yuki"]  # "はい"
    assert printed["wa-mika"][-2:] == [  # no reply: a week, a reminder, a week, the last message
        "2026-12-15T23:00:00Z WHATSAPP activity 'waLast' sent (delivered)",
        "2026-12-15T23:00:00Z left at 'waLast'",
    ]
    refused = [line for line in printed["wa-taro"] if "not sent" in line]
    assert len(refused) == 3 and all("need the recipient's opt-in" in line for line in refused)
    assert "2026-12-01T23:00:00Z SMS activity 'smsAsk' sent (undelivered)" in printed["sms-ren"]  # --fail
    assert "  participants      6 (6 finished)" in out
    assert "  executions        1 (0 continued as new)" in out
    assert "COMPLETED at 2026-12-15T23:00:00Z" in out.splitlines()[0]


def test_the_json_form_holds_the_same_paths_and_a_simulation_repeats_exactly(capsys):
    code, out, _ = simulate(capsys, "--json")
    assert code == 0
    again = simulate(capsys, "--json")[1]
    assert out == again
    report = json.loads(out)
    by_id = {p["endpoint_id"]: p for p in report["participants"]}
    assert by_id["wa-aiko"]["path"] == ["hold", "channel", "waAsk", "waAnswer", "waThanks"]
    assert by_id["sms-yuki"]["path"] == ["hold", "channel", "smsAsk", "smsAnswer", "smsThanks"]
    assert {p["status"] for p in report["participants"]} == {"FINISHED"}
    summary = report["summary"]
    assert summary["participants"] == 6 and summary["replies"] == 3 and summary["executions"] == 1
    assert summary["activities"]["waAnswer"] == {
        "kind": "MultiCondition", "passed": 4, "to waCallUs": 1, "to waThanks": 1, "to waWeek": 2,
    }  # fmt: skip
    assert summary["activities"]["smsAsk"]["undelivered"] == 1
    assert [e["event"] for e in by_id["wa-aiko"]["events"]][:3] == ["entered", "passed", "branch"]


def test_with_nobody_delivered_no_reply_comes_and_everyone_takes_the_default_branch(capsys):
    code, out, _ = simulate(capsys, "--deliver", "0")
    assert code == 0
    printed = paths(out)
    for endpoint_id in ("wa-aiko", "wa-kenji", "sms-yuki"):
        assert not any("replied" in line for line in printed[endpoint_id])
        assert any("Answer' → 'waWeek'" in line or "Answer' → 'smsWeek'" in line for line in printed[endpoint_id])


def test_a_540_day_journey_continues_as_a_new_execution_and_its_participants_leave(tmp_path, capsys):
    journey = {
        "Name": "long",
        "StartActivity": "hello",
        "StartCondition": {"SegmentStartCondition": {"SegmentId": "everyone"}},
        "Schedule": {"StartTime": "2026-12-01T00:00:00Z", "EndTime": "2028-05-24T00:00:00Z"},
        "Activities": {
            "hello": {"SMS": {"TemplateName": "hello", "NextActivity": "long"}},
            "long": {"Wait": {"WaitTime": {"WaitFor": "P539D"}, "NextActivity": "bye"}},
            "bye": {"SMS": {"TemplateName": "bye"}},
        },
    }
    (tmp_path / "j.json").write_text(json.dumps({"WriteJourneyRequest": journey}))
    code = main(["journeys", "simulate", str(tmp_path / "j.json"), "--endpoints", str(ENDPOINTS), "--until", "540d"])
    out = capsys.readouterr().out
    assert code == 0
    assert "  executions        2 (1 continued as new)" in out
    assert "  wake-ups          4" in out  # start, the first execution's horizon (day 300), its continuation, day 539
    assert out.count("2028-05-23T00:00:00Z  sms-yuki  left at 'bye'") == 1
    assert "  participants      6 (6 finished)" in out


def test_a_segments_file_decides_who_enters(tmp_path, capsys):
    segments = {"patients": {"Name": "SMS only", "Dimensions": {"Demographic": {"Channel": {"Values": ["SMS"]}}}}}
    (tmp_path / "segments.json").write_text(json.dumps(segments))
    code, out, _ = simulate(capsys, "--segments", str(tmp_path / "segments.json"))
    assert code == 0 and sorted(paths(out)) == ["sms-ren", "sms-yuki"]


EVENT_STARTED = json.dumps({
    "Name": "on purchase",
    "StartActivity": "hello",
    "StartCondition": {"EventStartCondition": {"EventFilter": {
        "FilterType": "SYSTEM", "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["purchase"]}}}}},
    "Activities": {"hello": {"SMS": {"TemplateName": "hello"}}},
})  # fmt: skip


def test_a_run_cut_short_by_until_reports_who_is_still_waiting(capsys):
    code = main([*SAMPLE, "--until", "12h"])
    out = capsys.readouterr().out
    assert code == 0 and ": ACTIVE" in out.splitlines()[0]
    waiting = "still waiting at 'waAnswer' until 2026-12-02T23:00:00Z when the simulation ended"
    assert paths(out)["wa-mika"][-1] == f"2026-12-02T01:30:00Z {waiting}"
    assert "  participants      6 (6 waiting)" in out


def write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return str(tmp_path / name)


@pytest.mark.parametrize(
    ("journey", "endpoints", "extra", "message"),
    [
        ("missing.json", None, [], "missing.json: cannot read it"),
        ('{"Name": ', None, [], "not valid JSON (Expecting value at line 1, column 10)"),
        ("[1, 2]", None, [], "must hold a WriteJourneyRequest"),
        ('{"Name": "x", "Activities": {"a": 5}}', None, [], "journey: Invalid type for parameter Activities.a"),
        (None, '{"Id": "a", "ChannelType": "SMS", "Adress": "+819012340001"}\n', [], "endpoint 1: Adress"),
        (None, '{"ChannelType": "SMS", "Address": "+819012340001"}\n', [], "endpoint 1 has no Id"),
        (None, '{"Id": "a", "ChannelType": "SMS", "Address": "12"}\n', [], "endpoint a: Invalid phone number"),
        (None, None, ["--fail", "nobody"], "endpoint 'nobody' (--replies or --fail) is not in"),
        (EVENT_STARTED, None, [], "the simulator has no event input yet"),
    ],
)
def test_bad_input_is_named_with_exit_2_and_no_traceback(tmp_path, capsys, journey, endpoints, extra, message):
    journey_path = str(JOURNEY)
    if journey == "missing.json":
        journey_path = str(tmp_path / journey)
    elif journey is not None:
        journey_path = write(tmp_path, "journey.json", journey)
    endpoints_path = write(tmp_path, "endpoints.jsonl", endpoints) if endpoints else str(ENDPOINTS)
    code = main(["journeys", "simulate", journey_path, "--endpoints", endpoints_path, *extra])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_a_journey_failing_the_review_prints_its_findings(tmp_path, capsys):
    broken = {**json.loads(JOURNEY.read_text()), "StartActivity": "nowhere"}
    broken["Activities"]["waAsk"]["WHATSAPP"].pop("TemplateName")
    code = main(["journeys", "simulate", write(tmp_path, "j.json", json.dumps(broken)), "--endpoints", str(ENDPOINTS)])
    err = capsys.readouterr().err
    assert code == 2
    assert "the journey cannot be published" in err
    assert "UNKNOWN_ACTIVITY: StartActivity 'nowhere'" in err and "NO_TEMPLATE (activity waAsk)" in err


@pytest.mark.parametrize(
    ("flag", "value"), [("--until", "5x"), ("--until", "0d"), ("--deliver", "101"), ("--start", "soon")]
)
def test_bad_options_are_refused_by_the_parser(capsys, flag, value):
    with pytest.raises(SystemExit) as exited:
        main([*SAMPLE, flag, value])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: {value!r}" in err and "Traceback" not in err


def test_the_simulator_starts_each_zone_at_its_local_time_and_counts_the_journeys_limits(tmp_path, capsys):
    journey = {
        "Name": "local",
        "StartActivity": "hello",
        "StartCondition": {"SegmentStartCondition": {"SegmentId": "everyone"}},
        "LocalTime": True,
        "Schedule": {"StartTime": "2026-12-05T09:00:00Z", "EndTime": "2026-12-30T09:00:00Z"},
        "Limits": {"TimeframeCap": {"Cap": 2, "Days": 7}},
        "Activities": {
            "hello": {"SMS": {"TemplateName": "hello", "NextActivity": "w1"}},
            "w1": {"Wait": {"WaitTime": {"WaitFor": "P1D"}, "NextActivity": "again"}},
            "again": {"SMS": {"TemplateName": "again", "NextActivity": "w2"}},
            "w2": {"Wait": {"WaitTime": {"WaitFor": "P1D"}, "NextActivity": "third"}},
            "third": {"SMS": {"TemplateName": "third"}},
        },
    }
    (tmp_path / "j.json").write_text(json.dumps(journey))
    endpoints = [{"Id": "tokyo", "ChannelType": "SMS", "Address": "+819012345678"},
                 {"Id": "ny", "ChannelType": "SMS", "Address": "+12125550123"}]  # fmt: skip
    (tmp_path / "e.jsonl").write_text("\n".join(json.dumps(e) for e in endpoints))
    code = main(["journeys", "simulate", str(tmp_path / "j.json"), "--endpoints", str(tmp_path / "e.jsonl")])
    out = capsys.readouterr().out
    assert code == 0
    assert "from 2026-12-04T19:00:00Z" in out.splitlines()[0]  # 09:00 happens first at UTC+14
    printed = paths(out)
    assert printed["tokyo"][:3] == [
        "2026-12-04T19:00:00Z entered at 'hello'",
        "2026-12-04T19:00:00Z waiting until 2026-12-05T00:00:00Z, when the journey starts in its zone",
        "2026-12-05T00:00:00Z SMS activity 'hello' sent (delivered)",
    ]
    assert "2026-12-05T14:00:00Z SMS activity 'hello' sent (delivered)" in printed["ny"]
    assert "2026-12-07T14:00:00Z SMS activity 'third' not sent: over the journey's limits" in "\n".join(printed["ny"])
    assert "    third  SMS               2 passed, 2 capped" in out
