"""Composition root: builds real adapters from a function's settings. Handlers call one of these at cold start.

Cold starts matter for the sender and the webhooks, so this module imports only what every function needs:
clients come from botocore directly (boto3 would add its S3 transfer machinery, ~100 ms), and what only the API or
the Twilio path needs is imported where it is built.

This module builds the clients, secrets, providers and stores every function shares, and the API's and jobs' deps.
Capabilities with ports of their own are wired beside it: wiring_campaigns, wiring_journeys, wiring_analytics and
wiring_consultations; what local mode plugs in instead of an AWS service is set in wiring_local.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config

from kizuna import wiring_local
from kizuna.adapters.dynamo_data import DynamoDataStore
from kizuna.adapters.dynamo_messages import DynamoMessageStore
from kizuna.adapters.firehose_events import FirehoseEventSink
from kizuna.adapters.sqs_queue import SqsSendQueue
from kizuna.clock import Clock, SystemClock
from kizuna.domain.twilio_account import TwilioAccount

# kizuna.local.system sets local mode's hooks through this module (wiring.use_event_sinks(...) and the like).
from kizuna.wiring_local import (  # noqa: F401
    use_event_sinks,
    use_journey_clock,
    use_journey_orchestrators,
    use_run_schedulers,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from kizuna.adapters.access_key_store import DynamoAccessKeyStore
    from kizuna.adapters.dynamo_limits import DynamoLimits
    from kizuna.adapters.twilio_provider import TwilioMessagesProvider
    from kizuna.api.app import ApiDeps
    from kizuna.ports import EventSink, MessageProvider
    from kizuna.services.import_jobs import JobDeps
    from kizuna.services.otp import OtpDeps, SegmentStore
    from kizuna.settings import ApiSettings, JobsSettings

# Short timeouts and standard retries: a Lambda should fail fast and let SQS or the caller retry, not hang.
# KIZUNA_AWS_READ_TIMEOUT_S exists for local mode, where moto shares one interpreter (and its GIL) with every
# function and answers slowly under load.
READ_TIMEOUT_S = 5.0


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def aws(service: str) -> Any:
    """One client per service per process; region, credentials and AWS_ENDPOINT_URL come from the environment."""
    return _session().create_client(service, config=_config())


def _config() -> Config:
    read_timeout = float(os.environ.get("KIZUNA_AWS_READ_TIMEOUT_S", READ_TIMEOUT_S))
    return Config(connect_timeout=2, read_timeout=read_timeout, retries={"max_attempts": 4, "mode": "standard"})


def assumed_role_client(service: str, **credentials: Any) -> Any:
    """A client on an assumed role's credentials, configured as aws() is; not cached (the credentials expire)."""
    return _session().create_client(service, config=_config(), **credentials)


def data_store(table: str) -> DynamoDataStore:
    return DynamoDataStore(table, aws("dynamodb"))


def message_store(table: str) -> DynamoMessageStore:
    return DynamoMessageStore(table, aws("dynamodb"))


def send_queue(url: str) -> SqsSendQueue:
    return SqsSendQueue(url, aws("sqs"))


def event_sink(stream: str) -> EventSink:
    if wiring_local.event_sink_factory is not None:  # local mode buffers the stream as Firehose does
        return wiring_local.event_sink_factory(stream)
    return FirehoseEventSink(stream, aws("firehose"))


# Secrets are cached for five minutes: a rotated Twilio token reaches warm functions within that time.
SECRET_MAX_AGE_S = 300


@cache
def _secrets() -> SecretsProvider:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=aws("secretsmanager"))


def twilio_account(secret_id: str) -> TwilioAccount:
    return TwilioAccount.model_validate(_secrets().get(secret_id, transform="json", max_age=SECRET_MAX_AGE_S))


def webhook_signing_secret(secret_id: str) -> str:
    return str(_secrets().get(secret_id, max_age=SECRET_MAX_AGE_S))


_twilio: dict[tuple[str, str], Any] = {}


def twilio_client(secret_id: str) -> tuple[TwilioAccount, Any]:
    """The account currently in the secret and a twilio Client for it; rebuilt only when the credentials change."""
    account = twilio_account(secret_id)
    cache_key = (account.account_sid, account.auth_token.get_secret_value())
    client = _twilio.get(cache_key)
    if client is None:
        from kizuna.adapters.twilio_messaging import make_twilio_client

        client = _twilio[cache_key] = make_twilio_client(
            account.account_sid, account.auth_token.get_secret_value(), account.api_base_url, timeout_s=10.0
        )
    return account, client


def messages_provider(secret_id: str) -> TwilioMessagesProvider:
    """SMS and WhatsApp through Twilio Programmable Messaging."""
    from kizuna.adapters.twilio_messaging import Sender, TwilioMessaging
    from kizuna.adapters.twilio_provider import TwilioMessagesProvider

    account, client = twilio_client(secret_id)
    if account.messaging_service_sid:
        sender = Sender.service(account.messaging_service_sid)
    else:
        sender = Sender.number(account.from_number)
    return TwilioMessagesProvider(
        TwilioMessaging(client), sender, whatsapp_sender=account.whatsapp_from, sender_rates=account.sender_rates
    )


class Providers(Mapping[str, "MessageProvider"]):
    """Each channel's provider, built on first use: a batch of SMS never builds (or imports) the e-mail adapter."""

    def __init__(self, factories: dict[str, Callable[[], MessageProvider]]) -> None:
        self._factories = factories
        self._built: dict[str, MessageProvider] = {}

    def __getitem__(self, channel: str) -> MessageProvider:
        if channel not in self._built:
            self._built[channel] = self._factories[channel]()
        return self._built[channel]

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)


def voice_provider(secret_id: str) -> MessageProvider:
    from kizuna.adapters.twilio_voice import TwilioVoiceProvider

    account, client = twilio_client(secret_id)
    return TwilioVoiceProvider(client, account.voice_from or account.from_number, account.sender_rates.get("voice"))


def providers(twilio_secret_id: str, email_configuration_set: str | None = None) -> Providers:
    """Providers for every channel. Build one per invocation: the secret behind them is re-read every 5 minutes."""
    messages = cache(lambda: messages_provider(twilio_secret_id))
    return Providers(
        {
            "SMS": messages,
            "WHATSAPP": messages,
            "VOICE": lambda: voice_provider(twilio_secret_id),
            "EMAIL": lambda: email_provider(email_configuration_set),
        }
    )


def email_provider(configuration_set: str | None) -> MessageProvider:
    from kizuna.adapters.ses_email import SesEmailProvider

    # One attempt per call: a retried SendEmail after a read timeout would be a second e-mail (adapters.ses_email).
    client = _session().create_client("sesv2", config=_config().merge(Config(retries={"max_attempts": 1})))
    return SesEmailProvider(client, default_configuration_set=configuration_set)


def relay_queue(url: str, dead_letter_url: str | None = None) -> Any:
    from kizuna.adapters.sqs_queue import SqsRelayQueue

    return SqsRelayQueue(url, dead_letter_url, aws("sqs"))


def limits(table: str) -> DynamoLimits:
    from kizuna.adapters.dynamo_limits import DynamoLimits

    return DynamoLimits(table, aws("dynamodb"))


def access_key_store(table: str, kms_key_id: str) -> DynamoAccessKeyStore:
    from kizuna.adapters.access_key_store import DynamoAccessKeyStore

    return DynamoAccessKeyStore(table, kms_key_id, aws("dynamodb"), aws("kms"))


def api_deps(settings: ApiSettings, arn_prefix: str, clock: Clock | None = None) -> ApiDeps:
    from kizuna.api.app import ApiDeps
    from kizuna.auth.access_keys import CachedSecretLookup
    from kizuna.wiring_analytics import aggregate_store, link_tracking
    from kizuna.wiring_campaigns import campaign_deps
    from kizuna.wiring_journeys import (
        engagement_store,
        journey_deps,
        journey_orchestrator,
        journey_starter,
        journey_store,
        participant_store,
    )

    clock = clock or SystemClock()
    data = data_store(settings.data_table)
    return ApiDeps(
        apps=data,
        endpoints=data,
        queue=send_queue(settings.send_queue_url),
        clock=clock,
        keys=CachedSecretLookup(access_key_store(settings.access_keys_table, settings.keys_kms_key_id), clock),
        arn_prefix=arn_prefix,
        segments=segment_store(settings.data_table),
        templates=template_store(settings.data_table),
        jobs=job_store(settings.data_table),
        jobs_queue=job_queue(settings.jobs_queue_url),
        channels=(channels := channel_store(settings.data_table)),
        consent=channels,
        otp=lambda: otp_deps(settings, channels, clock),
        consultations=_consultations(settings, clock, data),
        content_approvals=lambda: content_approvals(settings.twilio_secret_id),
        events=event_sink(settings.events_stream),
        analytics=aggregate_store(settings.analytics_table),
        event_streams=aggregate_store(settings.analytics_table),
        links=link_tracking(settings),
        journeys=journey_store(settings.data_table),
        campaigns=campaign_deps(settings, clock, arn_prefix),
        journey_started=journey_starter(settings, clock),
        engagement=engagement_store(settings.data_table),
        participants=participant_store(settings.journeys_table),
        journey_engine=journey_deps(settings, clock, journey_orchestrator(settings.journey_state_machine_arn, clock)),
    )


def content_approvals(secret_id: str) -> Any:
    from kizuna.adapters.twilio_content import TwilioContentApprovals

    return TwilioContentApprovals(twilio_client(secret_id)[1])


def otp_deps(settings: ApiSettings, channels: Any, clock: Clock) -> OtpDeps:
    from kizuna.catalog import FUNCTIONS
    from kizuna.services.deliver import Deliverer
    from kizuna.services.otp import OtpDeps
    from kizuna.services.send_messages import SendDeps

    data = data_store(settings.data_table)
    shared = limits(settings.limits_table)
    deliverer = Deliverer(
        store=message_store(settings.messages_table),
        providers=providers(settings.twilio_secret_id),
        queue=send_queue(settings.send_queue_url),
        clock=clock,
        status_callback_base=settings.webhook_base_url,
        lease_s=FUNCTIONS["sender"].timeout_s,
        limiter=shared,
        spend=shared,
    )
    send = SendDeps(data, data, send_queue(settings.send_queue_url), clock, template_store(settings.data_table),
                    channels, channels)  # fmt: skip
    return OtpDeps(send=send, store=channels, deliverer=deliverer, events=event_sink(settings.events_stream))


def channel_store(table: str) -> Any:
    from kizuna.adapters.dynamo_channels import DynamoChannelStore

    return DynamoChannelStore(table, aws("dynamodb"))


def _consultations(settings: ApiSettings, clock: Clock, apps: DynamoDataStore) -> Any:
    from kizuna.wiring_consultations import consultation_deps

    return consultation_deps(settings, clock, apps)


def job_store(table: str) -> Any:
    from kizuna.adapters.dynamo_jobs import DynamoJobStore

    return DynamoJobStore(table, aws("dynamodb"))


def job_queue(url: str) -> Any:
    from kizuna.adapters.sqs_jobs import SqsJobQueue

    return SqsJobQueue(url, aws("sqs"))


def template_store(table: str) -> Any:
    from kizuna.adapters.dynamo_templates import DynamoTemplateStore

    return DynamoTemplateStore(table, aws("dynamodb"))


def segment_store(table: str) -> SegmentStore:
    from kizuna.adapters.dynamo_segments import DynamoSegmentStore

    return DynamoSegmentStore(table, aws("dynamodb"))


def jobs_deps(settings: JobsSettings, clock: Clock | None = None) -> JobDeps:
    from kizuna.adapters.s3_objects import RoleObjects
    from kizuna.services.import_jobs import JobDeps
    from kizuna.wiring_campaigns import campaign_deps

    data = data_store(settings.data_table)
    clock = clock or SystemClock()
    return JobDeps(
        apps=data,
        endpoints=data,
        jobs=job_store(settings.data_table),
        queue=job_queue(settings.jobs_queue_url),
        objects=RoleObjects(aws("sts"), aws("s3"), lambda **credentials: assumed_role_client("s3", **credentials)),
        clock=clock,
        segments=segment_store(settings.data_table),
        campaigns=campaign_deps(settings, clock),
    )


def reset() -> None:
    """Forget every cached client and credential (local mode re-points the process at a new moto server)."""
    aws.cache_clear()
    _session.cache_clear()
    _secrets.cache_clear()
    _twilio.clear()
