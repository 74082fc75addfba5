"""Local mode: the whole of Kizuna on one machine, no AWS account, no Docker.

moto's server stands in for AWS, the sandbox for Twilio; the local runtime invokes the real handler modules from
functions/ (HTTP → API Gateway events, SQS pollers honouring the catalog, a scheduler), all configured from the
same catalog as the CDK app.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests
from botocore.exceptions import ClientError
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from kizuna import wiring
from kizuna.adapters.access_key_store import DynamoAccessKeyStore
from kizuna.adapters.scheduler_runs import LocalRunScheduler
from kizuna.auth.access_keys import AccessKey, KeyStatus, create_access_key
from kizuna.catalog import FUNCTIONS, QUEUES
from kizuna.clock import Clock, SystemClock
from kizuna.domain.jobs import JobEnvelope
from kizuna.local import consultations_local
from kizuna.local.aws_resources import LocalResources, create_local_resources
from kizuna.local.firehose_buffer import LocalFirehoseBuffer
from kizuna.local.functions import FunctionEnvironments, Handler
from kizuna.local.journey_orchestrator import LocalJourneyOrchestrator
from kizuna.local.localstripe_server import LocalStripe
from kizuna.local.moto_dispatch import cache_dispatch
from kizuna.local.moto_dynamodb_lock import serialise_dynamodb_writes
from kizuna.local.moto_sqs import one_pass_sqs
from kizuna.local.runtime_gateway import HTTP, LocalGateway, Route
from kizuna.local.runtime_queues import QueuePoller
from kizuna.local.runtime_scheduler import LocalScheduler
from kizuna.local.sandbox_twilio import VALID_FROM, SandboxTwilio
from kizuna.pinpoint.client import extended_client

REGION = "us-east-1"
LOCAL_EMAIL_DOMAIN = "kizuna.local"  # any address @kizuna.local can send in local mode
LOCAL_EMAIL_CONFIGURATION_SET = "kizuna-email"
LOCAL_SENDER_RATE_PER_S = 50.0
LOCAL_CALLS_PER_S = 10.0
log = logging.getLogger("kizuna.local")


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


# Queues of work scheduled for later (a consultation's end-of-call warning, delayed until then): what analytics has
# to wait for is done long before they fire.
SCHEDULED_QUEUES = ("timers",)


@dataclass
class LocalKizuna:
    port: int = 0
    credentials: Credentials | None = None  # None: a fresh admin key (or KIZUNA_ACCESS_KEY_ID/_SECRET_ACCESS_KEY)
    clock: Clock = field(default_factory=SystemClock)
    # The journey engine's clock (the journeys function and its loop), when it is not `clock`: the demo gives it an
    # OffsetClock and jumps it forward through a two-week journey. Its loop then runs on a scheduler of its own.
    journey_clock: Clock | None = None
    sandbox: SandboxTwilio = field(default_factory=SandboxTwilio)
    stripe: LocalStripe = field(default_factory=LocalStripe)  # localstripe, for billed consultations
    stripe_webhook_secret: str = field(init=False, default="")
    # Firehose buffers records before it writes an S3 object; local mode does too (kizuna.local.firehose_buffer).
    # 0: every emit is its own PutRecordBatch (benchmarks that count each handler's AWS calls).
    firehose_buffer_s: float = 1.0

    base_url: str = field(init=False, default="")
    resources: LocalResources = field(init=False)
    pollers: dict[str, QueuePoller] = field(init=False, default_factory=dict)
    handlers: dict[str, Handler] = field(init=False, default_factory=dict)

    def start(self) -> LocalKizuna:
        # Local mode points this process's AWS clients at moto; stop() puts the environment back as it was.
        self._saved_environ = dict(os.environ)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request otherwise
        serialise_dynamodb_writes()  # analytics counts with transactions, which moto does not lock (issue 5)
        cache_dispatch()  # moto scans every service's URL patterns for each request otherwise
        one_pass_sqs()  # moto's SQS counts the whole queue for each message sent or received otherwise
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, moto_port = self._moto.get_host_and_port()
        self.aws_endpoint = f"http://{host}:{moto_port}"
        # Handlers build their boto3 clients from the environment, exactly as in Lambda.
        os.environ.update(
            AWS_ENDPOINT_URL=self.aws_endpoint,
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
            KIZUNA_AWS_READ_TIMEOUT_S="30",
        )
        # No CloudWatch locally: keep metrics off and logs to warnings unless the caller asked for more.
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        wiring.reset()
        self.resources = create_local_resources(boto3.Session(), endpoint_url=self.aws_endpoint, region=REGION)
        self.sandbox.start()
        self._store_twilio_secret()
        consultations_local.start_stripe(self)
        self.credentials = self.credentials or _credentials_from_env() or None
        self.credentials = self._install_admin_key(self.credentials)

        self._gateway = LocalGateway(
            [
                Route("/v1/", self._invoke("api"), "api", FUNCTIONS["api"].timeout_s),
                # The webhooks API is an HTTP API in AWS (payload format 2.0); the management and links APIs are REST.
                Route(
                    "/webhooks/twilio/",
                    self._invoke("twilio_webhook"),
                    "twilio_webhook",
                    FUNCTIONS["twilio_webhook"].timeout_s,
                    payload=HTTP,
                ),
                *consultations_local.routes(self),
                # Analytics (issue 5): the dashboard (on the management API in AWS) and tracked links (on the links
                # REST API in AWS, infra/links_api.py): both REST events, as in AWS.
                Route(
                    "/dashboard/", self._invoke("analytics_web"), "analytics_web", FUNCTIONS["analytics_web"].timeout_s
                ),
                Route("/l/", self._invoke("analytics_web"), "analytics_web", FUNCTIONS["analytics_web"].timeout_s),
            ],
            port=self.port,
        )
        self.base_url = self._gateway.start()
        consultations_local.point_providers_at(self, self.base_url)
        self._create_email_identity()
        os.environ.update(
            self.resources.env_values()
            | {
                # One local gateway stands for the webhooks and the links APIs (two base URLs in AWS).
                "WEBHOOK_BASE_URL": self.base_url,
                "LINKS_BASE_URL": self.base_url,
                "EMAIL_CONFIGURATION_SET": LOCAL_EMAIL_CONFIGURATION_SET,
            }
        )
        self.firehose_buffer = LocalFirehoseBuffer(lambda: wiring.aws("firehose"), self.firehose_buffer_s or 1.0)
        if self.firehose_buffer_s:
            wiring.use_event_sinks(self.firehose_buffer.sink)  # before the handlers are imported: they bind sinks
            self.firehose_buffer.start()
        # Campaign runs are one-time schedules on the local scheduler, which puts them on the jobs queue when due.
        self.scheduler = LocalScheduler(self.clock)
        jobs_url = self.resources.queue_urls["jobs"]

        def enqueue_run(body: dict) -> None:
            wiring.job_queue(jobs_url).enqueue([JobEnvelope.model_validate(body).message])

        wiring.use_run_schedulers(lambda: LocalRunScheduler(self.scheduler, enqueue_run))
        # Journeys: the state machine's definition interpreted on the same scheduler (or, when the journeys run on a
        # clock of their own, on a scheduler of that clock), invoking the journeys function (looked up when a task
        # runs), which reads the same clock; one orchestrator for every handler, so executions and transitions add up.
        journey_clock = self.journey_clock or self.clock
        self.journey_scheduler = (
            self.scheduler if self.journey_clock is None else LocalScheduler(journey_clock, schedules=())
        )
        wiring.use_journey_clock(journey_clock)
        self.journey_orchestrator = LocalJourneyOrchestrator(
            self.journey_scheduler, lambda e, c: self.handlers["journeys"](e, c), journey_clock
        )
        wiring.use_journey_orchestrators(lambda: self.journey_orchestrator)
        self.handlers = {key: FunctionEnvironments(key) for key in FUNCTIONS}
        for key, handler in self.handlers.items():
            self.scheduler.register(key, handler)

        sqs = wiring.aws("sqs")
        for key, queue in QUEUES.items():
            poller = QueuePoller(
                sqs,
                self.resources.queue_urls[key],
                self.resources.queue_arns[key],
                queue,
                self.handlers[queue.consumer],
                FUNCTIONS[queue.consumer].timeout_s,
                self.clock,
            )
            poller.start()
            self.pollers[key] = poller
        self.scheduler.start(poll_s=1.0)
        if self.journey_scheduler is not self.scheduler:
            self.journey_scheduler.start(poll_s=1.0)
        return self

    def stop(self) -> None:
        for stop in (
            getattr(getattr(self, "scheduler", None), "stop", None),
            getattr(getattr(self, "journey_scheduler", None), "stop", None),
            *(p.stop for p in self.pollers.values()),
            getattr(getattr(self, "_gateway", None), "stop", None),
            self.sandbox.stop,
            self.stripe.stop,
            getattr(getattr(self, "firehose_buffer", None), "stop", None),
            self._forget_aws_state,
            getattr(getattr(self, "_moto", None), "stop", None),
        ):
            if stop is not None:
                stop()
        if hasattr(self, "_saved_environ"):
            os.environ.clear()
            os.environ.update(self._saved_environ)
            wiring.use_event_sinks(None)
            wiring.use_run_schedulers(None)
            wiring.use_journey_orchestrators(None)
            wiring.use_journey_clock(None)
            wiring.reset()

    def _forget_aws_state(self) -> None:
        # moto keeps its backends per process, not per server: without a reset the next local system in this
        # process would open the same queue names and inherit this one's in-flight and delayed messages.
        if getattr(self, "aws_endpoint", None):
            requests.post(f"{self.aws_endpoint}/moto-api/reset", timeout=30)

    def __enter__(self) -> LocalKizuna:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drain(self, timeout: float = 60.0, skip: tuple[str, ...] = ()) -> bool:
        """Wait until every queue (but those in `skip`) is empty and idle and the sandbox has delivered every
        callback."""
        queues_idle = all(p.drain(timeout) for key, p in self.pollers.items() if key not in skip)
        idle = queues_idle and self.sandbox.wait_for_idle(timeout)
        self.firehose_buffer.flush()  # what the settled work emitted is in S3 when drain returns
        return idle

    def backlog(self) -> dict[str, dict[str, int]]:
        """Each queue that is not idle, with its depth (what a drain that timed out was waiting for)."""
        depths = {key: poller.depth() for key, poller in self.pollers.items()}
        return {key: depth for key, depth in depths.items() if any(depth.values())}

    def drain_analytics(self, timeout: float = 60.0) -> bool:
        """Wait until every message, callback and event has gone through: sends settled, their events in S3, and
        every announced object counted by analytics_ingest (which a send's callbacks keep feeding)."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            before = self.pollers["analytics"].records
            idle = self.drain(max(1.0, deadline - time.monotonic()), skip=SCHEDULED_QUEUES)
            idle = self.pollers["analytics"].drain(max(1.0, deadline - time.monotonic())) and idle
            quiet = quiet + 1 if idle and self.pollers["analytics"].records == before else 0
            if quiet >= 2:
                return True
        return False

    def dashboard_url(self, app_id: str, expires_in_s: int = 3600) -> str:
        """A signed dashboard link for the admin key (what `kizuna analytics dashboard-url` prints)."""
        from kizuna.auth.dashboard_tokens import mint

        assert self.credentials is not None
        expires = int(self.clock.now().timestamp()) + expires_in_s
        token = mint(self.credentials.access_key_id, self.credentials.secret_access_key, app_id, expires)
        return f"{self.base_url}/dashboard/apps/{app_id}?token={token}"

    def pinpoint(self) -> Any:
        """The stock boto3 pinpoint client, pointed at local mode with the admin key."""
        assert self.credentials is not None
        return boto3.client(
            "pinpoint",
            endpoint_url=self.base_url,
            region_name=REGION,
            aws_access_key_id=self.credentials.access_key_id,
            aws_secret_access_key=self.credentials.secret_access_key,
        )

    def kizuna_client(self) -> Any:
        """The pinpoint client with Kizuna's extension operations too (kizuna.pinpoint.client)."""
        assert self.credentials is not None
        return extended_client(
            endpoint_url=self.base_url,
            region_name=REGION,
            aws_access_key_id=self.credentials.access_key_id,
            aws_secret_access_key=self.credentials.secret_access_key,
        )

    def _invoke(self, key: str) -> Handler:
        # The route exists before the handler module is imported: its settings need the gateway's own URL.
        return lambda event, context: self.handlers[key](event, context)

    def _create_email_identity(self) -> None:
        """SES (moto) sends only from verified identities: local mode verifies the domain the demo sends from."""
        ses = wiring.aws("sesv2")
        ses.create_email_identity(EmailIdentity=LOCAL_EMAIL_DOMAIN)
        # moto keeps its state per process: a second local system in the same process finds the set already there.
        try:
            ses.create_configuration_set(ConfigurationSetName=LOCAL_EMAIL_CONFIGURATION_SET)
        except ClientError as exc:
            if "AlreadyExists" not in exc.response["Error"]["Code"]:  # moto names it ConfigurationSetAlready...
                raise

    def _store_twilio_secret(self) -> None:
        secret = {
            "account_sid": self.sandbox.account_sid,
            "auth_token": self.sandbox.auth_token,
            "from_number": VALID_FROM,
            "whatsapp_from": VALID_FROM,
            "api_base_url": self.sandbox.base_url,
            # Throughput of the sandbox's numbers (a real account's operator writes what Twilio granted).
            "sender_rates": {VALID_FROM: LOCAL_SENDER_RATE_PER_S, "voice": LOCAL_CALLS_PER_S},
        }
        wiring.aws("secretsmanager").put_secret_value(
            SecretId=self.resources.secrets["twilio"], SecretString=json.dumps(secret)
        )

    def _install_admin_key(self, credentials: Credentials | None) -> Credentials:
        store = DynamoAccessKeyStore(
            self.resources.tables["access_keys"], self.resources.kms_key_id, wiring.aws("dynamodb"), wiring.aws("kms")
        )
        if credentials is None:
            key, secret = create_access_key(store, None, "local mode admin", self.clock)
            return Credentials(key.access_key_id, secret)
        key = AccessKey(credentials.access_key_id, None, self.clock.now(), KeyStatus.ACTIVE, "local mode admin")
        store.put(key, credentials.secret_access_key)
        return credentials


def _credentials_from_env() -> Credentials | None:
    key_id, secret = os.environ.get("KIZUNA_ACCESS_KEY_ID"), os.environ.get("KIZUNA_SECRET_ACCESS_KEY")
    return Credentials(key_id, secret) if key_id and secret else None
