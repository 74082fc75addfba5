"""Pagination tokens of queries on one partition: the query's LastEvaluatedKey, base64url-encoded JSON.

A token comes back from the caller, so it is checked before it becomes an ExclusiveStartKey: anything that is not
one of ours for this very partition (bad base64, not JSON, other attributes, another app's partition key) is a
400 naming the `token` parameter, never a DynamoDB ValidationException surfacing as a 500, and never a way to page
through a partition the query was not about."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from kizuna.errors import BadRequest


def encode_start_key(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_evaluated_key).encode()).decode()


def decode_start_key(token: str, partition_key: str) -> dict[str, Any]:
    """The ExclusiveStartKey a token stands for, in a table keyed by string `pk` and `sk`, on partition
    `partition_key`."""
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode("utf-8")))
    except (binascii.Error, UnicodeError, ValueError):
        raise BadRequest(f"token is not valid: {token[:100]!r}") from None
    if not (
        isinstance(key, dict)
        and set(key) == {"pk", "sk"}
        and all(isinstance(v, dict) and list(v) == ["S"] and isinstance(v["S"], str) for v in key.values())
        and key["pk"]["S"] == partition_key
    ):
        raise BadRequest(f"token is not valid: {token[:100]!r}")
    return key
