"""`make demo`: local mode end to end — an app, 200 endpoints (a few on Twilio's magic failure numbers), one
Japanese SMS to each, the delivery receipts, and a summary; then one billed consultation booked, called and
settled (kizuna.local.demo_consultation), a Japanese A/B campaign with its results (kizuna.local.demo_campaign), the
KPIs, and a two-week WhatsApp + SMS survey journey that branches on the replies, fast-forwarded on the journey
engine's clock (kizuna.local.demo_journey). Exits non-zero if anything was lost."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

from kizuna import wiring
from kizuna.clock import OffsetClock
from kizuna.domain.messages import TERMINAL
from kizuna.local.demo_campaign import ANALYTICS_TIMEOUT_S, run_campaign
from kizuna.local.demo_consultation import run_consultation
from kizuna.local.demo_journey import run_journey
from kizuna.local.system import LocalKizuna

BODY = "【Kizuna】ご予約ありがとうございます。明日10時にお待ちしております。"
# Twilio's test numbers that fail synchronously, and numbers the sandbox reports undelivered later.
MAGIC_FAILURES = ["+15005550001", "+15005550002", "+15005550003", "+15005550004", "+15005550009"]
UNDELIVERED = {"+819000000007": 30003, "+819000000011": 30005}


def demo_addresses(count: int) -> list[str]:
    japanese = [f"+8190{n:08d}" for n in range(count - len(MAGIC_FAILURES))]
    return japanese + MAGIC_FAILURES


def run(endpoint_count: int = 200, timeout_s: float = 300.0, out: Any = sys.stdout, keep_running: bool = False) -> int:
    started = time.monotonic()
    # The journey engine gets a clock of its own that the journey demo moves forward (kizuna.local.demo_journey).
    with LocalKizuna(journey_clock=OffsetClock()) as kizuna:
        for number, code in UNDELIVERED.items():
            kizuna.sandbox.destination_outcomes[number] = ("undelivered", code)
        print(f"Kizuna local API: {kizuna.base_url}", file=out)
        pinpoint = kizuna.pinpoint()
        app_id = pinpoint.create_app(CreateApplicationRequest={"Name": "Kizuna demo"})["ApplicationResponse"]["Id"]
        addresses = demo_addresses(endpoint_count)
        for index, address in enumerate(addresses):
            pinpoint.update_endpoint(
                ApplicationId=app_id,
                EndpointId=f"demo-{index:04d}",
                EndpointRequest={
                    "ChannelType": "SMS",
                    "Address": address,
                    "Attributes": {"plan": ["月額"]},
                    **({"Location": {"Country": "JP"}} if address.startswith("+81") else {}),
                },
            )
        message_ids = _send(pinpoint, app_id, [f"demo-{i:04d}" for i in range(len(addresses))])
        records = _wait_for_receipts(kizuna, message_ids, timeout_s)
        _print_summary(records, len(addresses), len(message_ids), time.monotonic() - started, out)
        lost = [m for m in message_ids if records.get(m, {}).get("status") not in TERMINAL]
        if lost:
            print(f"NOT FINISHED: {len(lost)} messages without a final status", file=out)
            return 1
        if run_consultation(kizuna, app_id, out) != 0:
            print("NOT FINISHED: the consultation was not settled", file=out)
            return 1
        if run_campaign(kizuna, pinpoint, app_id, out) != 0:
            return 1
        if not _print_kpis(kizuna, pinpoint, app_id, out):
            return 1
        if run_journey(kizuna, pinpoint, app_id, out) != 0:
            return 1
        print(f"dashboard: {kizuna.dashboard_url(app_id)}", file=out)
        if keep_running:
            print("local mode keeps running for the dashboard; Ctrl-C stops it", file=out, flush=True)
            _wait_for_interrupt()
        else:
            print("  (local mode stops with the demo: `kizuna demo --keep-running` to open it)", file=out)
    return 0


# The demo's sends are transactional SMS: Pinpoint's txn-sms-* KPIs describe them.
DEMO_KPIS = ("txn-sms-sent", "txn-sms-delivered", "txn-sms-delivery-rate", "txn-sms-error-distribution")


def _print_kpis(kizuna: LocalKizuna, pinpoint: Any, app_id: str, out: Any) -> bool:
    """The demo's KPIs from GetApplicationDateRangeKpi, once every event is counted. False if they never were."""
    if not kizuna.drain_analytics(timeout=ANALYTICS_TIMEOUT_S):
        print("NOT FINISHED: the analytics pipeline did not settle", file=out)
        return False
    print("KPIs (GetApplicationDateRangeKpi, today):", file=out)
    for name in DEMO_KPIS:
        rows = pinpoint.get_application_date_range_kpi(ApplicationId=app_id, KpiName=name)[
            "ApplicationDateRangeKpiResponse"
        ]["KpiResult"]["Rows"]
        for row in rows:
            group = f" [{row['GroupedBys'][0]['Value']}]" if row["GroupedBys"] else ""
            value = float(row["Values"][0]["Value"])
            shown = f"{value:.1%}" if name.endswith("rate") else f"{value:,.0f}"
            print(f"  {name}{group}: {shown}", file=out)
    return True


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def _send(pinpoint: Any, app_id: str, endpoint_ids: list[str]) -> list[str]:
    message_ids = []
    for start in range(0, len(endpoint_ids), 100):
        response = pinpoint.send_messages(
            ApplicationId=app_id,
            MessageRequest={
                "Endpoints": {e: {} for e in endpoint_ids[start : start + 100]},
                "MessageConfiguration": {"SMSMessage": {"Body": BODY, "MessageType": "TRANSACTIONAL"}},
            },
        )["MessageResponse"]
        message_ids += [r["MessageId"] for r in response["EndpointResult"].values() if "MessageId" in r]
    return message_ids


def _wait_for_receipts(kizuna: LocalKizuna, message_ids: list[str], timeout_s: float) -> dict[str, dict]:
    deadline = time.monotonic() + timeout_s
    wanted = set(message_ids)
    while True:
        records = {
            item["message_id"]["S"]: {
                "status": item["status"]["S"],
                "error_code": item.get("error_code", {}).get("S"),
            }
            for item in _scan(kizuna.resources.tables["messages"])
            if item["message_id"]["S"] in wanted
        }
        done = sum(1 for r in records.values() if r["status"] in TERMINAL)
        if done == len(wanted) or time.monotonic() > deadline:
            return records
        time.sleep(0.25)


def _scan(table: str) -> list[dict]:
    # A scan is fine for a 200-message demo on moto; production code never scans.
    items, kwargs = [], {"TableName": table}
    while True:
        page = wiring.aws("dynamodb").scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _print_summary(records: dict[str, dict], endpoints: int, accepted: int, seconds: float, out: Any) -> None:
    statuses = Counter(r["status"] for r in records.values())
    failures = Counter(f"{r['status']} {r['error_code']}" for r in records.values() if r["error_code"])
    print(
        f"endpoints: {endpoints}  accepted: {accepted}  delivered: {statuses['delivered']}  "
        f"failed: {statuses['failed']}  undelivered: {statuses['undelivered']}",
        file=out,
    )
    for label, count in sorted(failures.items()):
        print(f"  {label}: {count}", file=out)
    print(f"demo wall time: {seconds:.1f} s", file=out)
