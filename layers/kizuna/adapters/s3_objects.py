"""S3 for import and export jobs, acting as the job's IAM role (STS AssumeRole) when it names one.

Refusals that retrying cannot fix (no such bucket or key, access denied, the object changed since planning) become
kizuna.domain.jobs.PieceRefused; anything else (throttling, 5xx after botocore's retries) propagates, so SQS retries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from kizuna.domain.jobs import PieceRefused

STREAM_CHUNK = 1024 * 1024
PART_BYTES = 8 * 1024 * 1024  # multipart parts (S3's minimum is 5 MiB)
# Codes (and HTTP statuses, for HEAD-like bodiless errors) that mean "this will never work".
PERMANENT_CODES = frozenset(
    {
        "NoSuchBucket",
        "NoSuchKey",
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidBucketName",
        "InvalidObjectState",
        "PreconditionFailed",
        "InvalidRange",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "404",
        "403",
        "412",
    }
)
ROLE_SESSION_S = 3600
ROLE_REFRESH_S = 300  # new credentials this long before the old ones expire


class S3Objects:
    def __init__(self, client: Any) -> None:
        self._s3 = client

    def list_objects(self, bucket: str, prefix: str) -> list[tuple[str, int, str]]:
        found: list[tuple[str, int, str]] = []
        with _refusals(f"s3://{bucket}/{prefix}"):
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                found += [(o["Key"], o["Size"], o["ETag"].strip('"')) for o in page.get("Contents", [])]
        return found

    def stream(self, bucket: str, key: str, etag: str | None = None) -> Iterator[bytes]:
        with _refusals(f"s3://{bucket}/{key}"):
            body = self._s3.get_object(Bucket=bucket, Key=key, **_if_match(etag))["Body"]
        try:
            yield from body.iter_chunks(STREAM_CHUNK)
        finally:
            body.close()

    def read_range(self, bucket: str, key: str, start: int, end: int, etag: str | None = None) -> bytes:
        with _refusals(f"s3://{bucket}/{key}"):
            response = self._s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}", **_if_match(etag))
            return response["Body"].read()

    def upload(self, bucket: str, key: str, chunks: Iterator[bytes], content_type: str) -> None:
        """One PutObject when everything fits in a part, a multipart upload otherwise (memory stays ~one part)."""
        with _refusals(f"s3://{bucket}/{key}"):
            buffer = bytearray()
            upload_id: str | None = None
            parts: list[dict[str, Any]] = []
            try:
                for chunk in chunks:
                    buffer += chunk
                    if len(buffer) >= PART_BYTES:
                        if upload_id is None:
                            upload_id = self._s3.create_multipart_upload(
                                Bucket=bucket, Key=key, ContentType=content_type
                            )["UploadId"]
                        parts.append(self._part(bucket, key, upload_id, len(parts) + 1, bytes(buffer)))
                        buffer.clear()
                if upload_id is None:
                    self._s3.put_object(Bucket=bucket, Key=key, Body=bytes(buffer), ContentType=content_type)
                    return
                if buffer:
                    parts.append(self._part(bucket, key, upload_id, len(parts) + 1, bytes(buffer)))
                self._s3.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
            except BaseException:
                if upload_id is not None:
                    self._s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
                raise

    def _part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        etag = self._s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)["ETag"]
        return {"ETag": etag, "PartNumber": number}


class RoleObjects:
    """(RoleArn, ExternalId) → S3Objects acting as that role; credentials are cached per role until near expiry.
    An empty RoleArn uses the function's own client."""

    def __init__(self, sts: Any, own_s3: Any, make_s3: Callable[..., Any], clock: Callable[[], float] = time.time):
        self._sts = sts
        self._own = S3Objects(own_s3)
        self._make_s3 = make_s3
        self._clock = clock
        self._cache: dict[tuple[str, str | None], tuple[float, S3Objects]] = {}
        self._lock = threading.Lock()

    def __call__(self, role_arn: str, external_id: str | None) -> S3Objects:
        if not role_arn:
            return self._own
        with self._lock:
            cached = self._cache.get((role_arn, external_id))
            if cached and cached[0] - ROLE_REFRESH_S > self._clock():
                return cached[1]
            kwargs: dict[str, Any] = {
                "RoleArn": role_arn,
                "RoleSessionName": "kizuna-jobs",
                "DurationSeconds": ROLE_SESSION_S,
            }
            if external_id:
                kwargs["ExternalId"] = external_id
            with _refusals(role_arn):
                credentials = self._sts.assume_role(**kwargs)["Credentials"]
            client = self._make_s3(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
            objects = S3Objects(client)
            self._cache[(role_arn, external_id)] = (credentials["Expiration"].timestamp(), objects)
            return objects


def _if_match(etag: str | None) -> dict[str, str]:
    return {"IfMatch": f'"{etag}"'} if etag else {}


class _refusals:  # noqa: N801 (used as a context manager)
    """Translate permanent S3/STS errors into PieceRefused, naming the location."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, _tb: object) -> bool:
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            if code in PERMANENT_CODES:
                message = exc.response.get("Error", {}).get("Message") or code
                raise PieceRefused(f"{self.where}: {code} ({message})") from None
        return False
