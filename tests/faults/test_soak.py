"""Issue 9's soak with faults, bounded for `make test`: messages through local mode's real path while the sandbox
Twilio answers 5xx, 20429 and timeouts, SQS delivers twice and loses acks, the sender crashes before and after the
provider call, handlers crash before they answer, DynamoDB throttles and Firehose fails records - all at once
(kizuna.local.faults_soak). Afterwards the accounting check: every accepted message in one terminal state, the
sandbox saw each recipient-message at most once, KPIs equal the sandbox's counts.

KIZUNA_SOAK_MESSAGES runs it longer; `bench/run.py --only soak` runs 20,000 and writes docs/benchmarks.md.
"""

from __future__ import annotations

import os

import pytest

from kizuna.local.faults import FaultRates
from kizuna.local.faults_soak import SoakConfig, run_soak

pytestmark = pytest.mark.e2e

MESSAGES = int(os.environ.get("KIZUNA_SOAK_MESSAGES", "200"))
# Higher than the benchmark's rates, so that a short run still meets every kind of fault.
CONFIG = SoakConfig(
    messages=MESSAGES,
    seed=9,
    sandbox_5xx=0.04,
    sandbox_20429=0.06,
    sandbox_timeout=0.03,
    rates=FaultRates(crash_before_provider=0.03, crash_after_provider=0.03, crash_before_ack=0.03),
)
EVERY_KIND = (
    "twilio_20503",
    "twilio_20429",
    "twilio_timeout",
    "sqs_send_duplicated",
    "sqs_send_acks_dropped",
    "crash_before_provider_call",
    "crash_after_provider_call",
    "crash_before_ack",
    "dynamodb_throttled",
    "firehose_records_failed",
)


@pytest.mark.timeout(900)
def test_under_every_fault_at_once_nothing_is_lost_nothing_sent_twice_and_kpis_equal_the_sandbox():
    result = run_soak(CONFIG)
    print(result.summary())

    assert result.problems == []
    assert result.accepted == MESSAGES + result.refused_at_submission > MESSAGES
    assert sum(result.statuses.values()) == result.accepted
    assert {kind for kind in EVERY_KIND if result.faults[kind] == 0} == set()  # the faults really happened
    assert result.duplicates_suppressed > 0
