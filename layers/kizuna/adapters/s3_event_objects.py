"""Reads the event objects Firehose wrote (JSON lines), streaming so a 64 MiB object is never held twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class S3EventObjects:
    def __init__(self, client: Any) -> None:
        self._s3 = client

    def lines(self, bucket: str, key: str) -> Iterator[bytes]:
        body = self._s3.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            yield from body.iter_lines(keepends=True)
        finally:
            body.close()

    def size(self, bucket: str, key: str) -> int:
        return int(self._s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
