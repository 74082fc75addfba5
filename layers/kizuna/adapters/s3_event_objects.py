"""The event objects Firehose wrote (JSON lines): streamed for ingest, so a 64 MiB object is never held twice, and
listed, read and replaced for erasure (kizuna.ports_analytics.EventObjectStore).

A replacement is one PutObject with If-Match on the ETag read: S3 swaps the whole object atomically, so a reader (or
a crash) never meets a half-written one, and two scrubs racing on one object cannot undo each other's work — the
second finds the ETag changed, reads again and scrubs the new content. The bucket's default encryption (SSE-KMS)
applies to the new object as it did to Firehose's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from kizuna.ports_analytics import ListedObject, StoredObject


@dataclass
class OpenedObject:
    etag: str
    metadata: dict[str, str]
    body: Any  # botocore's StreamingBody

    def lines(self) -> Iterator[bytes]:
        return _stream(self.body)

    def close(self) -> None:
        self.body.close()


class S3EventObjects:
    def __init__(self, client: Any) -> None:
        self._s3 = client
        self._versioned: dict[str, bool] = {}

    def lines(self, bucket: str, key: str) -> Iterator[bytes]:
        return self.open(bucket, key).lines()

    def open(self, bucket: str, key: str) -> OpenedObject:
        response = self._s3.get_object(Bucket=bucket, Key=key)
        return OpenedObject(response["ETag"], dict(response.get("Metadata") or {}), response["Body"])

    def size(self, bucket: str, key: str) -> int:
        return int(self._s3.head_object(Bucket=bucket, Key=key)["ContentLength"])

    # -- erasure -----------------------------------------------------------------------------------------------

    def list_objects(self, bucket: str, prefix: str, after: str | None = None) -> Iterator[ListedObject]:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if after:
            kwargs["StartAfter"] = after
        for page in self._s3.get_paginator("list_objects_v2").paginate(**kwargs):
            for obj in page.get("Contents", []):
                yield ListedObject(obj["Key"], obj["ETag"], obj["LastModified"], int(obj["Size"]))

    def read(self, bucket: str, key: str) -> StoredObject | None:
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        with response["Body"] as body:
            data = body.read()
        return StoredObject(
            key, response["ETag"], data, dict(response.get("Metadata") or {}), response.get("ContentType")
        )

    def replace(
        self, bucket: str, key: str, body: bytes, expected_etag: str, metadata: dict[str, str], content_type: str | None
    ) -> bool:
        kwargs: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "Body": body,
            "IfMatch": expected_etag,
            "Metadata": metadata,
        }
        if content_type:
            kwargs["ContentType"] = content_type
        try:
            self._s3.put_object(**kwargs)
        except ClientError as exc:
            # 412: another writer replaced it since we read it; 409: a concurrent conditional write is in flight.
            if exc.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"):
                return False
            raise
        return True

    def delete_noncurrent_versions(self, bucket: str, key: str) -> int:
        if not self._is_versioned(bucket):
            return 0
        deleted = 0
        for page in self._s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
            for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if version["Key"] != key or version.get("IsLatest"):
                    continue
                self._s3.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
                deleted += 1
        return deleted

    def _is_versioned(self, bucket: str) -> bool:
        if bucket not in self._versioned:
            # "Suspended" buckets still hold the versions written while versioning was on.
            status = self._s3.get_bucket_versioning(Bucket=bucket).get("Status")
            self._versioned[bucket] = status in ("Enabled", "Suspended")
        return self._versioned[bucket]


def _stream(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_lines(keepends=True)
    finally:
        body.close()
