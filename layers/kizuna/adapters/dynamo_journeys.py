"""Journeys in the data table, next to segments:
- "APP#<app>" / "JRN#<journey>"     the JourneyResponse and its write version, which every put checks
                                    (kizuna.adapters.dynamo_app_documents)
- "APP#<app>" / "JRNEV#<journey>"   a live journey whose conditions read custom events (entry: Id, EventTypes,
                                    KeepDays) or that events start (Start: its EventStartCondition), which PutEvents
                                    reads with one query
"""

from __future__ import annotations

import json
from typing import Any

from kizuna.adapters.dynamo_app_documents import DynamoAppDocuments, docs_under

JOURNEY_PREFIX = "JRN#"
EVENT_INDEX_PREFIX = "JRNEV#"


class DynamoJourneyStore:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client
        self._docs = DynamoAppDocuments(table, client, JOURNEY_PREFIX)

    def get_journey(self, app_id: str, journey_id: str) -> dict[str, Any] | None:
        return self._docs.get(app_id, journey_id)

    def put_journey(self, app_id: str, journey: dict[str, Any], expected_version: int | None) -> bool:
        return self._docs.put(app_id, journey, expected_version)

    def list_journeys(self, app_id: str, limit: int, token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return self._docs.list(app_id, limit, token)

    def delete_journey(self, app_id: str, journey_id: str) -> None:
        self.index_event_journey(app_id, journey_id, None)
        self._docs.delete(app_id, journey_id)

    def event_journeys(self, app_id: str) -> list[dict[str, Any]]:
        return docs_under(self._ddb, self._table, app_id, EVENT_INDEX_PREFIX)

    def index_event_journey(self, app_id: str, journey_id: str, entry: dict[str, Any] | None) -> None:
        key = {"pk": {"S": f"APP#{app_id}"}, "sk": {"S": f"{EVENT_INDEX_PREFIX}{journey_id}"}}
        if entry is None:
            self._ddb.delete_item(TableName=self._table, Key=key)
        else:
            self._ddb.put_item(TableName=self._table, Item={**key, "doc": {"S": json.dumps(entry, ensure_ascii=False)}})
