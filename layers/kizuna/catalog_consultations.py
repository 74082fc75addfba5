"""Billed consultations (issue 8) in the resource catalog: their table, the call timers queue, the voice and Stripe
webhooks, the timer and reconciler functions, the reconciler's schedule and the Stripe secret.

kizuna.catalog adds each of these to its FUNCTIONS, TABLES, QUEUES, SCHEDULES and SECRETS; read them from there.
"""

from __future__ import annotations

from kizuna.catalog_types import Function, Index, Queue, Schedule, Secret, Table

FUNCTIONS: dict[str, Function] = {
    f.key: f
    for f in (
        # Twilio voice: the number's voice URL, <Gather>/<Dial> actions and every call status callback.
        Function("voice_webhook", "functions/voice_webhook/handler.handler", timeout_s=10, memory_mb=256),
        Function("stripe_webhook", "functions/stripe_webhook/handler.handler", timeout_s=10, memory_mb=256),
        # The one-minute warning and the cut, woken by delayed messages on the timers queue.
        Function("consultation_timers", "functions/consultation_timers/handler.handler", timeout_s=20, memory_mb=256),
        Function(
            "consultations_reconciler",
            "functions/consultations_reconciler/handler.handler",
            timeout_s=120,
            memory_mb=256,
        ),
    )
}

TABLES: dict[str, Table] = {
    "consultations": Table(
        "consultations",
        "CONSULTATIONS_TABLE",
        partition_key="pk",
        sort_key="sk",
        ttl_attribute="expires_at",  # only provider-event dedup markers expire; consultations are kept (accounting)
        indexes=(
            # Sparse: only callable bookings carry caller_key / pin_key, only a call's record carries call_key, and
            # only records with work left carry open_shard ("open#0".."open#3") and check_at.
            Index("by_caller", partition_key="caller_key", sort_key="window_start"),
            Index("by_pin", partition_key="pin_key", sort_key="window_start"),
            Index("by_call", partition_key="call_key"),
            Index("open", partition_key="open_shard", sort_key="check_at"),
        ),
    )
}

QUEUES: dict[str, Queue] = {
    "timers": Queue(
        "timers",
        "CALL_TIMERS_QUEUE_URL",
        consumer="consultation_timers",
        batch_size=10,
        max_concurrency=2,
        max_receive_count=4,
    )  # fmt: skip
}

SCHEDULES: dict[str, Schedule] = {
    "reconcile_consultations": Schedule("reconcile_consultations", function="consultations_reconciler", rate_minutes=5)
}

SECRETS: dict[str, Secret] = {
    "stripe": Secret(
        "stripe", "STRIPE_SECRET_ID", "Stripe credentials as JSON: api_key (sk_...) and webhook_secret (whsec_...)"
    )
}
