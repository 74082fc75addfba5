from __future__ import annotations

import pytest

from kizuna.adapters.memory import (
    InMemoryDataStore,
    InMemoryEventSink,
    InMemoryMessageStore,
    InMemorySendQueue,
)
from kizuna.adapters.memory_sending import InMemoryChannelStore, InMemoryConsentStore, InMemoryProvider
from kizuna.clock import VirtualClock


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def data() -> InMemoryDataStore:
    return InMemoryDataStore()


@pytest.fixture
def messages() -> InMemoryMessageStore:
    return InMemoryMessageStore()


@pytest.fixture
def queue() -> InMemorySendQueue:
    return InMemorySendQueue()


@pytest.fixture
def sink() -> InMemoryEventSink:
    return InMemoryEventSink()


@pytest.fixture
def provider(clock: VirtualClock) -> InMemoryProvider:
    return InMemoryProvider(clock)


@pytest.fixture
def channels() -> InMemoryChannelStore:
    return InMemoryChannelStore()


@pytest.fixture
def consent() -> InMemoryConsentStore:
    return InMemoryConsentStore()
