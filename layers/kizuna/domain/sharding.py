"""Which shard an endpoint lives in: stable across processes and languages (crc32), so every reader agrees."""

from __future__ import annotations

import zlib

from kizuna.catalog import ENDPOINT_SHARDS


def endpoint_shard(endpoint_id: str) -> int:
    return zlib.crc32(endpoint_id.encode()) % ENDPOINT_SHARDS
