"""In-memory fakes of every port, with the same semantics as the real adapters (conditional writes included),
for unit tests and benchmarks that must not touch sockets."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.clock import epoch_seconds, iso
from kizuna.domain.apps import App
from kizuna.domain.messages import (
    FAILURES,
    TERMINAL,
    Advance,
    Claim,
    ClaimResult,
    DeliveryRecord,
    OutboundMessage,
    ProviderReceipt,
    StatusUpdate,
    advances,
    decide_claim,
    rank,
)
from kizuna.domain.sharding import endpoint_shard


class InMemoryDataStore:
    def __init__(self) -> None:
        self.apps: dict[str, App] = {}
        self.endpoints: dict[tuple[str, str], dict[str, Any]] = {}
        # The same endpoints by (app, shard), as DynamoDB partitions them: a shard scan reads only its shard.
        self._shards: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
        self.settings: dict[str, dict[str, Any]] = {}
        self.attribute_registry: dict[str, dict[str, set[str]]] = {}
        self.erasure_salts: dict[str, str] = {}
        self.erasures: dict[str, list[dict[str, Any]]] = {}

    def put_app(self, app: App) -> None:
        self.apps[app.id] = app

    def get_app(self, app_id: str) -> App | None:
        return self.apps.get(app_id)

    def list_apps(self, limit: int, token: str | None) -> tuple[list[App], str | None]:
        ids = sorted(self.apps)
        start = ids.index(token) + 1 if token in self.apps else 0
        page = ids[start : start + limit]
        more = start + limit < len(ids)
        return [self.apps[i] for i in page], (page[-1] if more and page else None)

    def delete_app(self, app_id: str) -> None:
        for shard in range(ENDPOINT_SHARDS):
            self.purge_app_data(app_id, shard)
        self.purge_app_data(app_id, None)

    def retire_app(self, app_id: str) -> None:
        self.apps.pop(app_id, None)

    def purge_app_data(self, app_id: str, shard: int | None) -> None:
        if shard is not None:
            for endpoint_id in list(self._shards.get((app_id, shard), {})):
                self.delete_endpoint(app_id, endpoint_id)
            return
        for app_scoped in (self.settings, self.attribute_registry, self.erasure_salts, self.erasures):
            app_scoped.pop(app_id, None)
        self.retire_app(app_id)

    def get_settings(self, app_id: str) -> dict[str, Any] | None:
        return self.settings.get(app_id)

    def put_settings(self, app_id: str, settings: dict[str, Any]) -> None:
        self.settings[app_id] = settings

    def get_attribute_registry(self, app_id: str) -> dict[str, set[str]]:
        return {kind: set(names) for kind, names in self.attribute_registry.get(app_id, {}).items()}

    def register_attributes(self, app_id: str, names: dict[str, set[str]]) -> None:
        registry = self.attribute_registry.setdefault(app_id, {})
        for kind, new in names.items():
            registry.setdefault(kind, set()).update(new)

    def unregister_attributes(self, app_id: str, kind: str, names: set[str]) -> None:
        self.attribute_registry.get(app_id, {}).get(kind, set()).difference_update(names)

    def erasure_salt(self, app_id: str, candidate: str) -> str:
        return self.erasure_salts.setdefault(app_id, candidate)

    def put_erasure_record(self, app_id: str, record: dict[str, Any]) -> None:
        self.erasures.setdefault(app_id, []).append(record)

    def erasure_records(self, app_id: str) -> list[dict[str, Any]]:
        return list(self.erasures.get(app_id, []))

    def get_endpoint(self, app_id: str, endpoint_id: str) -> dict[str, Any] | None:
        return self.endpoints.get((app_id, endpoint_id))

    def get_endpoints(self, app_id: str, endpoint_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {e: self.endpoints[(app_id, e)] for e in endpoint_ids if (app_id, e) in self.endpoints}

    def put_endpoint(self, app_id: str, endpoint: dict[str, Any]) -> None:
        self.endpoints[(app_id, endpoint["Id"])] = endpoint
        self._shards.setdefault((app_id, endpoint_shard(endpoint["Id"])), {})[endpoint["Id"]] = endpoint

    def replace_endpoint(self, app_id: str, endpoint: dict[str, Any], previous: dict[str, Any] | None) -> bool:
        if self.endpoints.get((app_id, endpoint["Id"])) != previous:
            return False
        self.put_endpoint(app_id, endpoint)
        return True

    def put_endpoints(self, app_id: str, endpoints: Sequence[dict[str, Any]]) -> None:
        for endpoint in endpoints:
            self.put_endpoint(app_id, endpoint)

    def delete_endpoint(self, app_id: str, endpoint_id: str) -> None:
        self.endpoints.pop((app_id, endpoint_id), None)
        self._shards.get((app_id, endpoint_shard(endpoint_id)), {}).pop(endpoint_id, None)

    def delete_endpoints(self, app_id: str, endpoint_ids: Sequence[str]) -> None:
        for endpoint_id in endpoint_ids:
            self.delete_endpoint(app_id, endpoint_id)

    def scan_shard(self, app_id: str, shard: int, start_after: str | None = None) -> Iterator[dict[str, Any]]:
        endpoints = sorted(self._shards.get((app_id, shard), {}).values(), key=lambda e: e["Id"])  # DynamoDB's order
        yield from (e for e in endpoints if start_after is None or e["Id"] > start_after)

    def user_endpoints(self, app_id: str, user_id: str) -> list[dict[str, Any]]:
        return [
            e for (app, _), e in self.endpoints.items() if app == app_id and e.get("User", {}).get("UserId") == user_id
        ]

    def endpoints_by_address(self, app_id: str, address: str) -> list[dict[str, Any]]:
        return [e for (app, _), e in self.endpoints.items() if app == app_id and e.get("Address") == address]


class InMemoryMessageStore:
    def __init__(self) -> None:
        self.records: dict[str, DeliveryRecord] = {}
        self.leases: dict[str, int] = {}
        self._lock = threading.Lock()

    def claim(self, message: OutboundMessage, now: datetime, lease_s: int) -> ClaimResult:
        with self._lock:
            existing = self.records.get(message.message_id)
            decision = decide_claim(existing, self.leases.get(message.message_id), epoch_seconds(now))
            if decision in (Claim.DONE, Claim.BUSY):
                return ClaimResult(decision, existing)
            if existing is None:
                claimed = DeliveryRecord(
                    message.message_id,
                    message.app_id,
                    "sending",
                    channel=message.channel,
                    message_type=message.message_type,
                    country=message.country,
                    attribution=dict(message.attribution),
                    attempts=1,
                    outcome_pending=True,
                    endpoint_id=message.endpoint_id,
                    first_attempt_at=iso(now),
                    updated_at=iso(now),
                )
            else:
                claimed = replace(
                    existing,
                    status="sending",
                    attempts=existing.attempts + 1,
                    outcome_pending=True,
                    updated_at=iso(now),
                )
            self.records[message.message_id] = claimed
            self.leases[message.message_id] = epoch_seconds(now) + lease_s
            return ClaimResult(decision, existing or claimed)

    def record_sent(self, message_id: str, receipt: ProviderReceipt, now: datetime) -> None:
        with self._lock:
            record = replace(
                self.records[message_id],
                provider_id=receipt.provider_id,
                segments=receipt.segments,
                outcome_pending=False,
                updated_at=iso(now),
            )
            if rank(record.status) < rank("queued"):
                record = replace(record, status="queued")
            self.records[message_id] = record

    def record_failed(self, message_id: str, code: str, reason: str, now: datetime, status: str = "failed") -> None:
        with self._lock:
            record = self.records[message_id]
            if rank(record.status) < rank(status):
                self.records[message_id] = replace(
                    record, status=status, error_code=code, reason=reason, outcome_pending=False, updated_at=iso(now)
                )
                self.leases.pop(message_id, None)

    def release(self, message_id: str, reason: str, now: datetime) -> None:
        with self._lock:
            record = self.records[message_id]
            if record.status == "sending":
                self.records[message_id] = replace(
                    record, status="accepted", outcome_pending=False, reason=reason, updated_at=iso(now)
                )
                self.leases.pop(message_id, None)

    def advance_status(
        self, message_id: str, status: str, error_code: str | None, now: datetime, provider_id: str | None = None
    ) -> StatusUpdate:
        with self._lock:  # decided and written under one lock: nothing can move the record in between
            before = self.records.get(message_id)
            if before is None:
                return StatusUpdate(Advance.UNKNOWN)
            if not advances(before.status, status):
                return StatusUpdate(Advance.UNCHANGED, before)
            corrected = before.status in FAILURES  # a failure yielding to evidence of delivery (undelivered)
            record = replace(
                before,
                status=status,
                error_code=error_code or (None if corrected else before.error_code),
                provider_id=before.provider_id or provider_id,
                updated_at=iso(now),
                corrected_status=before.status if corrected else before.corrected_status,
                corrected_error_code=before.error_code if corrected else before.corrected_error_code,
            )
            self.records[message_id] = record
            if status in TERMINAL:
                self.leases.pop(message_id, None)
            return StatusUpdate(Advance.APPLIED, record, before)

    def get(self, message_id: str) -> DeliveryRecord | None:
        return self.records.get(message_id)

    def get_many(self, message_ids: Sequence[str]) -> dict[str, DeliveryRecord]:
        return {m: self.records[m] for m in message_ids if m in self.records}

    def stale(self, states: Iterable[str], older_than: datetime, limit: int) -> list[DeliveryRecord]:
        wanted = set(states)
        cutoff = iso(older_than)
        # As DynamoMessageStore: the open index (records not closed, by when they opened), then their last write.
        found = [
            r
            for r in self.records.values()
            if r.status not in TERMINAL
            and r.first_attempt_at is not None
            and r.first_attempt_at < cutoff
            and r.status in wanted
            and (r.updated_at or "") < cutoff
        ]
        return found[:limit]


class InMemorySendQueue:
    def __init__(self, fail_ids: Iterable[str] = ()) -> None:
        self.messages: list[tuple[OutboundMessage, int]] = []
        self.fail_ids = set(fail_ids)

    def enqueue(self, messages: Sequence[OutboundMessage], delay_s: int = 0) -> list[str]:
        failed = [m.message_id for m in messages if m.message_id in self.fail_ids]
        self.messages.extend((m, delay_s) for m in messages if m.message_id not in self.fail_ids)
        return failed


class InMemoryEventSink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, events: Sequence[dict[str, Any]]) -> None:
        self.events.extend(events)
