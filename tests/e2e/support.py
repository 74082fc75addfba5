"""Helpers several e2e modules share (fixtures live in conftest.py)."""

from __future__ import annotations

import time
from typing import Any

from kizuna import wiring
from kizuna.local.system import LocalKizuna


def items_of_app(kizuna: LocalKizuna, app_id: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The data table's items that mention the app, once the asynchronous DeleteApp purge has removed them (or
    what is left when `timeout` runs out)."""
    ddb = wiring.aws("dynamodb")
    deadline = time.monotonic() + timeout
    while True:
        pages = ddb.get_paginator("scan").paginate(TableName=kizuna.resources.tables["data"])
        items = [i for i in pages.build_full_result()["Items"] if app_id in i["pk"]["S"] or app_id in i["sk"]["S"]]
        if not items or time.monotonic() > deadline:
            return items
        time.sleep(0.5)
