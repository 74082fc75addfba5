"""Ports: what the services need from the outside world. Adapters implement them (adapters/), and each has an
in-memory fake (adapters/memory.py) so unit tests run without sockets."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from kizuna.domain.apps import App
from kizuna.domain.jobs import JobMessage, PieceOutcome
from kizuna.domain.messages import (
    ClaimResult,
    DeliveryRecord,
    OutboundMessage,
    ProviderReceipt,
    RelayRequest,
    StatusUpdate,
)
from kizuna.domain.throttle import Throttle


class AppStore(Protocol):
    def put_app(self, app: App) -> None: ...
    def get_app(self, app_id: str) -> App | None: ...
    def list_apps(self, limit: int, token: str | None) -> tuple[list[App], str | None]: ...
    def delete_app(self, app_id: str) -> None:
        """Removes the app and every item scoped to it (settings, attribute registry and erasure records too)."""
        ...

    def retire_app(self, app_id: str) -> None:
        """The app disappears from GetApp/GetApps at once; its data stays until purged (purge_app_data)."""
        ...

    def purge_app_data(self, app_id: str, shard: int | None) -> None:
        """Delete one endpoint shard's partition, or (shard None) the app's own partition and its listing item."""
        ...

    # Application settings (Pinpoint ApplicationSettingsResource, stored as given after validation).
    def get_settings(self, app_id: str) -> dict[str, Any] | None: ...
    def put_settings(self, app_id: str, settings: dict[str, Any]) -> None: ...

    # The app's attribute registry: attribute names seen on endpoint writes, by kind ("custom", "metric", "user").
    def get_attribute_registry(self, app_id: str) -> dict[str, set[str]]: ...
    def register_attributes(self, app_id: str, names: dict[str, set[str]]) -> None:
        """Add names to the registry (idempotent; concurrent writers never lose each other's names)."""
        ...

    def unregister_attributes(self, app_id: str, kind: str, names: set[str]) -> None: ...

    # Erasure (DeleteUserEndpoints) evidence.
    def erasure_salt(self, app_id: str, candidate: str) -> str:
        """The app's salt for hashing user ids; `candidate` becomes it if the app has none yet (first writer wins)."""
        ...

    def put_erasure_record(self, app_id: str, record: dict[str, Any]) -> None:
        """Store a record holding no personal data: `record` has at least "at" (ISO time) and "user_hash"."""
        ...

    def erasure_records(self, app_id: str) -> list[dict[str, Any]]: ...


class EndpointStore(Protocol):
    def get_endpoint(self, app_id: str, endpoint_id: str) -> dict[str, Any] | None: ...
    def get_endpoints(self, app_id: str, endpoint_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...
    def put_endpoint(self, app_id: str, endpoint: dict[str, Any]) -> None: ...
    def replace_endpoint(self, app_id: str, endpoint: dict[str, Any], previous: dict[str, Any] | None) -> bool:
        """Write `endpoint` only if the stored one is still `previous` (None: still absent); False, writing nothing,
        when another write came in between."""
        ...

    def put_endpoints(self, app_id: str, endpoints: Sequence[dict[str, Any]]) -> None:
        """Upsert many (batched by the adapter)."""
        ...

    def delete_endpoint(self, app_id: str, endpoint_id: str) -> None: ...
    def delete_endpoints(self, app_id: str, endpoint_ids: Sequence[str]) -> None:
        """Delete many (batched by the adapter)."""
        ...

    def scan_shard(self, app_id: str, shard: int, start_after: str | None = None) -> Iterator[dict[str, Any]]:
        """Every endpoint in one of catalog.ENDPOINT_SHARDS shards, in id order (after `start_after` if given)."""
        ...

    def user_endpoints(self, app_id: str, user_id: str) -> list[dict[str, Any]]: ...
    def endpoints_by_address(self, app_id: str, address: str) -> list[dict[str, Any]]:
        """Every endpoint of the app with exactly this (normalised) address, any channel."""
        ...


class SendQueue(Protocol):
    def enqueue(self, messages: Sequence[OutboundMessage], delay_s: int = 0) -> list[str]:
        """Enqueue; returns the message ids that could NOT be enqueued (after the adapter's own retries)."""
        ...


class MessageStore(Protocol):
    def claim(self, message: OutboundMessage, now: datetime, lease_s: int) -> ClaimResult: ...
    def record_sent(self, message_id: str, receipt: ProviderReceipt, now: datetime) -> None: ...
    def record_failed(self, message_id: str, code: str, reason: str, now: datetime, status: str = "failed") -> None:
        """A final outcome decided without (or refused by) the provider: "failed", or "expired" when it could not go
        out in time. The outcome is known, so a later delivery of the message does nothing."""
        ...

    def release(self, message_id: str, reason: str, now: datetime) -> None:
        """The provider definitely did not take the message (throttled): allow a later claim without lookup."""
        ...

    def advance_status(
        self, message_id: str, status: str, error_code: str | None, now: datetime, provider_id: str | None = None
    ) -> StatusUpdate:
        """Apply a callback's status if the ladder allows it from the record's status (kizuna.domain.messages
        `advances`; keep `provider_id` if the record has none). The decision and the write are one: when another
        write moves the record in between, it is read again and decided again, so a concurrent callback never makes
        this one lost; kizuna.errors.StatusNotApplied when that keeps happening."""
        ...

    def get(self, message_id: str) -> DeliveryRecord | None: ...
    def get_many(self, message_ids: Sequence[str]) -> dict[str, DeliveryRecord]:
        """The records found among `message_ids` (batched reads: a journey split reads one per participant)."""
        ...

    def stale(self, states: Iterable[str], older_than: datetime, limit: int) -> list[DeliveryRecord]: ...


class EventSink(Protocol):
    def emit(self, events: Sequence[dict[str, Any]]) -> None: ...


class MessageProvider(Protocol):
    """One channel's provider (Twilio Messages for SMS and WhatsApp, Twilio Calls for voice, SES for e-mail).

    `send` raises the domain's provider errors (kizuna.errors): Permanent (never retried), Retryable (with a hint;
    code "timeout" means the provider may have accepted it, so the caller asks `find_sent` before sending again) and
    ProviderConfiguration."""

    def throttle(self, message: OutboundMessage) -> Throttle:
        """The rate bucket the message draws from, the sender's rate, and what the message costs of it."""
        ...

    def send(self, message: OutboundMessage, status_callback: str | None) -> ProviderReceipt: ...
    def fetch_status(self, provider_id: str) -> ProviderReceipt: ...
    def find_sent(self, message: OutboundMessage, sent_after: datetime | None) -> ProviderReceipt | None:
        """The provider's record of this message if an earlier attempt got through (None: it did not)."""
        ...


class RateLimiter(Protocol):
    def reserve(
        self, key: str, rate_per_s: float, costs: Sequence[float], horizon_s: float, now: datetime
    ) -> tuple[list[float | None], float]:
        """Book consecutive slots in bucket `key` (domain.throttle.book), shared by every sender process.

        Returns each cost's start in seconds after `now` (None: not booked, beyond the horizon) and, for those, how
        long until the bucket frees up."""
        ...


class SpendLedger(Protocol):
    def try_spend(self, app_id: str, channel: str, day: str, amount_usd: float, cap_usd: float) -> bool:
        """Add `amount_usd` to the app's spend for `day` (UTC date) unless that would pass `cap_usd`."""
        ...

    def refund(self, app_id: str, channel: str, day: str, amount_usd: float) -> None:
        """Take back a charge for a message the provider did not take."""
        ...

    def open_conversation(self, sender: str, now: datetime, cap: int) -> bool:
        """Count one business-initiated WhatsApp conversation for `sender` unless the last 24 hours already hold
        `cap` of them."""
        ...


class SegmentStore(Protocol):
    """Segments (Pinpoint SegmentResponse documents, every version kept) and imported segments' members."""

    def put_segment(self, app_id: str, segment: dict[str, Any]) -> None:
        """Store `segment` (with its Id and Version) as the latest version and as that version."""
        ...

    def get_segment(self, app_id: str, segment_id: str, version: int | None = None) -> dict[str, Any] | None: ...
    def list_segments(self, app_id: str, limit: int, token: str | None) -> tuple[list[dict[str, Any]], str | None]: ...
    def list_versions(self, app_id: str, segment_id: str) -> list[dict[str, Any]]: ...
    def delete_segment(self, app_id: str, segment_id: str) -> None:
        """The segment, its versions and its members."""
        ...

    def add_members(self, app_id: str, segment_id: str, endpoint_ids: Sequence[str]) -> None: ...
    def remove_member_everywhere(self, app_id: str, endpoint_ids: Sequence[str]) -> None:
        """Drop endpoints from every imported segment of the app (erasure)."""
        ...

    def members(self, app_id: str, segment_id: str, shard: int) -> Iterator[str]:
        """Member endpoint ids of an imported segment in one endpoint shard."""
        ...

    def purge_app(self, app_id: str) -> None: ...


class JobStore(Protocol):
    """Import and export jobs (Pinpoint ImportJobResponse / ExportJobResponse documents) and their progress.

    `job_type` is "IMPORT" or "EXPORT". Documents come back with the counters (TotalPieces, CompletedPieces,
    FailedPieces, TotalProcessed, TotalFailures) and Failures filled in.
    """

    def create_job(self, app_id: str, job_type: str, job: dict[str, Any]) -> None: ...
    def get_job(self, app_id: str, job_type: str, job_id: str) -> dict[str, Any] | None: ...
    def list_jobs(
        self, app_id: str, job_type: str, limit: int, token: str | None, segment_id: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; `segment_id` keeps only jobs whose Definition names that segment."""
        ...

    def start_job(self, app_id: str, job_type: str, job_id: str, total_pieces: int) -> bool:
        """CREATED (or preparing) → PROCESSING with TotalPieces; False when the job had already started."""
        ...

    def record_piece(self, app_id: str, job_type: str, job_id: str, piece: int, outcome: PieceOutcome) -> bool:
        """Count one piece's outcome into the job, atomically with a done-marker for the piece: a piece
        recorded before is not counted again (returns False)."""
        ...

    def finish_job(self, app_id: str, job_type: str, job_id: str, status: str, now: datetime, reason: str = "") -> bool:
        """Move the job to COMPLETED or FAILED with CompletionDate, exactly once: when every piece is counted,
        or, with a `reason`, when the job fails before it has pieces. False if another caller already did."""
        ...


class JobQueue(Protocol):
    """Where import/export work is queued (the jobs queue in the catalog)."""

    def enqueue(self, messages: Sequence[JobMessage], delay_s: int = 0) -> None:
        """Enqueue every message (SendMessageBatch by 10, failed entries retried) or raise; `delay_s` ≤ 900."""
        ...


class TemplateStore(Protocol):
    """Message templates (account-wide, as in Pinpoint): a head per (type, name) and one document per version."""

    def get_head(self, template_type: str, name: str) -> dict[str, Any] | None: ...
    def put_head(self, head: dict[str, Any], expected_latest: int | None) -> bool:
        """Write the head if its stored LatestVersion is `expected_latest` (None: only if absent). False otherwise:
        a concurrent create or update won, and the caller reports the conflict."""
        ...

    def get_version(self, template_type: str, name: str, version: int) -> dict[str, Any] | None: ...
    def put_version(self, template_type: str, name: str, version: int, doc: dict[str, Any]) -> None: ...
    def list_versions(self, template_type: str, name: str) -> list[dict[str, Any]]: ...
    def delete_version(self, template_type: str, name: str, version: int) -> None: ...
    def delete_template(self, template_type: str, name: str) -> None: ...
    def list_heads(self) -> list[dict[str, Any]]:
        """Every template's head, ordered by (name, type). Account-wide lists stay small (Pinpoint's quota was
        ~10k templates), so paging happens in the service."""
        ...


class ChannelStore(Protocol):
    """An app's channel documents (Pinpoint's SMS/Voice/Email channel responses, and WhatsApp) and its messaging
    policy, read together by every send."""

    def get_rules(self, app_id: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        """(channel type -> channel document, messaging policy) in one read."""
        ...

    def put_channel(self, app_id: str, channel: str, doc: dict[str, Any]) -> None: ...
    def delete_channel(self, app_id: str, channel: str) -> None: ...
    def put_policy(self, app_id: str, policy: dict[str, Any]) -> None: ...


class ConsentStore(Protocol):
    """Consent that belongs to an address rather than an endpoint: keyword opt-outs (STOP) and the WhatsApp
    customer-service window (the recipient's last inbound message). Addresses are kept only as keyed hashes."""

    def opted_out(self, app_id: str, channel: str, addresses: Sequence[str]) -> set[str]: ...
    def set_opt_out(
        self, app_id: str, channels: Sequence[str], address: str, opted_out: bool, now: datetime
    ) -> None: ...

    def last_inbound(self, app_id: str, channel: str, addresses: Sequence[str]) -> dict[str, datetime]: ...
    def record_inbound(self, app_id: str, channel: str, address: str, now: datetime) -> None: ...
    def forget_windows(self, app_id: str, addresses: Sequence[str]) -> None:
        """Erasure: drop the windows of these addresses (opt-outs stay, so a STOP outlives the endpoint)."""
        ...


class InboundLedger(Protocol):
    def claim_inbound(self, provider_id: str, now: datetime) -> bool:
        """True the first time this inbound message (Twilio MessageSid) is seen; a replay gets False."""
        ...

    def release_inbound(self, provider_id: str) -> None:
        """Forget the claim: handling failed, so Twilio's retry of the webhook must be handled in full."""
        ...


class RelayQueue(Protocol):
    def enqueue_relays(self, relays: Sequence[RelayRequest], delay_s: int = 0) -> None:
        """Enqueue every relay or raise (the webhook then fails and Twilio retries it)."""
        ...

    def dead_letter(self, relay: RelayRequest, reason: str) -> None: ...


class JourneyStore(Protocol):
    """Journeys (Pinpoint JourneyResponse documents). Every write is conditional on the version read, so two
    concurrent changes (an edit and an activation) cannot both win. They live in the app's partition, so DeleteApp's
    purge of that partition removes them."""

    def get_journey(self, app_id: str, journey_id: str) -> dict[str, Any] | None: ...
    def put_journey(self, app_id: str, journey: dict[str, Any], expected_version: int | None) -> bool:
        """Store `journey` (its "Id" and Kizuna's "Version") if the stored version is `expected_version` (None: only
        if absent). False: another write won."""
        ...

    def list_journeys(self, app_id: str, limit: int, token: str | None) -> tuple[list[dict[str, Any]], str | None]: ...
    def delete_journey(self, app_id: str, journey_id: str) -> None:
        """The journey and its entry in the custom-event index."""
        ...

    def event_journeys(self, app_id: str) -> list[dict[str, Any]]:
        """The app's live journeys whose conditions read custom events (entry: Id, EventTypes, KeepDays) or that
        events start (Start), in one query: PutEvents keeps an endpoint's events only of the types they name, and
        enters the endpoints whose events match a Start."""
        ...

    def index_event_journey(self, app_id: str, journey_id: str, entry: dict[str, Any] | None) -> None: ...
