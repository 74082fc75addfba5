"""Each Lambda function's environment, read once into a pydantic model in its handler and passed down.

The field aliases are the environment variable names; infra/ sets exactly these names (an infra test checks it),
and they come from the catalog so that neither side spells them by hand.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kizuna.catalog import (
    CAMPAIGN_SCHEDULE_GROUP_ENV_VAR,
    CAMPAIGN_SCHEDULER_ROLE_ENV_VAR,
    JOBS_DLQ_ARN_ENV_VAR,
    JOBS_QUEUE_ARN_ENV_VAR,
    JOURNEY_STATE_MACHINE_ENV_VAR,
    KEYS_KMS_ENV_VAR,
    QUEUES,
    SECRETS,
    STREAMS,
    TABLES,
)
from kizuna.catalog_analytics import EVENTS_BUCKET_ENV_VAR


class FunctionSettings(BaseSettings):
    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    service_name: str = Field("kizuna", alias="POWERTOOLS_SERVICE_NAME")

    @classmethod
    def env_names(cls) -> set[str]:
        return {field.alias or name.upper() for name, field in cls.model_fields.items()}


class CampaignSettings(FunctionSettings):
    """What scheduling campaign runs needs (kizuna.adapters.scheduler_runs): the schedule group, the role the
    scheduler assumes to send to the jobs queue, and that queue's ARN and dead-letter queue's ARN as the target."""

    campaign_schedule_group: str = Field(alias=CAMPAIGN_SCHEDULE_GROUP_ENV_VAR)
    campaign_scheduler_role_arn: str = Field(alias=CAMPAIGN_SCHEDULER_ROLE_ENV_VAR)
    jobs_queue_arn: str = Field(alias=JOBS_QUEUE_ARN_ENV_VAR)
    jobs_dlq_arn: str = Field(alias=JOBS_DLQ_ARN_ENV_VAR)


class ApiSettings(CampaignSettings):
    data_table: str = Field(alias=TABLES["data"].env_var)
    messages_table: str = Field(alias=TABLES["messages"].env_var)
    limits_table: str = Field(alias=TABLES["limits"].env_var)
    access_keys_table: str = Field(alias=TABLES["access_keys"].env_var)
    keys_kms_key_id: str = Field(alias=KEYS_KMS_ENV_VAR)
    send_queue_url: str = Field(alias=QUEUES["send"].env_var)
    jobs_queue_url: str = Field(alias=QUEUES["jobs"].env_var)
    relay_queue_url: str = Field(alias=QUEUES["relay"].env_var)  # CUSTOM deliveries of EVENT campaigns and tests
    events_stream: str = Field(alias=STREAMS["events"].env_var)
    # One-time passwords are sent by the API itself (services.otp), with the sender's provider and callbacks;
    # consultations name the app's Twilio number from the same secret.
    twilio_secret_id: str = Field(alias=SECRETS["twilio"].env_var)
    webhook_base_url: str = Field(alias="WEBHOOK_BASE_URL")
    # Tracked links of SMS/WhatsApp sends go out under this base (a REST API of its own whose URL never changes).
    links_base_url: str = Field(alias="LINKS_BASE_URL")
    # Billed consultations (issue 8): bookings place Stripe holds.
    consultations_table: str = Field(alias=TABLES["consultations"].env_var)
    stripe_secret_id: str = Field(alias=SECRETS["stripe"].env_var)
    analytics_table: str = Field(alias=TABLES["analytics"].env_var)
    # Journeys (issue 7): publishing or resuming a journey starts its run's wake-up loop; execution metrics read the
    # runs' counters in the journeys table.
    journey_state_machine_arn: str = Field(alias=JOURNEY_STATE_MACHINE_ENV_VAR)
    journeys_table: str = Field(alias=TABLES["journeys"].env_var)


class SenderSettings(FunctionSettings):
    messages_table: str = Field(alias=TABLES["messages"].env_var)
    limits_table: str = Field(alias=TABLES["limits"].env_var)
    send_queue_url: str = Field(alias=QUEUES["send"].env_var)
    events_stream: str = Field(alias=STREAMS["events"].env_var)
    twilio_secret_id: str = Field(alias=SECRETS["twilio"].env_var)
    # Public base URL of the webhook API; Twilio posts status callbacks under it.
    webhook_base_url: str = Field(alias="WEBHOOK_BASE_URL")
    # The SES configuration set e-mails use unless the app's EMAIL channel names another (its events settle them).
    email_configuration_set: str = Field(alias="EMAIL_CONFIGURATION_SET")


class TwilioWebhookSettings(FunctionSettings):
    messages_table: str = Field(alias=TABLES["messages"].env_var)
    data_table: str = Field(alias=TABLES["data"].env_var)
    events_stream: str = Field(alias=STREAMS["events"].env_var)
    relay_queue_url: str = Field(alias=QUEUES["relay"].env_var)
    twilio_secret_id: str = Field(alias=SECRETS["twilio"].env_var)


class EmailEventsSettings(FunctionSettings):
    messages_table: str = Field(alias=TABLES["messages"].env_var)
    events_stream: str = Field(alias=STREAMS["events"].env_var)


class RelaySettings(FunctionSettings):
    relay_queue_url: str = Field(alias=QUEUES["relay"].env_var)
    relay_dlq_url: str = Field(alias=QUEUES["relay"].dlq_env_var)
    twilio_secret_id: str = Field(alias=SECRETS["twilio"].env_var)
    webhook_signing_secret_id: str = Field(alias=SECRETS["webhook_signing"].env_var)


class ReconcilerSettings(FunctionSettings):
    messages_table: str = Field(alias=TABLES["messages"].env_var)
    send_queue_url: str = Field(alias=QUEUES["send"].env_var)
    events_stream: str = Field(alias=STREAMS["events"].env_var)
    twilio_secret_id: str = Field(alias=SECRETS["twilio"].env_var)


class JobsSettings(CampaignSettings):
    data_table: str = Field(alias=TABLES["data"].env_var)
    jobs_queue_url: str = Field(alias=QUEUES["jobs"].env_var)
    # Campaign runs (issue 6) send through the send queue, count frequency caps in the limits table, and store
    # tracked links in the analytics table under the links API's URL.
    send_queue_url: str = Field(alias=QUEUES["send"].env_var)
    relay_queue_url: str = Field(alias=QUEUES["relay"].env_var)  # CUSTOM deliveries
    limits_table: str = Field(alias=TABLES["limits"].env_var)
    analytics_table: str = Field(alias=TABLES["analytics"].env_var)
    links_base_url: str = Field(alias="LINKS_BASE_URL")
    # Erasure jobs (kizuna.services.erase_events) rewrite event objects and scrub the ledger.
    events_bucket: str = Field(alias=EVENTS_BUCKET_ENV_VAR)
    analytics_events_table: str = Field(alias=TABLES["analytics_events"].env_var)


# --- Analytics (issue 5) ---


class AnalyticsIngestSettings(FunctionSettings):
    events_bucket: str = Field(alias=EVENTS_BUCKET_ENV_VAR)
    analytics_events_table: str = Field(alias=TABLES["analytics_events"].env_var)
    # The aggregates, and the per-app event stream destinations (PutEventStream).
    analytics_table: str = Field(alias=TABLES["analytics"].env_var)


class AnalyticsWebSettings(FunctionSettings):
    analytics_table: str = Field(alias=TABLES["analytics"].env_var)
    data_table: str = Field(alias=TABLES["data"].env_var)  # app names
    # Dashboard tokens are signed with a Kizuna access key; checking one needs the key's secret.
    access_keys_table: str = Field(alias=TABLES["access_keys"].env_var)
    keys_kms_key_id: str = Field(alias=KEYS_KMS_ENV_VAR)
    # A click on a tracked link is an event.
    events_stream: str = Field(alias=STREAMS["events"].env_var)
    # A journey's page shows its execution metrics per activity, read from the run's tallies.
    journeys_table: str = Field(alias=TABLES["journeys"].env_var)


# Function key (catalog.FUNCTIONS) -> the settings model its handler reads.
SETTINGS_BY_FUNCTION: dict[str, type[FunctionSettings]] = {
    "api": ApiSettings,
    "sender": SenderSettings,
    "twilio_webhook": TwilioWebhookSettings,
    "reconciler": ReconcilerSettings,
    "relay": RelaySettings,
    "email_events": EmailEventsSettings,
    "jobs": JobsSettings,
}


# --- Billed consultations (issue 8) -----------------------------------------------------------------------------
class VoiceWebhookSettings(FunctionSettings):
    consultations_table: str = Field(alias=TABLES["consultations"].env_var)
    events_stream: str = Field(alias=STREAMS["events"].env_var)
    twilio_secret_id: str = Field(alias=SECRETS["twilio"].env_var)
    stripe_secret_id: str = Field(alias=SECRETS["stripe"].env_var)
    call_timers_queue_url: str = Field(alias=QUEUES["timers"].env_var)


class StripeWebhookSettings(FunctionSettings):
    consultations_table: str = Field(alias=TABLES["consultations"].env_var)
    events_stream: str = Field(alias=STREAMS["events"].env_var)
    stripe_secret_id: str = Field(alias=SECRETS["stripe"].env_var)


class ConsultationTimersSettings(FunctionSettings):
    consultations_table: str = Field(alias=TABLES["consultations"].env_var)
    events_stream: str = Field(alias=STREAMS["events"].env_var)
    twilio_secret_id: str = Field(alias=SECRETS["twilio"].env_var)
    call_timers_queue_url: str = Field(alias=QUEUES["timers"].env_var)


class ConsultationsReconcilerSettings(FunctionSettings):
    consultations_table: str = Field(alias=TABLES["consultations"].env_var)
    events_stream: str = Field(alias=STREAMS["events"].env_var)
    twilio_secret_id: str = Field(alias=SECRETS["twilio"].env_var)
    stripe_secret_id: str = Field(alias=SECRETS["stripe"].env_var)


SETTINGS_BY_FUNCTION.update(
    {
        "voice_webhook": VoiceWebhookSettings,
        "stripe_webhook": StripeWebhookSettings,
        "consultation_timers": ConsultationTimersSettings,
        "consultations_reconciler": ConsultationsReconcilerSettings,
        "analytics_ingest": AnalyticsIngestSettings,
        "analytics_web": AnalyticsWebSettings,
    }
)


class JourneysSettings(FunctionSettings):
    """The journey engine's function (kizuna.services.journey_runs): endpoints and segments, participants, the
    delivery records conditions read, the send queue, the relay queue (CUSTOM activities) and the limits table
    (journey and app frequency caps, shared with campaigns)."""

    data_table: str = Field(alias=TABLES["data"].env_var)
    journeys_table: str = Field(alias=TABLES["journeys"].env_var)
    messages_table: str = Field(alias=TABLES["messages"].env_var)
    send_queue_url: str = Field(alias=QUEUES["send"].env_var)
    relay_queue_url: str = Field(alias=QUEUES["relay"].env_var)
    limits_table: str = Field(alias=TABLES["limits"].env_var)


SETTINGS_BY_FUNCTION["journeys"] = JourneysSettings
