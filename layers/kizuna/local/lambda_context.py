"""A Lambda context object for local invocations: the attributes Powertools (and our handlers) read.

Create one per invocation: each has a fresh `aws_request_id` and its own deadline. Remaining time is measured in
wall-clock time (time.monotonic), not on the clock port: the handler's work is real even when the demo clock is
virtual, and fast-forwarding a VirtualClock must not make an in-flight invocation think it ran out of time.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass

LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account


def local_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@dataclass(frozen=True)
class LocalCognitoIdentity:
    cognito_identity_id: str | None = None
    cognito_identity_pool_id: str | None = None


class LocalLambdaContext:
    def __init__(
        self,
        function_name: str,
        timeout_s: float,
        memory_mb: int = 512,
        *,
        region: str | None = None,
        account_id: str = LOCAL_ACCOUNT_ID,
        function_version: str = "$LATEST",
    ) -> None:
        self.function_name = function_name
        self.function_version = function_version
        self.memory_limit_in_mb = memory_mb
        self.timeout_s = timeout_s
        self.region = region or local_region()
        self.invoked_function_arn = f"arn:aws:lambda:{self.region}:{account_id}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        started = time.gmtime()
        self.log_stream_name = (
            f"{started.tm_year:04d}/{started.tm_mon:02d}/{started.tm_mday:02d}/[{function_version}]{uuid.uuid4().hex}"
        )
        self.identity = LocalCognitoIdentity()
        self.client_context = None
        self.tenant_id: str | None = None
        self._started = time.monotonic()
        self._deadline = self._started + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    @property
    def timed_out(self) -> bool:
        return time.monotonic() > self._deadline

    def __repr__(self) -> str:
        return f"LocalLambdaContext({self.function_name!r}, request_id={self.aws_request_id!r})"
