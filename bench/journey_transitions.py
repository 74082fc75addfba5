"""Journey state transitions and cost: a 5-activity journey (SMS → Wait 1 day → ConditionalSplit on the first SMS's
delivery → SMS / SMS) run by the journey state machine's own definition (kizuna.journey_state_machine) through the
local interpreter (kizuna.local.step_functions) on a virtual clock, the production engine over in-memory stores, at
1,000 and 100,000 participants. Target: the second run's state transitions within 2× the first's. From the same
runs, the AWS cost of 1M participants next to Pinpoint's published price.

What is counted, and how:
- State transitions: by the interpreter, as Step Functions Standard bills them (each state entered, an Inline Map's
  inner states once per iteration, each retry).
- The journeys function: every invocation, its CPU time (time.process_time around the handler's work) and the AWS
  requests it would make: each call the engine makes on a port is metered by how the real adapter turns it into
  DynamoDB and SQS requests (`RULES`: chunks of 100 per BatchGetItem, 25 per BatchWriteItem, 99 moves and a tally
  update per TransactWriteItems, 10 per SendMessageBatch) and the request units those consume. A call without a
  rule fails the benchmark, so a new port call cannot go unpriced.
- Checked every run: every participant got the first SMS and exactly one of the two follow-ups, the one its first
  message's delivery (the simulated sender delivers 90%) chose; the journey COMPLETED; every execution SUCCEEDED.
"""

from __future__ import annotations

import math
import os
from typing import Any

from campaign_dispatch import LAMBDA_FULL_VCPU_MB, SEND_BATCH_LATENCY_S
from import_rate import DEFAULT_LATENCY_S
from journey_transitions_meter import (
    LATENCY_S,
    SFN_PER_TRANSITION_USD,
    TRANSACT_LATENCY_S,
    Meter,
    cost,
    counts,
    lambda_seconds,
)
from journey_transitions_run import DELIVER_PERCENT, FLOW, PROFILED, START, profile, run_size
from prices import PINPOINT_FREE_MTA, PRICES_USD
from report import PYTHON, Section, table
from segment_eval import QUERY_PAGE_LATENCY_S

from kizuna.adapters.dynamo_engagement import ASKED_AT_ONCE
from kizuna.adapters.sqs_queue import SEND_AT_ONCE
from kizuna.catalog import ENDPOINT_SHARDS, FUNCTIONS
from kizuna.ports_journeys import ENTRY_BATCH
from kizuna.services.journey_runs import SHARD_BUDGET

NAME = "journey_transitions"
SIZES = (1_000, 100_000)
PROJECTED = 1_000_000
# Prices: bench/prices.py (Pinpoint's Monthly Targeted Audience).
PINPOINT_MTA_USD = PRICES_USD["pinpoint.mta_endpoint"]
PINPOINT_MTA_FREE = PINPOINT_FREE_MTA


# -- at a million, and the notes --------------------------------------------------------------------------------


def profile_note(found: dict[str, Any], results: list[dict[str, Any]]) -> str:
    wake = found["wake_shard"]["s"] or 1e-9
    messages = 2 * PROFILED
    per = [
        sum(i["cpu_s"] for i in r["invocations"] if i["action"] == "wake") / r["participants"] * 1e6 for r in results
    ]
    return (
        f"Where the journeys function's CPU goes (cProfile of the run alone at {PROFILED:,} participants, cumulative "
        f"times under the profiler): the send path (`send_to_endpoints`: consent, compose, queue) is "
        f"{found['send']['s'] / wake:.0%} of `wake_shard`, the journey logic (`advance_traced`) "
        f"{found['advance']['s'] / wake:.0%}. Within the send path, `parse_phone` (phonenumbers) runs "
        f"{found['phone']['calls'] / messages:.1f}× per message queued and takes {found['phone']['s'] / wake:.0%} of "
        "`wake_shard`, re-parsing addresses that were stored already normalised: the CPU to save next. Wake CPU per "
        "participant (no profiler): "
        + " and ".join(f"{us:.0f} µs at {r['participants']:,}" for us, r in zip(per, results, strict=True))
        + " (CPU time on a shared machine varies by a few tens of percent between runs)."
    )


def at_a_million(large: dict[str, Any]) -> list[dict[str, Any]]:
    """Each wake-up of the large run, and its slowest shard grown to PROJECTED participants (all of its time taken as
    growing with them: conservative). A wake-up stops entering or taking due participants after SHARD_BUDGET, and
    the rest wakes at once: one more loop each time it runs out."""
    growth = PROJECTED / large["participants"]
    out = []
    for index, at in enumerate(sorted({i["at"] for i in large["invocations"]})):
        shards = [i for i in large["invocations"] if i["at"] == at and i["action"] == "wake"]
        slowest = max(shards, key=lambda_seconds)
        io = {call: s for (phase, call), s in large["meter"].io_by.items() if phase == at}
        top = max(io, key=io.get) if io else "-"
        grown = lambda_seconds(slowest) * growth
        out.append({
            "at": at, "what": "split + follow-up SMS" if index else "entry + first SMS",
            "cpu_s": sum(i["cpu_s"] for i in shards), "slowest_cpu_s": slowest["cpu_s"],
            "slowest_s": lambda_seconds(slowest), "slowest_1m_s": grown,
            "top_call": top, "top_share": io.get(top, 0) / max(sum(io.values()), 1e-9),
            "extra_loops": max(0, math.ceil(grown / SHARD_BUDGET.total_seconds()) - 1),
        })  # fmt: skip
    return out


def million_notes(at_1m: list[dict[str, Any]], extra_transitions: int) -> list[str]:
    timeout, budget = FUNCTIONS["journeys"].timeout_s, SHARD_BUDGET.total_seconds()
    notes = [f"At {PROJECTED:,} a shard holds {PROJECTED // ENDPOINT_SHARDS:,} participants."]
    for w in at_1m:
        notes.append(
            f"The wake-up of {w['at']:%m-%d %H:%M} ({w['what']}) would take ~{w['slowest_1m_s']:.0f} s for its "
            "slowest shard: "
            + (
                f"inside the {budget:.0f} s a shard's wake-up may take (journey_runs.SHARD_BUDGET; the journeys "
                f"function's timeout is {timeout} s)."
                if not w["extra_loops"]
                else f"past the {budget:.0f} s a wake-up may take (journey_runs.SHARD_BUDGET), so the rest (of the "
                f"entry, or of the due participants) waits for the next loop, at once: ~{w['extra_loops']} more "
                f"loop(s) of {ENDPOINT_SHARDS + 5} transitions (counted in the projection above)."
            )
        )
    notes.append(
        "Entry is cut by the same budget as the moves: a shard's segment is entered in batches of "
        f"{ENTRY_BATCH}, each batch's entrants, counts and progress one transaction, and a wake-up that runs out of "
        "time leaves the rest to the next loop. The delivery records a split reads are read in BatchGetItem requests "
        "of 100 keys before a batch moves (kizuna.services.journey_conditions), not one GetItem per participant; "
        f"the send queue sends {SEND_AT_ONCE} SendMessageBatch requests side by side, and the latest journey "
        f"messages go {ASKED_AT_ONCE} BatchWriteItem requests at a time (their time above counts one round trip per "
        "group); every other request is counted one after another."
    )
    if extra_transitions:
        notes.append(
            f"Running out of time costs {extra_transitions} more transitions "
            f"({_usd(extra_transitions * SFN_PER_TRANSITION_USD)}) and a few more invocations."
        )
    return [" ".join(notes)]


def _usd(value: float) -> str:
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def project(small: dict[str, float], large: dict[str, float], n_small: int, n_large: int, n: int) -> dict:
    """Each cost item as fixed + per participant, through the two measured runs."""
    return {k: large[k] + (large[k] - small[k]) * (n - n_large) / (n_large - n_small) for k in large}


# -- the section ------------------------------------------------------------------------------------------------


def run() -> Section:
    results = [run_size(n) for n in SIZES]
    profiled = profile()
    small, large = results
    ratio = large["transitions"] / small["transitions"]
    costs = [cost(r) for r in results]
    projected = project(*costs, *SIZES, PROJECTED)
    at_1m = at_a_million(large)
    extra_transitions = sum(w["extra_loops"] for w in at_1m) * (ENDPOINT_SHARDS + 5)
    projected["Step Functions"] += extra_transitions * SFN_PER_TRANSITION_USD
    total = sum(projected.values())
    pinpoint = (PROJECTED - PINPOINT_MTA_FREE) * PINPOINT_MTA_USD
    at_projection = project(*[counts(r) for r in results], *SIZES, PROJECTED)
    at_projection["transitions"] += extra_transitions
    section = Section(
        NAME,
        "Journey state transitions and cost (local interpreter, 1,000 and 100,000 participants)",
        f"{PYTHON} bench/run.py --only {NAME}",
    )
    rows = []
    for r, c in zip(results, costs, strict=True):
        wakes = [i for i in r["invocations"] if i["action"] == "wake"]
        loops = len(r["invocations"]) - len(wakes)
        rows.append(
            [
                f"{r['participants']:,}",
                loops,
                len(r["executions"]),
                f"**{r['transitions']}**",
                len(r["invocations"]),
                f"{sum(i['cpu_s'] for i in wakes):.2f}",
                f"{r['cpu_s']:.1f}",
                f"{r['wall_s']:.1f}",
                f"{r['messages']:,}",
                f"{r['thanks']:,} / {r['again']:,}",
                f"${sum(c.values()):.4f}",
            ]
        )
    per_wake = [
        [
            w["at"].strftime("%Y-%m-%d %H:%M"),
            w["what"],
            f"{w['cpu_s']:.2f}",
            f"{w['slowest_cpu_s'] * 1000:.0f}",
            f"{w['slowest_s']:.1f}",
            f"~{w['slowest_1m_s']:.0f}",
            f"{w['top_call']} ({w['top_share']:.0%})",
        ]
        for w in at_1m
    ]
    meter: Meter = large["meter"]
    requests = [
        [f"{service} {operation}", f"{count / large['participants'] * 1000:,.1f}"]
        for (service, operation), count in sorted(meter.requests.items())
    ]
    units = meter.units
    section.body = [
        f"The journey `{FLOW}` "
        f"(5 activities) over a segment of N SMS endpoints (Asia/Tokyo), published ACTIVE at {START:%Y-%m-%d %H:%M} "
        "UTC: the production engine (`journey_runs.wake_shard` / `plan`, in-memory stores, the simulator's sender, "
        f"which delivers {DELIVER_PERCENT}% of messages by a hash of their id and writes the delivery records the "
        "split reads) invoked by **the state machine's own definition** (`kizuna.journey_state_machine`) through the "
        "local interpreter (`kizuna.local.step_functions`), on a virtual clock. Transitions are counted by the "
        "interpreter as Step Functions Standard bills them: each state entered (an Inline Map's inner states once "
        "per iteration, the iterations themselves free), each retry (none happened). Checked every run: each "
        "participant got `hello` and then exactly the follow-up its first message's delivery chose, the journey "
        "COMPLETED, every execution SUCCEEDED.",
        "",
        *table(
            [
                "participants",
                "wake-ups",
                "executions",
                "state transitions",
                "journeys invocations",
                "wake CPU (s)",
                "run CPU (s)",
                "run wall (s)",
                "messages",
                "thanks / again",
                "AWS cost",
            ],
            rows,
        ),
        "",
        f"**Ratio: {ratio:.2f}×** the state transitions for {SIZES[1] // SIZES[0]}× the participants (target ≤ 2×). "
        "Each wake-up is "
        f"{ENDPOINT_SHARDS + 5} transitions (Shards, {ENDPOINT_SHARDS} × WakeShard, Plan, Next, UntilNextWake, "
        f"CountLoop) and the last {ENDPOINT_SHARDS + 4} (… Next, Done), so the count follows the journey's wake-ups "
        "(here: entry at once, the split a day later), never its participants. Run CPU includes the simulated "
        "sender and the interpreter; wall time is on a shared machine (load average "
        f"{os.getloadavg()[0]:.1f} when this section was written), CPU time is the steadier figure.",
        "",
        f"Journeys function at {large['participants']:,} participants, per wake-up of the 16 shards (one invocation "
        "each; AWS duration = CPU here ÷ the function's "
        f"{min(1.0, FUNCTIONS['journeys'].memory_mb / LAMBDA_FULL_VCPU_MB):.2f} vCPU + its requests one after "
        "another at the assumed latencies below, but for those the adapters send side by side, noted at the end):",
        "",
        *table(
            [
                "wake-up (UTC)",
                "moves",
                "CPU, 16 shards (s)",
                "slowest shard CPU (ms)",
                "slowest shard on AWS (s)",
                f"… at {PROJECTED:,} (s)",
                "most of its I/O",
            ],
            per_wake,
        ),
        "",
        profile_note(profiled, results),
        "",
        f"AWS requests per 1,000 participants at {large['participants']:,} (from the port calls, by the real "
        f"adapters' chunking): {units['wru'] / large['participants']:.2f} WRU and "
        f"{units['rru'] / large['participants']:.2f} RRU per participant (the moves: transactional puts at 2 WRU, "
        "the due index 1 WRU per entry written or removed, the tally ADD per 99; the latest journey message per SMS; "
        "endpoint, delivery-record and consent reads at 1 RRU per key):",
        "",
        *table(["request", "per 1,000 participants"], requests),
        "",
        f"**Cost per {PROJECTED:,} participants** (each cost item fixed + per participant through the two runs; "
        "Step Functions Standard $0.025 per 1,000 state transitions, aws.amazon.com/step-functions/pricing read "
        "2026-12; Lambda arm64 $0.20/M requests + GB-s, DynamoDB on-demand "
        f"${PRICES_USD['dynamodb.write_request_unit'] * 1e6:.3f}/M WRU and "
        f"${PRICES_USD['dynamodb.read_request_unit'] * 1e6:.3f}/M RRU, SQS ${PRICES_USD['sqs.request'] * 1e6:.2f}/M, "
        "as import_rate's; assumed latencies: "
        f"{DEFAULT_LATENCY_S * 1000:.0f} ms per single-item request, "
        f"{LATENCY_S[('dynamodb', 'BatchGetItem')] * 1000:.0f} ms per BatchGetItem, "
        f"{LATENCY_S[('dynamodb', 'BatchWriteItem')] * 1000:.0f} ms per BatchWriteItem, "
        f"{TRANSACT_LATENCY_S * 1000:.0f} ms per TransactWriteItems, "
        f"{SEND_BATCH_LATENCY_S * 1000:.0f} ms per SendMessageBatch, {QUERY_PAGE_LATENCY_S * 1000:.0f} ms per 1 MB "
        "Query page). What happens after the send queue (the sender function, Twilio, delivery records) is the same "
        "for a campaign's messages and left out, as Pinpoint's per-message SMS charges are left out of its side:",
        "",
        *table(
            ["", f"{SIZES[0]:,}", f"{SIZES[1]:,}", f"{PROJECTED:,} (projected)"],
            [[k, _usd(costs[0][k]), _usd(costs[1][k]), _usd(projected[k])] for k in projected]
            + [
                [
                    "**all**",
                    f"**{_usd(sum(costs[0].values()))}**",
                    f"**{_usd(sum(costs[1].values()))}**",
                    f"**{_usd(total)}**",
                ]
            ],
        ),
        "",
        f"**Pinpoint** charged journeys by Monthly Targeted Audience: ${PINPOINT_MTA_USD} per endpoint a campaign or "
        f"journey targets in a month, the first {PINPOINT_MTA_FREE:,} free (aws.amazon.com/pinpoint/pricing, as "
        "recorded by api-evangelist/amazon-pinpoint `plans/amazon-pinpoint-plans-pricing.yml`, read from the AWS page "
        f"2026-08-13; Pinpoint's $0.0001 is its price per e-mail, not per journey endpoint): {PROJECTED:,} "
        f"participants = **${pinpoint:,.0f}** a month, against **${total:.2f}** of AWS resources here "
        f"(Pinpoint {pinpoint / total:,.0f}× as much), of which Step Functions is {_usd(projected['Step Functions'])}.",
        "",
        *million_notes(at_1m, extra_transitions),
    ]
    section.figures = {f"per_participant.{k}": v / PROJECTED for k, v in at_projection.items()} | {
        "per_participant.sms": large["messages"] / large["participants"],
        "projected_participants": PROJECTED,
    }
    section.verdict = (
        f"{small['transitions']} state transitions at {SIZES[0]:,} participants and {large['transitions']} at "
        f"{SIZES[1]:,} (**{ratio:.2f}×**, target ≤ 2×); the {SIZES[1]:,} run took {large['cpu_s']:.0f} s CPU "
        f"({large['wall_s']:.0f} s wall on a shared machine). {PROJECTED:,} participants cost about "
        f"**{_usd(total)}** on AWS (Step Functions {_usd(projected['Step Functions'])}; mostly DynamoDB writes, "
        f"${projected['DynamoDB writes']:.2f}) against Pinpoint's **${pinpoint:,.0f}** a month of targeted audience."
    )
    return section
