"""Journeys in the data table, next to segments: "APP#<app>" / "JRN#<journey>" holds the JourneyResponse and its
write version, which every put checks (kizuna.adapters.dynamo_app_documents)."""

from __future__ import annotations

from typing import Any

from kizuna.adapters.dynamo_app_documents import DynamoAppDocuments

JOURNEY_PREFIX = "JRN#"


class DynamoJourneyStore:
    def __init__(self, table: str, client: Any) -> None:
        self._docs = DynamoAppDocuments(table, client, JOURNEY_PREFIX)

    def get_journey(self, app_id: str, journey_id: str) -> dict[str, Any] | None:
        return self._docs.get(app_id, journey_id)

    def put_journey(self, app_id: str, journey: dict[str, Any], expected_version: int | None) -> bool:
        return self._docs.put(app_id, journey, expected_version)

    def list_journeys(self, app_id: str, limit: int, token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return self._docs.list(app_id, limit, token)

    def delete_journey(self, app_id: str, journey_id: str) -> None:
        self._docs.delete(app_id, journey_id)
