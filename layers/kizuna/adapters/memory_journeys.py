"""In-memory JourneyStore with the DynamoDB adapter's semantics (conditional puts, ids listed in order, the
custom-event index)."""

from __future__ import annotations

import copy
import threading
from typing import Any


class InMemoryJourneyStore:
    def __init__(self) -> None:
        self.journeys: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get_journey(self, app_id: str, journey_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self.journeys.get((app_id, journey_id))
        return copy.deepcopy(found) if found is not None else None

    def put_journey(self, app_id: str, journey: dict[str, Any], expected_version: int | None) -> bool:
        with self._lock:
            stored = self.journeys.get((app_id, journey["Id"]))
            if (stored["Version"] if stored else None) != expected_version:
                return False
            self.journeys[(app_id, journey["Id"])] = copy.deepcopy(journey)
            return True

    def list_journeys(self, app_id: str, limit: int, token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        with self._lock:
            ids = sorted(j for a, j in self.journeys if a == app_id)
            start = next((i for i, j in enumerate(ids) if j > token), len(ids)) if token else 0
            page = ids[start : start + limit]
            docs = [copy.deepcopy(self.journeys[(app_id, j)]) for j in page]
        return docs, (page[-1] if start + limit < len(ids) and page else None)

    def delete_journey(self, app_id: str, journey_id: str) -> None:
        with self._lock:
            self.journeys.pop((app_id, journey_id), None)
            self.events.pop((app_id, journey_id), None)

    def event_journeys(self, app_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(e) for (a, _), e in sorted(self.events.items()) if a == app_id]

    def index_event_journey(self, app_id: str, journey_id: str, entry: dict[str, Any] | None) -> None:
        with self._lock:
            if entry is None:
                self.events.pop((app_id, journey_id), None)
            else:
                self.events[(app_id, journey_id)] = copy.deepcopy(entry)
