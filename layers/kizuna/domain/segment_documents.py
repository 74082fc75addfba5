"""Reading the parts of a segment document: required shapes, enumerations and ISO-8601 instants.

Every check raises BadRequest naming the field; the instant readers used while matching return None instead, so a
compiled predicate never raises on odd endpoint data.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from kizuna.errors import BadRequest

MAX_VALUES = 100


# -- instants ------------------------------------------------------------------------------------------------------


def parse_instant(value: Any, field: str) -> datetime:
    parsed = instant(value) if isinstance(value, str) else None
    if parsed is None:
        raise BadRequest(f"{field} must be an ISO-8601 instant such as 2026-11-01T00:00:00Z; got {value!r}")
    return parsed


@lru_cache(maxsize=65536)
def instant(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
        # An offset can push a date at the edge of the calendar past year 1 or 9999: OverflowError.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def epoch_of(value: Any) -> float | None:
    if value.__class__ is not str:
        return None
    parsed = instant(value)
    return parsed.timestamp() if parsed is not None else None


def day_of(value: Any) -> date | None:
    if value.__class__ is not str:
        return None
    parsed = instant(value)
    return parsed.date() if parsed is not None else None


# -- document checks -----------------------------------------------------------------------------------------------


def require_object(value: Any, field: str) -> None:
    if not isinstance(value, dict):
        raise BadRequest(f"{field} must be an object")


def object_field(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    require_object(value, field)
    return value


def list_field(value: Any, field: str, limit: int) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"{field} must be a list")
    if len(value) > limit:
        raise BadRequest(f"{field} holds {len(value)} items; the limit is {limit}")
    return value


def choice(value: Any, allowed: Iterable[str], default: str, field: str) -> str:
    if value is None:
        return default
    allowed = tuple(allowed)
    if value not in allowed:
        raise BadRequest(f"{field} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def string_values(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise BadRequest(f"{field} must hold at least one value")
    if len(value) > MAX_VALUES:
        raise BadRequest(f"{field} holds {len(value)} values; the limit is {MAX_VALUES}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise BadRequest(f"{field}[{i}] must be a string")
    return value
