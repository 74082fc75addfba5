"""Composition root: builds real adapters from a function's settings. Handlers call one of these at cold start.

Cold starts matter for the sender and the webhooks, so this module imports only what every function needs:
clients come from botocore directly (boto3 would add its S3 transfer machinery, ~100 ms), and what only the API or
the Twilio path needs is imported where it is built.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config

from kizuna.adapters.dynamo_data import DynamoDataStore
from kizuna.adapters.dynamo_messages import DynamoMessageStore
from kizuna.adapters.firehose_events import FirehoseEventSink
from kizuna.adapters.sqs_queue import SqsSendQueue
from kizuna.clock import Clock, SystemClock
from kizuna.domain.twilio_account import TwilioAccount

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from kizuna.adapters.access_key_store import DynamoAccessKeyStore
    from kizuna.adapters.twilio_messaging import TwilioSmsProvider
    from kizuna.api.app import ApiDeps
    from kizuna.ports import SegmentStore
    from kizuna.services.import_jobs import JobDeps
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


def data_store(table: str) -> DynamoDataStore:
    return DynamoDataStore(table, aws("dynamodb"))


def message_store(table: str) -> DynamoMessageStore:
    return DynamoMessageStore(table, aws("dynamodb"))


def send_queue(url: str) -> SqsSendQueue:
    return SqsSendQueue(url, aws("sqs"))


def event_sink(stream: str) -> FirehoseEventSink:
    return FirehoseEventSink(stream, aws("firehose"))


# Secrets are cached for five minutes: a rotated Twilio token reaches warm functions within that time.
SECRET_MAX_AGE_S = 300


@cache
def _secrets() -> SecretsProvider:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=aws("secretsmanager"))


def twilio_account(secret_id: str) -> TwilioAccount:
    return TwilioAccount.model_validate(_secrets().get(secret_id, transform="json", max_age=SECRET_MAX_AGE_S))


_providers: dict[tuple[str, str], TwilioSmsProvider] = {}


def sms_provider(secret_id: str) -> TwilioSmsProvider:
    """A provider for the account currently in the secret; rebuilt only when the credentials change."""
    account = twilio_account(secret_id)
    cache_key = (account.account_sid, account.auth_token.get_secret_value())
    provider = _providers.get(cache_key)
    if provider is None:
        from kizuna.adapters.twilio_messaging import Sender, TwilioMessaging, TwilioSmsProvider, make_twilio_client

        client = make_twilio_client(
            account.account_sid, account.auth_token.get_secret_value(), account.api_base_url, timeout_s=10.0
        )
        if account.messaging_service_sid:
            sender = Sender.service(account.messaging_service_sid)
        else:
            sender = Sender.number(account.from_number)
        provider = _providers[cache_key] = TwilioSmsProvider(TwilioMessaging(client), sender)
    return provider


def access_key_store(table: str, kms_key_id: str) -> DynamoAccessKeyStore:
    from kizuna.adapters.access_key_store import DynamoAccessKeyStore

    return DynamoAccessKeyStore(table, kms_key_id, aws("dynamodb"), aws("kms"))


def api_deps(settings: ApiSettings, arn_prefix: str, clock: Clock | None = None) -> ApiDeps:
    from kizuna.api.app import ApiDeps
    from kizuna.auth.access_keys import CachedSecretLookup

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
        events=event_sink(settings.events_stream),
        analytics=aggregate_store(settings.analytics_table),
        event_streams=aggregate_store(settings.analytics_table),
    )


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

    data = data_store(settings.data_table)
    return JobDeps(
        apps=data,
        endpoints=data,
        jobs=job_store(settings.data_table),
        queue=job_queue(settings.jobs_queue_url),
        objects=RoleObjects(
            aws("sts"),
            aws("s3"),
            lambda **credentials: _session().create_client("s3", config=_config(), **credentials),
        ),
        clock=clock or SystemClock(),
        segments=segment_store(settings.data_table),
    )


def reset() -> None:
    """Forget every cached client and credential (local mode re-points the process at a new moto server)."""
    aws.cache_clear()
    _session.cache_clear()
    _secrets.cache_clear()
    _providers.clear()


# --- Analytics (issue 5) ---------------------------------------------------------------------------------------


def aggregate_store(table: str) -> Any:
    """The analytics table: aggregates, chunk markers, event stream destinations, tracked links."""
    from kizuna.adapters.dynamo_aggregates import DynamoAggregateStore

    return DynamoAggregateStore(table, aws("dynamodb"))


def event_ledger(table: str) -> Any:
    from kizuna.adapters.dynamo_event_ledger import DynamoEventLedger

    return DynamoEventLedger(table, aws("dynamodb"))


def event_objects() -> Any:
    from kizuna.adapters.s3_event_objects import S3EventObjects

    return S3EventObjects(aws("s3"))


def event_destinations() -> Any:
    from kizuna.adapters.event_destinations import AssumedRoleDestinations

    return AssumedRoleDestinations(
        aws("sts"), lambda service, **credentials: _session().create_client(service, config=_config(), **credentials)
    )


def link_store(table: str) -> Any:
    """Tracked links (kizuna.services.links): the send path stores them, analytics_web resolves them."""
    return aggregate_store(table)


# Subscribers to ingested events (kizuna.ports_analytics.EventTriggers): campaigns and journeys (issues 6 and 7)
# append theirs here; analytics_ingest calls each with every distinct event after its counts are committed.
EVENT_TRIGGERS: list[Any] = []
