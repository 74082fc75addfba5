"""An app's own event stream destination (PutEventStream): Kinesis Data Streams or Firehose, written as the app's
RoleArn, as Pinpoint did. Batches respect the services' limits (Kinesis PutRecords: 500 records / 5 MiB; Firehose
PutRecordBatch: 500 records / 4 MiB); records a service reports as failed are retried with backoff. A refusal that
retrying cannot fix (access denied, no such stream) raises DestinationRefused."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from kizuna.ports_analytics import DestinationRefused

MAX_RECORDS = 500
MAX_BATCH_BYTES = {"kinesis": 5 * 1024 * 1024, "firehose": 4 * 1024 * 1024}
ROUNDS = 4
CREDENTIALS_TTL_S = 45 * 60  # assumed-role sessions last an hour
_REFUSALS = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "ResourceNotFoundException",
        "InvalidArgumentException",
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSNotFoundException",
        "InvalidClientTokenId",
        "ValidationError",
    }
)

ClientFactory = Callable[..., Any]


class AssumedRoleDestinations:
    def __init__(self, sts: Any, client_factory: ClientFactory, clock: Callable[[], float] = time.monotonic) -> None:
        self._sts = sts
        self._client_factory = client_factory
        self._clock = clock
        self._clients: dict[tuple[str, str], tuple[float, Any]] = {}

    def forward(self, stream: dict[str, Any], lines: Sequence[bytes]) -> None:
        arn = stream["DestinationStreamArn"]
        service, region, name = _parse(arn)
        try:
            client = self._client(service, region, stream["RoleArn"], stream.get("ExternalId"))
            for batch in _batches(list(lines), MAX_BATCH_BYTES[service]):
                self._put(service, client, name, batch)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in _REFUSALS:
                raise DestinationRefused(f"{arn}: {code}") from exc
            raise

    def _client(self, service: str, region: str, role_arn: str, external_id: str | None) -> Any:
        key = (service, f"{region}|{role_arn}|{external_id or ''}")
        cached = self._clients.get(key)
        if cached and cached[0] > self._clock():
            return cached[1]
        kwargs: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": "kizuna-event-stream"}
        if external_id:
            kwargs["ExternalId"] = external_id
        credentials = self._sts.assume_role(**kwargs)["Credentials"]
        client = self._client_factory(
            service,
            region_name=region,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        self._clients[key] = (self._clock() + CREDENTIALS_TTL_S, client)
        return client

    def _put(self, service: str, client: Any, name: str, batch: list[bytes]) -> None:
        pending = batch
        for round_ in range(ROUNDS):
            if service == "kinesis":
                response = client.put_records(
                    StreamName=name,
                    Records=[{"Data": d, "PartitionKey": hashlib.sha1(d).hexdigest()} for d in pending],
                )
                failed = response.get("FailedRecordCount", 0)
                results = response.get("Records", [])
            else:
                response = client.put_record_batch(DeliveryStreamName=name, Records=[{"Data": d} for d in pending])
                failed = response.get("FailedPutCount", 0)
                results = response.get("RequestResponses", [])
            if not failed:
                return
            pending = [d for d, r in zip(pending, results, strict=True) if r.get("ErrorCode")]
            time.sleep(0.1 * 2**round_)
        raise RuntimeError(f"{service} {name} kept refusing {len(pending)} records")


def _parse(arn: str) -> tuple[str, str, str]:
    """arn:aws:kinesis:<region>:<account>:stream/<name> or arn:aws:firehose:...:deliverystream/<name>."""
    parts = arn.split(":", 5)
    return parts[2], parts[3], parts[5].split("/", 1)[1]


def _batches(lines: list[bytes], max_bytes: int) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    size = 0
    for data in lines:
        if batch and (len(batch) == MAX_RECORDS or size + len(data) > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(data)
        size += len(data)
    if batch:
        yield batch
