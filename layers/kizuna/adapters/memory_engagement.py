"""In-memory EngagementStore with the DynamoDB adapter's semantics: replies kept once per sid and at most `keep`
per message, the first click only, events keyed by id (a replay overwrites), newest first. Expiry is not simulated
(as moto, which never deletes TTL'd items)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from kizuna.ports_journeys import Asked, EndpointEvent, Engagement, Reply


class InMemoryEngagementStore:
    def __init__(self) -> None:
        self.asked: dict[tuple[str, str], Asked] = {}
        self.engaged: dict[tuple[str, str, str], Engagement] = {}
        self.events: dict[tuple[str, str], dict[tuple[str, str], EndpointEvent]] = {}
        self._lock = threading.Lock()

    def put_asked(self, app_id: str, asked: Sequence[Asked], expires: datetime) -> None:
        with self._lock:
            for a in asked:
                self.asked[(app_id, a.endpoint_id)] = a

    def get_asked(self, app_id: str, endpoint_ids: Sequence[str]) -> dict[str, Asked]:
        with self._lock:
            return {e: self.asked[(app_id, e)] for e in endpoint_ids if (app_id, e) in self.asked}

    def add_reply(
        self, app_id: str, endpoint_id: str, message_id: str, reply: Reply, expires: datetime, keep: int
    ) -> bool:
        with self._lock:
            found = self.engaged.get((app_id, endpoint_id, message_id), Engagement())
            if any(r.sid == reply.sid for r in found.replies) or len(found.replies) >= keep:
                return False
            self.engaged[(app_id, endpoint_id, message_id)] = replace(found, replies=(*found.replies, reply))
            return True

    def add_click(self, app_id: str, endpoint_id: str, message_id: str, at: datetime, expires: datetime) -> None:
        with self._lock:
            found = self.engaged.get((app_id, endpoint_id, message_id), Engagement())
            if found.clicked_at is None:
                self.engaged[(app_id, endpoint_id, message_id)] = replace(found, clicked_at=at)

    def engagement(self, app_id: str, endpoint_id: str, message_id: str) -> Engagement:
        with self._lock:
            return self.engaged.get((app_id, endpoint_id, message_id), Engagement())

    def engagement_many(self, app_id: str, messages: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Engagement]:
        with self._lock:
            return {(e, m): self.engaged.get((app_id, e, m), Engagement()) for e, m in messages}

    def put_events(self, app_id: str, events: Sequence[EndpointEvent], expires: datetime) -> None:
        with self._lock:
            for e in events:
                self.events.setdefault((app_id, e.endpoint_id), {})[(e.event_type, e.event_id)] = e

    def events_since(
        self, app_id: str, endpoint_id: str, event_type: str, since: datetime, limit: int
    ) -> list[EndpointEvent]:
        with self._lock:
            kept = self.events.get((app_id, endpoint_id), {}).values()
            found = [e for e in kept if e.event_type == event_type and e.at >= since]
        return sorted(found, key=lambda e: (e.at, e.event_id), reverse=True)[:limit]

    def forget(self, app_id: str, endpoint_ids: Sequence[str]) -> None:
        with self._lock:
            for endpoint_id in endpoint_ids:
                self.asked.pop((app_id, endpoint_id), None)
                self.events.pop((app_id, endpoint_id), None)
                for key in [k for k in self.engaged if k[:2] == (app_id, endpoint_id)]:
                    del self.engaged[key]
