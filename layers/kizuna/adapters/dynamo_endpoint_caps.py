"""Per-endpoint frequency caps in the limits table: "cap#<app>#<endpoint>" holds the state of
kizuna.domain.endpoint_caps (JSON) and a version for optimistic writes. Targeting an endpoint costs one consistent
read and, when it is admitted, one conditional write; the item lives a year past its last write (Total caps)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from kizuna.domain.endpoint_caps import admit

MAX_CONFLICTS = 8
CAP_ITEM_TTL_S = 400 * 86400


class DynamoEndpointCaps:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client

    def admit(self, app_id: str, endpoint_id: str, message_id: str, limits: Mapping[str, int], now: datetime) -> bool:
        key = {"pk": {"S": f"cap#{app_id}#{endpoint_id}"}}
        for _ in range(MAX_CONFLICTS):
            item = self._ddb.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
            state = json.loads(item["s"]["S"]) if item else {}
            admitted, new_state = admit(state, message_id, limits, now)
            if new_state is None:
                return admitted
            version = int(item["v"]["N"]) if item else 0
            condition: dict[str, Any] = (
                {"ConditionExpression": "v = :v", "ExpressionAttributeValues": {":v": {"N": str(version)}}}
                if item
                else {"ConditionExpression": "attribute_not_exists(pk)"}
            )
            try:
                self._ddb.put_item(
                    TableName=self._table,
                    Item={
                        **key,
                        "s": {"S": json.dumps(new_state)},
                        "v": {"N": str(version + 1)},
                        "expires_at": {"N": str(int(now.timestamp()) + CAP_ITEM_TTL_S)},
                    },
                    **condition,
                )
                return True
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        raise RuntimeError(f"endpoint caps of {endpoint_id}: {MAX_CONFLICTS} conflicting writes in a row")
