"""Fault injection for local mode: the failures AWS and a crashing Lambda produce, on the running local system.

Nothing here is imported by a handler or active unless a test or benchmark installs it on a `LocalKizuna`:

- `DynamoThrottle`: a share of DynamoDB requests is answered `ProvisionedThroughputExceededException` (HTTP 400,
  DynamoDB's JSON error) before it reaches moto, from a botocore `before-send` hook on the process's cached client
  (`kizuna.wiring.aws("dynamodb")`), so every attempt rolls again and botocore's own retry logic (standard mode,
  its backoff and retry quota) is what rides it out - or gives up, as it would on AWS.
- `FirehosePartialFailures`: a share of `PutRecordBatch` calls reports some records failed (`FailedPutCount` > 0,
  `ErrorCode` on those entries), and now and then the stream is "unavailable" for a moment (every record of every
  call fails). Failed records are removed from the request before it is sent, so moto stores only the records the
  response says were stored, exactly as Firehose does.
- `CrashingProvider`: the sender's Twilio provider, except that a share of sends crashes the invocation (a
  BaseException, which nothing in the handler catches, as a runtime dying) before the provider call or after the
  provider accepted the message and before the delivery record is written.
- `EmitCrash`: a share of the handlers' event emits raises, after the handler's state change and before it answers
  (the sender's batch response, the status webhook's 200): a crash before the ack.
- `OutcomeTally`: not a fault: counts the sender's decision for every delivery (sent, already done, deferred...),
  so a soak can say how many duplicate deliveries were suppressed.

`Faults` installs them all with one seed and counts what was injected, by kind. Decisions come from seeded RNGs;
thread interleaving still varies which request draws which number, so a seed reproduces the mix, not each fault.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse

from kizuna import wiring
from kizuna.errors import RetryableProviderError


class InjectedCrash(BaseException):
    """The sender's runtime dies: not an error any handler code catches, so the whole invocation fails."""


class InjectedEmitCrash(Exception):
    """The function dies after its state change, before it answers: Lambda fails the invocation (API Gateway 502,
    SQS redelivers the batch)."""


class _Dice:
    """A seeded RNG shared by threads, and the tally of what it decided."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def roll(self, ratio: float) -> bool:
        if ratio <= 0:
            return False
        with self._lock:
            return self._rng.random() < ratio

    def sample(self, n: int, ratio: float) -> list[int]:
        with self._lock:
            return [i for i in range(n) if self._rng.random() < ratio]

    def count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.counts[kind] += n


class _Body:
    """The raw stream botocore reads a response body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


@dataclass
class DynamoThrottle:
    ratio: float
    dice: _Dice
    _client: Any = None

    def install(self, client: Any) -> None:
        self._client = client
        client.meta.events.register_first("before-send.dynamodb", self._before_send)

    def uninstall(self) -> None:
        if self._client is not None:
            self._client.meta.events.unregister("before-send.dynamodb", self._before_send)
            self._client = None

    def _before_send(self, request: Any, event_name: str = "", **_: Any) -> AWSResponse | None:
        if not self.dice.roll(self.ratio):
            return None
        self.dice.count("dynamodb_throttled")
        body = {
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "The level of configured provisioned throughput for the table was exceeded.",
        }
        headers = {"x-amzn-RequestId": uuid.uuid4().hex, "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 400, headers, _Body(json.dumps(body).encode()))


_FAILED = "kizuna_faults_failed"
_ALL_FAILED = "kizuna_faults_all_failed"
_UNAVAILABLE = {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}


@dataclass
class FirehosePartialFailures:
    call_ratio: float  # share of PutRecordBatch calls with some failed records
    record_ratio: float  # in such a call, the share of records that fail
    outage_ratio: float  # share of calls that start a short outage (every record fails)
    outage_s: float
    dice: _Dice
    clock: Callable[[], float] = time.monotonic
    _client: Any = None
    _outage_until: float = 0.0

    _EVENTS = (
        ("before-parameter-build.firehose.PutRecordBatch", "_choose"),
        ("before-call.firehose.PutRecordBatch", "_short_circuit"),
        ("after-call.firehose.PutRecordBatch", "_report"),
    )

    def install(self, client: Any) -> None:
        self._client = client
        for event, method in self._EVENTS:
            client.meta.events.register_first(event, getattr(self, method))

    def uninstall(self) -> None:
        if self._client is not None:
            for event, method in self._EVENTS:
                self._client.meta.events.unregister(event, getattr(self, method))
            self._client = None

    def _choose(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        records = params.get("Records") or []
        now = self.clock()
        if now >= self._outage_until and self.dice.roll(self.outage_ratio):
            self._outage_until = now + self.outage_s
            self.dice.count("firehose_outages")
        if now < self._outage_until:
            context[_ALL_FAILED] = len(records)
            self.dice.count("firehose_records_failed", len(records))
            return
        if not self.dice.roll(self.call_ratio):
            return
        failed = self.dice.sample(len(records), self.record_ratio)
        if not failed:
            return
        self.dice.count("firehose_records_failed", len(failed))
        if len(failed) == len(records):
            context[_ALL_FAILED] = len(records)
            return
        context[_FAILED] = failed
        gone = set(failed)
        params["Records"] = [r for i, r in enumerate(records) if i not in gone]

    def _short_circuit(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        n = context.get(_ALL_FAILED)
        if n is None:
            return None
        parsed = {
            "FailedPutCount": n,
            "Encrypted": False,
            "RequestResponses": [dict(_UNAVAILABLE) for _ in range(n)],
            "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": uuid.uuid4().hex},
        }
        return AWSResponse("", 200, {}, _Body(b"{}")), parsed

    def _report(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        failed = context.get(_FAILED)
        if not failed or "RequestResponses" not in parsed:
            return
        stored = iter(parsed["RequestResponses"])
        gone = set(failed)
        total = len(parsed["RequestResponses"]) + len(gone)
        parsed["RequestResponses"] = [dict(_UNAVAILABLE) if i in gone else next(stored) for i in range(total)]
        parsed["FailedPutCount"] = parsed.get("FailedPutCount", 0) + len(gone)


class CrashingProvider:
    """The real messages provider, except that a share of sends crashes the invocation before or after the call."""

    def __init__(self, real: Any, before: float, after: float, dice: _Dice) -> None:
        self.real, self.before, self.after, self.dice = real, before, after, dice

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def send(self, message: Any, status_callback: str | None) -> Any:
        if self.dice.roll(self.before):
            self.dice.count("crash_before_provider_call")
            raise InjectedCrash(f"crash before the provider call for {message.message_id}")
        try:
            receipt = self.real.send(message, status_callback)
        except RetryableProviderError as exc:  # what the sandbox's fault knobs answered: counted, not changed
            self.dice.count(f"twilio_{exc.code}")
            raise
        if self.dice.roll(self.after):
            self.dice.count("crash_after_provider_call")
            raise InjectedCrash(f"crash after the provider accepted {receipt.provider_id}, before the record")
        return receipt


@dataclass
class EmitCrash:
    """Wraps the local Firehose buffer's `add` (every handler's event sink ends there): a share of emits of the
    given event-type prefixes raises before the events are buffered."""

    ratio: float
    dice: _Dice
    prefixes: tuple[str, ...] = ("_SMS.",)
    _buffer: Any = None

    def install(self, buffer: Any) -> None:
        self._buffer = buffer
        real = buffer.add

        def add(stream: str, events: Sequence[dict[str, Any]]) -> None:
            mine = any(str(e.get("event_type", "")).startswith(self.prefixes) for e in events)
            if mine and self.dice.roll(self.ratio):
                self.dice.count("crash_before_ack")
                raise InjectedEmitCrash("crash after the state change, before the events and the answer")
            real(stream, events)

        buffer.add = add

    def uninstall(self) -> None:
        if self._buffer is not None:
            del self._buffer.add  # the instance attribute goes; the class's method is back
            self._buffer = None


class OutcomeTally:
    """Counts what the sender decided for every delivery of a message (kizuna.services.deliver.Outcome), and the
    copies of one message SQS handed over in the same batch, which the sender delivers once."""

    def __init__(self, dice: _Dice) -> None:
        self.dice = dice
        self._real: Callable[..., Any] | None = None

    def install(self) -> None:
        from kizuna.services.deliver import Deliverer  # imported when installed: its logger reads the environment

        real = self._real = Deliverer.deliver_batch
        dice = self.dice

        def deliver_batch(deliverer: Any, batch: Sequence[tuple[Any, int]]) -> dict[str, Any]:
            outcomes = real(deliverer, batch)
            for outcome in outcomes.values():
                dice.count(f"outcome_{outcome.value}")
            dice.count("outcome_same_batch_copy", len(batch) - len(outcomes))
            return outcomes

        Deliverer.deliver_batch = deliver_batch  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from kizuna.services.deliver import Deliverer

        if self._real is not None:
            Deliverer.deliver_batch = self._real  # type: ignore[method-assign]
            self._real = None


@dataclass(frozen=True)
class FaultRates:
    """How often each fault happens (shares of calls, sends or records)."""

    dynamodb_throttle: float = 0.02
    firehose_call: float = 0.2
    firehose_record: float = 0.3
    firehose_outage: float = 0.01
    firehose_outage_s: float = 2.0
    crash_before_provider: float = 0.01
    crash_after_provider: float = 0.01
    crash_before_ack: float = 0.02


class Faults:
    """Every AWS-side and handler-side fault above, installed on a started local system; `uninstall` removes them
    (before an accounting check reads the tables through the same clients)."""

    def __init__(self, kizuna: Any, rates: FaultRates, seed: int) -> None:
        self.kizuna, self.rates = kizuna, rates
        self.dice = _Dice(seed)
        self.throttle = DynamoThrottle(rates.dynamodb_throttle, self.dice)
        self.firehose = FirehosePartialFailures(
            rates.firehose_call, rates.firehose_record, rates.firehose_outage, rates.firehose_outage_s, self.dice
        )
        self.emit_crash = EmitCrash(rates.crash_before_ack, self.dice)
        self.outcomes = OutcomeTally(self.dice)
        self._real_provider: Callable[[str], Any] | None = None

    def install(self) -> Faults:
        self.throttle.install(wiring.aws("dynamodb"))
        self.firehose.install(wiring.aws("firehose"))
        self.emit_crash.install(self.kizuna.firehose_buffer)
        self.outcomes.install()
        real = self._real_provider = wiring.messages_provider
        rates, dice = self.rates, self.dice
        # wiring.providers() looks messages_provider up on every invocation, so this reaches warm senders too.
        wiring.messages_provider = lambda secret_id: CrashingProvider(
            real(secret_id), rates.crash_before_provider, rates.crash_after_provider, dice
        )
        return self

    def uninstall(self) -> None:
        if self._real_provider is not None:
            wiring.messages_provider = self._real_provider
            self._real_provider = None
        self.outcomes.uninstall()
        self.emit_crash.uninstall()
        self.firehose.uninstall()
        self.throttle.uninstall()

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.dice.counts)
