"""PutEvents: per-event results, a malformed event failing alone, Pinpoint's limits, the event-stream JSON written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kizuna.adapters.memory import InMemoryDataStore, InMemoryEventSink
from kizuna.clock import VirtualClock
from kizuna.domain.analytics_events import StreamEvent
from kizuna.domain.apps import App
from kizuna.errors import BadRequest, NotFound, PayloadTooLarge
from kizuna.services.ingest_events import put_events

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def world():
    data = InMemoryDataStore()
    data.put_app(App("app1", "shop", "arn", "2026-01-01T00:00:00.000Z", {}))
    return data, InMemoryEventSink(), VirtualClock(NOW)


def _call(world, batch):
    data, sink, clock = world
    return put_events(data, data, sink, clock, "app1", {"BatchItem": batch})["Results"]


def _at(delta: timedelta = timedelta()) -> str:
    return (NOW + delta).isoformat().replace("+00:00", "Z")


def test_a_malformed_event_fails_alone(world):
    _, sink, _ = world
    results = _call(
        world,
        {
            "ep1": {
                "Endpoint": {},
                "Events": {
                    "good": {"EventType": "purchase", "Timestamp": _at(), "Attributes": {"item": "茶"}},
                    "bad-time": {"EventType": "purchase", "Timestamp": "last tuesday"},
                    "too-old": {"EventType": "purchase", "Timestamp": _at(-timedelta(days=90))},
                    "future": {"EventType": "purchase", "Timestamp": _at(timedelta(days=2))},
                    "no-type": {"EventType": " ", "Timestamp": _at()},
                },
            }
        },
    )
    answers = results["ep1"]["EventsItemResponse"]
    assert answers["good"] == {"Message": "Accepted", "StatusCode": 202}
    for name, fragment in (
        ("bad-time", "Events[bad-time].Timestamp must be an ISO 8601"),
        ("too-old", "older than the 90-day"),
        ("future", "more than a day in the future"),
        ("no-type", "EventType must be 1 to 50"),
    ):
        assert answers[name]["StatusCode"] == 400 and fragment in answers[name]["Message"], name
    assert [e["event_id"] for e in sink.events] == ["good"]


def test_accepted_events_are_written_in_pinpoints_event_stream_shape(world):
    _, sink, _ = world
    _call(
        world,
        {
            "ep1": {
                "Endpoint": {"Demographic": {"Platform": "ios", "Make": "Apple"}},
                "Events": {
                    "s1": {
                        "EventType": "_session.start",
                        "Timestamp": _at(),
                        "Session": {"Id": "sess-1", "StartTimestamp": _at()},
                        "AppPackageName": "jp.example.shop",
                        "SdkName": "aws-amplify",
                        "Metrics": {"cart": 2},
                    }
                },
            }
        },
    )
    (event,) = sink.events
    parsed = StreamEvent.model_validate(event)
    assert parsed.event_type == "_session.start"
    assert parsed.client.client_id == "ep1"
    assert parsed.application.app_id == "app1"
    assert parsed.session.session_id == "sess-1" and parsed.session.start_timestamp == int(NOW.timestamp() * 1000)
    assert event["device"]["platform"] == {"name": "ios"} and event["device"]["make"] == "Apple"
    assert event["metrics"] == {"cart": 2.0}
    assert event["application"]["sdk"] == {"name": "aws-amplify"}


def test_an_endpoint_update_that_fails_does_not_take_its_events_with_it(world):
    data, sink, _ = world
    results = _call(
        world,
        {
            "ep1": {
                "Endpoint": {"ChannelType": "SMS", "Address": "not a number"},
                "Events": {"e": {"EventType": "x", "Timestamp": _at()}},
            }
        },  # noqa: E501
    )
    assert results["ep1"]["EndpointItemResponse"]["StatusCode"] == 400
    assert "EventsRequest.BatchItem[ep1].Endpoint" in results["ep1"]["EndpointItemResponse"]["Message"]
    assert results["ep1"]["EventsItemResponse"]["e"]["StatusCode"] == 202
    assert data.get_endpoint("app1", "ep1") is None
    assert len(sink.events) == 1


def test_an_endpoint_update_is_applied(world):
    data, _, _ = world
    results = _call(world, {"ep2": {"Endpoint": {"ChannelType": "SMS", "Address": "+819012345678"}, "Events": {}}})
    assert results["ep2"]["EndpointItemResponse"] == {"Message": "Accepted", "StatusCode": 202}
    assert data.get_endpoint("app1", "ep2")["Address"] == "+819012345678"


class AlwaysOvertakenStore(InMemoryDataStore):
    """Another client writes the endpoint between every read and write of this request."""

    def replace_endpoint(self, app_id, endpoint, previous):
        return False


def test_an_endpoint_update_overtaken_by_other_writes_is_answered_429_and_its_events_are_still_taken():
    data = AlwaysOvertakenStore()
    data.put_app(App("app1", "shop", "arn", "2026-01-01T00:00:00.000Z", {}))
    sink = InMemoryEventSink()
    batch = {"ep3": {"Endpoint": {"ChannelType": "SMS", "Address": "+819012345678"},
                     "Events": {"e": {"EventType": "x", "Timestamp": _at()}}}}  # fmt: skip

    results = put_events(data, data, sink, VirtualClock(NOW), "app1", {"BatchItem": batch})["Results"]

    assert results["ep3"]["EndpointItemResponse"]["StatusCode"] == 429
    assert "ep3" in results["ep3"]["EndpointItemResponse"]["Message"]
    assert results["ep3"]["EventsItemResponse"]["e"]["StatusCode"] == 202
    assert data.get_endpoint("app1", "ep3") is None and len(sink.events) == 1


def test_limits_are_pinpoints(world):
    events = {f"e{i}": {"EventType": "x", "Timestamp": _at()} for i in range(101)}
    with pytest.raises(BadRequest, match="101 events; the limit is 100"):
        _call(world, {"ep1": {"Endpoint": {}, "Events": events}})
    big = {"e": {"EventType": "x", "Timestamp": _at(), "Attributes": {"a": "v" * 50_000}}}
    with pytest.raises(PayloadTooLarge):  # 100 events of 50 KB: over 4 MB, refused before anything is checked
        _call(world, {f"ep{n}": {"Endpoint": {}, "Events": big} for n in range(100)})
    many = {"e": {"EventType": "x", "Timestamp": _at(), "Attributes": {f"a{i}": "v" for i in range(41)}}}
    assert (
        _call(world, {"ep1": {"Endpoint": {}, "Events": many}})["ep1"]["EventsItemResponse"]["e"]["StatusCode"] == 400
    )


def test_an_unknown_app_is_not_found(world):
    data, sink, clock = world
    with pytest.raises(NotFound):
        put_events(data, data, sink, clock, "nope", {"BatchItem": {}})


def test_when_the_stream_refuses_every_event_is_answered_500_so_the_caller_retries(world):
    data, _, clock = world

    class Refusing:
        def emit(self, events):
            raise RuntimeError("Firehose rejected 1 events after 4 attempts")

    results = put_events(
        data,
        data,
        Refusing(),
        clock,
        "app1",
        {"BatchItem": {"ep1": {"Endpoint": {}, "Events": {"e": {"EventType": "x", "Timestamp": _at()}}}}},  # noqa: E501
    )["Results"]
    assert results["ep1"]["EventsItemResponse"]["e"]["StatusCode"] == 500
