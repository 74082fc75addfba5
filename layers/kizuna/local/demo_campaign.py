"""The demo's campaign: a Japanese A/B campaign (two offers and a 10% holdout) to the demo audience's Japanese
endpoints, run through the jobs queue like any campaign; then its activity (GetCampaignActivities) and each
treatment's deliveries (GetCampaignDateRangeKpi, grouped by treatment)."""

from __future__ import annotations

import time
from typing import Any

from kizuna.local.system import LocalKizuna

# A bound on waiting for the analytics pipeline to settle, not a target: it settles in seconds, but a machine busy with
# other work (two cores running tests) has been seen to need more than a minute.
ANALYTICS_TIMEOUT_S = 180.0
OFFER_A = "【Kizuna】秋のご愛顧感謝セール：全品10%オフ。詳しくはアプリで。"
OFFER_B = "【Kizuna】秋のご愛顧感謝セール：送料無料キャンペーン実施中。"


def run_campaign(kizuna: LocalKizuna, pinpoint: Any, app_id: str, out: Any, timeout_s: float = 90.0) -> int:
    segment = pinpoint.create_segment(
        ApplicationId=app_id,
        WriteSegmentRequest={
            "Name": "月額プランの会員（日本）",
            "Dimensions": {
                "Attributes": {"plan": {"AttributeType": "INCLUSIVE", "Values": ["月額"]}},
                "Location": {"Country": {"DimensionType": "INCLUSIVE", "Values": ["JP"]}},
            },
        },
    )["SegmentResponse"]
    campaign = pinpoint.create_campaign(
        ApplicationId=app_id,
        WriteCampaignRequest={
            "Name": "秋のご愛顧感謝セール",
            "SegmentId": segment["Id"],
            "TreatmentName": "10%オフ",
            "MessageConfiguration": {"SMSMessage": {"Body": OFFER_A, "MessageType": "PROMOTIONAL"}},
            "AdditionalTreatments": [
                {
                    "SizePercent": 45,
                    "TreatmentName": "送料無料",
                    "MessageConfiguration": {"SMSMessage": {"Body": OFFER_B, "MessageType": "PROMOTIONAL"}},
                }
            ],
            "HoldoutPercent": 10,
            "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE", "Timezone": "Asia/Tokyo"},
        },
    )["CampaignResponse"]
    activity = _completed_activity(pinpoint, app_id, campaign["Id"], timeout_s)
    if activity is None:
        print("NOT FINISHED: the campaign run did not complete", file=out)
        return 1
    print(
        f"campaign 「{campaign['Name']}」: run {activity['Id']} {activity['State']}, "
        f"targeted {activity['TotalEndpointCount']}, accepted {activity['SuccessfulEndpointCount']} "
        "(10% held out)",
        file=out,
    )
    if not kizuna.drain_analytics(timeout=ANALYTICS_TIMEOUT_S):
        print("NOT FINISHED: the campaign's analytics did not settle", file=out)
        return 1
    names = {"0": campaign["TreatmentName"], "1": campaign["AdditionalTreatments"][0]["TreatmentName"]}
    for kpi in ("attempted-deliveries-grouped-by-treatment", "successful-deliveries-grouped-by-treatment"):
        rows = pinpoint.get_campaign_date_range_kpi(ApplicationId=app_id, CampaignId=campaign["Id"], KpiName=kpi)[
            "CampaignDateRangeKpiResponse"
        ]["KpiResult"]["Rows"]
        by_treatment = {r["GroupedBys"][0]["Value"]: float(r["Values"][0]["Value"]) for r in rows}
        shown = ", ".join(f"{names.get(t, t)} {value:.0f}" for t, value in sorted(by_treatment.items()))
        print(f"  {kpi}: {shown}", file=out)
    return 0


def _completed_activity(pinpoint: Any, app_id: str, campaign_id: str, timeout_s: float) -> dict | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        items = pinpoint.get_campaign_activities(ApplicationId=app_id, CampaignId=campaign_id)["ActivitiesResponse"][
            "Item"
        ]
        if items and items[0]["State"] == "COMPLETED":
            return items[0]
        time.sleep(0.25)
    return None
