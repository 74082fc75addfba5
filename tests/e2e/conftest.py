"""Local mode for the end-to-end tests: one running system per test module (it owns the process's AWS
environment while it runs), the stock boto3 pinpoint client, and a fresh app per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
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
