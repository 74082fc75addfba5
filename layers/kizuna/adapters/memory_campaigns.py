"""In-memory campaign ports with the DynamoDB adapters' semantics: conditional puts with every version kept, the
EVENT index, one pending schedule per campaign, and per-endpoint caps (kizuna.domain.endpoint_caps)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kizuna.domain.endpoint_caps import admit


class InMemoryCampaignStore:
    def __init__(self) -> None:
        self.campaigns: dict[tuple[str, str], dict[str, Any]] = {}
        self.versions: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get_campaign(self, app_id: str, campaign_id: str, version: int | None = None) -> dict[str, Any] | None:
        with self._lock:
            found = (
                self.campaigns.get((app_id, campaign_id))
                if version is None
                else self.versions.get((app_id, campaign_id, version))
            )
        return copy.deepcopy(found) if found is not None else None

    def put_campaign(self, app_id: str, campaign: dict[str, Any], expected_version: int | None) -> bool:
        with self._lock:
            stored = self.campaigns.get((app_id, campaign["Id"]))
            if (stored["Version"] if stored else None) != expected_version:
                return False
            self.campaigns[(app_id, campaign["Id"])] = copy.deepcopy(campaign)
            self.versions[(app_id, campaign["Id"], campaign["Version"])] = copy.deepcopy(campaign)
            return True

    def list_campaigns(self, app_id: str, limit: int, token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        with self._lock:
            ids = sorted(c for a, c in self.campaigns if a == app_id)
            start = next((i for i, c in enumerate(ids) if c > token), len(ids)) if token else 0
            page = ids[start : start + limit]
            docs = [copy.deepcopy(self.campaigns[(app_id, c)]) for c in page]
        return docs, (page[-1] if start + limit < len(ids) and page else None)

    def list_versions(self, app_id: str, campaign_id: str) -> list[dict[str, Any]]:
        with self._lock:
            found = sorted((v, d) for (a, c, v), d in self.versions.items() if (a, c) == (app_id, campaign_id))
        return [copy.deepcopy(d) for _, d in found]

    def delete_campaign(self, app_id: str, campaign_id: str) -> None:
        with self._lock:
            self.campaigns.pop((app_id, campaign_id), None)
            self.events.pop((app_id, campaign_id), None)
            for key in [k for k in self.versions if k[:2] == (app_id, campaign_id)]:
                del self.versions[key]

    def event_campaigns(self, app_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(e) for (a, _), e in sorted(self.events.items()) if a == app_id]

    def index_event_campaign(self, app_id: str, campaign_id: str, entry: dict[str, Any] | None) -> None:
        with self._lock:
            if entry is None:
                self.events.pop((app_id, campaign_id), None)
            else:
                self.events[(app_id, campaign_id)] = copy.deepcopy(entry)


class InMemoryRunScheduler:
    def __init__(self) -> None:
        self.pending: dict[tuple[str, str], tuple[datetime, dict[str, Any]]] = {}

    def schedule_run(self, app_id: str, campaign_id: str, at: datetime, message: dict[str, Any]) -> None:
        self.pending[(app_id, campaign_id)] = (at, copy.deepcopy(message))

    def cancel_run(self, app_id: str, campaign_id: str) -> None:
        self.pending.pop((app_id, campaign_id), None)

    def due(self, now: datetime) -> list[dict[str, Any]]:
        """Fire (remove and return) every schedule due at `now`, as EventBridge Scheduler would."""
        fired = [(key, message) for key, (at, message) in self.pending.items() if at <= now]
        for key, _ in fired:
            del self.pending[key]
        return [message for _, message in fired]


class InMemoryEndpointCaps:
    def __init__(self) -> None:
        self.states: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def admit(self, app_id: str, endpoint_id: str, message_id: str, limits: Mapping[str, int], now: datetime) -> bool:
        with self._lock:
            admitted, new_state = admit(self.states.get((app_id, endpoint_id), {}), message_id, limits, now)
            if new_state is not None:
                self.states[(app_id, endpoint_id)] = new_state
            return admitted
