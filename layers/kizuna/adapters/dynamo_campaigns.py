"""Campaigns in the data table, next to segments and journeys:
- "APP#<app>" / "CMP#<campaign>"                     the latest CampaignResponse and its write version
- "APP#<app>" / "CMPV#<campaign>#<version:06d>"      every version (GetCampaignVersions)
- "APP#<app>" / "CMPEV#<campaign>"                   the app's active EVENT campaigns, which PutEvents reads with
                                                     one query (entry: Id, Version, EventFilter, EndTime)
Runs are jobs (kizuna.adapters.dynamo_jobs) under "RUN#<campaign>#<run>" in the same partition.
"""

from __future__ import annotations

import json
from typing import Any

from kizuna.adapters.dynamo_app_documents import DynamoAppDocuments, docs_under

EVENT_INDEX_PREFIX = "CMPEV#"


class DynamoCampaignStore:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client
        self._docs = DynamoAppDocuments(table, client, "CMP#", version_prefix="CMPV#")

    def get_campaign(self, app_id: str, campaign_id: str, version: int | None = None) -> dict[str, Any] | None:
        return self._docs.get(app_id, campaign_id, version)

    def put_campaign(self, app_id: str, campaign: dict[str, Any], expected_version: int | None) -> bool:
        return self._docs.put(app_id, campaign, expected_version)

    def list_campaigns(self, app_id: str, limit: int, token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return self._docs.list(app_id, limit, token)

    def list_versions(self, app_id: str, campaign_id: str) -> list[dict[str, Any]]:
        return self._docs.versions(app_id, campaign_id)

    def delete_campaign(self, app_id: str, campaign_id: str) -> None:
        self.index_event_campaign(app_id, campaign_id, None)
        self._docs.delete(app_id, campaign_id)

    def event_campaigns(self, app_id: str) -> list[dict[str, Any]]:
        return docs_under(self._ddb, self._table, app_id, EVENT_INDEX_PREFIX)

    def index_event_campaign(self, app_id: str, campaign_id: str, entry: dict[str, Any] | None) -> None:
        key = {"pk": {"S": f"APP#{app_id}"}, "sk": {"S": f"{EVENT_INDEX_PREFIX}{campaign_id}"}}
        if entry is None:
            self._ddb.delete_item(TableName=self._table, Key=key)
        else:
            item = {**key, "doc": {"S": json.dumps(entry, ensure_ascii=False)}}
            self._ddb.put_item(TableName=self._table, Item=item)
