"""The load run's accounting check: what the answers acknowledged against what local mode stored.

- PutEvents: every event answered 202 has its item in the analytics ledger (one item per distinct event, pk
  `<app>#<endpoint>`, sk event id: what the analytics pipeline counts), no event is there that was never sent, and
  the `events-grouped-by-event-type` KPI counts exactly the ledger's events of the run's event type.
- UpdateEndpoint: GetEndpoint returns, for each endpoint and each attribute written to it, the value of the last
  acknowledged write of that attribute (or of a later write whose answer never came: it may have been applied),
  however many clients wrote other attributes of the same endpoint at the same time.
- Status webhook: each delivery record holds the status (and error code) the ladder (kizuna.domain.messages
  `advances`) reaches from `queued` by folding in the callbacks in the order they were posted: every acknowledged
  one, and any subset of the unanswered ones (each may or may not have been applied). A 2xx means applied or rightly
  ignored, so a record anywhere else is a callback acknowledged and lost.

`observe` reads the system through the stock boto3 pinpoint client and DynamoDB (moto); `check` compares, so a
test can give it a doctored ledger.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from load_requests import EVENT_TYPE, SEQ_ATTRIBUTE

from kizuna.domain.messages import FAILURES, TWILIO_STATUS, advances

Ledger = dict[str, Any]


@dataclass
class Observed:
    ledger_ids: dict[str, set[str]] = field(default_factory=dict)  # endpoint id -> event ids in the ledger table
    kpi_events: float = 0.0  # events-grouped-by-event-type for EVENT_TYPE
    endpoint_values: dict[str, dict[str, str]] = field(default_factory=dict)  # endpoint id -> attribute -> value
    records: dict[str, tuple[str, str | None] | None] = field(default_factory=dict)  # message id -> status, code


def merge(ledgers: list[Ledger]) -> Ledger:
    """One ledger from several locust runs (their keys do not overlap but for the webhook's message ids)."""
    merged: Ledger = {k: defaultdict(list) for k in ("events", "events_unacknowledged", "endpoints", "callbacks")}
    merged["responses"], merged["failures"] = defaultdict(lambda: defaultdict(int)), []
    for ledger in ledgers:
        for key in ("events", "events_unacknowledged", "endpoints", "callbacks"):
            for ident, values in ledger.get(key, {}).items():
                merged[key][ident] += values
        for operation, counts in ledger.get("responses", {}).items():
            for kind, n in counts.items():
                merged["responses"][operation][kind] += n
        merged["failures"] += ledger.get("failures", [])
    return merged


def observe(pinpoint: Any, ddb: Any, tables: dict[str, str], app_id: str, ledger: Ledger) -> Observed:
    observed = Observed()
    endpoints = set(ledger["events"]) | set(ledger["events_unacknowledged"])
    for endpoint_id in sorted(endpoints):
        observed.ledger_ids[endpoint_id] = _ledger_ids(ddb, tables["analytics_events"], f"{app_id}#{endpoint_id}")
    now = datetime.now(UTC)
    rows = pinpoint.get_application_date_range_kpi(
        ApplicationId=app_id, KpiName="events-grouped-by-event-type", StartTime=now - timedelta(days=2), EndTime=now
    )["ApplicationDateRangeKpiResponse"]["KpiResult"]["Rows"]
    observed.kpi_events = sum(
        float(r["Values"][0]["Value"]) for r in rows if r["GroupedBys"] and r["GroupedBys"][0]["Value"] == EVENT_TYPE
    )
    for endpoint_id in sorted(ledger["endpoints"]):
        try:
            response = pinpoint.get_endpoint(ApplicationId=app_id, EndpointId=endpoint_id)["EndpointResponse"]
        except pinpoint.exceptions.NotFoundException:
            observed.endpoint_values[endpoint_id] = {}
            continue
        attributes = response.get("Attributes") or {}
        observed.endpoint_values[endpoint_id] = {k: v[0] for k, v in attributes.items() if k.startswith(SEQ_ATTRIBUTE)}
    observed.records = delivery_records(ddb, tables["messages"], sorted(ledger["callbacks"]))
    return observed


def _ledger_ids(ddb: Any, table: str, pk: str) -> set[str]:
    ids: set[str] = set()
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
        "ProjectionExpression": "sk",
    }
    while True:
        page = ddb.query(**kwargs)
        ids |= {item["sk"]["S"] for item in page["Items"]}
        if "LastEvaluatedKey" not in page:
            return ids
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def delivery_records(ddb: Any, table: str, message_ids: list[str]) -> dict[str, tuple[str, str | None] | None]:
    found: dict[str, tuple[str, str | None] | None] = dict.fromkeys(message_ids)
    for start in range(0, len(message_ids), 100):
        request = {
            table: {
                "Keys": [{"message_id": {"S": m}} for m in message_ids[start : start + 100]],
                "ProjectionExpression": "message_id, #s, error_code",
                "ExpressionAttributeNames": {"#s": "status"},
            }
        }
        while request:
            page = ddb.batch_get_item(RequestItems=request)
            for item in page["Responses"].get(table, []):
                found[item["message_id"]["S"]] = (item["status"]["S"], item.get("error_code", {}).get("S"))
            request = page.get("UnprocessedKeys") or {}
    return found


def check(ledger: Ledger, observed: Observed) -> list[str]:
    """Everything acknowledged that the system does not hold, as sentences; empty when nothing was lost."""
    return [*_check_events(ledger, observed), *_check_endpoints(ledger, observed), *_check_callbacks(ledger, observed)]


def _check_events(ledger: Ledger, observed: Observed) -> list[str]:
    problems = []
    lost = invented = 0
    for endpoint_id in sorted(set(ledger["events"]) | set(ledger["events_unacknowledged"])):
        accepted = set(ledger["events"].get(endpoint_id, ()))
        maybe = set(ledger["events_unacknowledged"].get(endpoint_id, ()))
        stored = observed.ledger_ids.get(endpoint_id, set())
        missing = sorted(accepted - stored)
        lost += len(missing)
        if missing:
            problems.append(f"PutEvents: {len(missing)} events answered 202 for {endpoint_id} are not counted: "
                            f"{', '.join(missing[:5])}")  # fmt: skip
        unknown = stored - accepted - maybe
        invented += len({e for e in unknown if e.startswith("load-")})
    if invented:
        problems.append(f"PutEvents: {invented} events counted that no request sent")
    counted = sum(len({e for e in ids if e.startswith("load-")}) for ids in observed.ledger_ids.values())
    if observed.kpi_events != counted:
        problems.append(
            f"PutEvents: the {EVENT_TYPE} KPI counts {observed.kpi_events:,.0f} events, the ledger holds {counted:,}"
        )
    return problems


def _check_endpoints(ledger: Ledger, observed: Observed) -> list[str]:
    problems = []
    for endpoint_id, attempts in sorted(ledger["endpoints"].items()):
        stored = observed.endpoint_values.get(endpoint_id, {})
        for attribute in sorted({a for a, _, _ in attempts}):
            writes = [(seq, status) for a, seq, status in attempts if a == attribute]
            acknowledged = [i for i, (_, status) in enumerate(writes) if status is not None and 200 <= status < 300]
            last = acknowledged[-1] if acknowledged else -1
            allowed = {seq for seq, _ in writes[last + 1 :]} | ({writes[last][0]} if last >= 0 else {None})
            value = stored.get(attribute)
            if value not in allowed:
                expected = writes[last][0] if last >= 0 else "nothing"
                problems.append(f"UpdateEndpoint: {endpoint_id} holds {attribute} = {value!r}; its last "
                                f"acknowledged write was {expected!r}")  # fmt: skip
    return problems


def _check_callbacks(ledger: Ledger, observed: Observed) -> list[str]:
    problems = []
    for message_id, posts in sorted(ledger["callbacks"].items()):
        record = observed.records.get(message_id)
        if record is None:
            problems.append(f"status webhook: message {message_id} has no delivery record")
            continue
        acknowledged, allowed = final_statuses(posts)
        if record not in allowed:
            problems.append(f"status webhook: message {message_id} is {record[0]} ({record[1]}); the callbacks "
                            f"acknowledged took it to {acknowledged[0]} ({acknowledged[1]})")  # fmt: skip
    return problems


Status = tuple[str, str | None]  # status, error code


def final_statuses(posts: list[list[Any]], start: Status = ("queued", None)) -> tuple[Status, set[Status]]:
    """What a record must hold after `posts` ([Twilio status, error code, HTTP status or None], in posting order):
    the fold of the acknowledged ones, and every record the unanswered ones may also have made."""

    def apply(state: Status, twilio_status: str, error_code: str | None) -> Status:
        status = TWILIO_STATUS[twilio_status]
        if not advances(state[0], status):
            return state
        # The record keeps an error code only for a failure (a corrected one keeps it as corrected_error_code).
        return (status, error_code if status in FAILURES else None)

    acknowledged, possible = start, {start}
    for twilio_status, error_code, http_status in posts:
        answered = http_status is not None and 200 <= http_status < 300
        moved = {apply(state, twilio_status, error_code) for state in possible}
        possible = moved if answered else possible | moved
        if answered:
            acknowledged = apply(acknowledged, twilio_status, error_code)
    return acknowledged, possible
