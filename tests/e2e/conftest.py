"""Local mode for the end-to-end tests: one running system per test module (it owns the process's AWS
environment while it runs), the stock boto3 pinpoint client, a fresh app per test, and the SMS audience the journey
tests start from (endpoints, and a segment of them)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kizuna.local.system import LocalKizuna


@pytest.fixture(scope="module")
def kizuna() -> Iterator[LocalKizuna]:
    with LocalKizuna() as k:
        yield k


@pytest.fixture(scope="module")
def pinpoint(kizuna: LocalKizuna) -> Any:
    return kizuna.pinpoint()


@pytest.fixture
def app_id(pinpoint: Any) -> str:
    return pinpoint.create_app(CreateApplicationRequest={"Name": f"e2e-{uuid.uuid4().hex[:8]}"})["ApplicationResponse"][
        "Id"
    ]


@pytest.fixture
def sms_endpoints(pinpoint: Any, app_id: str) -> Callable[[str, str, int], list[str]]:
    """`add(id_prefix, number_prefix, count)`: `count` SMS endpoints in the test's app, ids `{id_prefix}0`, `1`, ...
    and numbers `{number_prefix}00000`, `00001`, ...; returns the numbers."""

    def add(id_prefix: str, number_prefix: str, count: int) -> list[str]:
        numbers = [f"{number_prefix}{i:05d}" for i in range(count)]
        items = [{"Id": f"{id_prefix}{i}", "ChannelType": "SMS", "Address": n} for i, n in enumerate(numbers)]
        pinpoint.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items})
        return numbers

    return add


@pytest.fixture
def sms_segment(pinpoint: Any, app_id: str) -> str:
    """The id of a segment of every SMS endpoint in the test's app (a dimension segment: its members are read when a
    journey enters it, so endpoints added after it are in)."""
    request = {"Name": "all", "Dimensions": {"Demographic": {"Channel": {"Values": ["SMS"]}}}}
    return pinpoint.create_segment(ApplicationId=app_id, WriteSegmentRequest=request)["SegmentResponse"]["Id"]
