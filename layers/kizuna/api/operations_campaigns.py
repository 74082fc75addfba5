"""Pinpoint's campaign operations, and Kizuna's test send of a campaign (SendCampaignTest)."""

from __future__ import annotations

from kizuna.api.app import Call, operation
from kizuna.errors import BadRequest
from kizuna.services import campaign_runs, campaigns
from kizuna.services.campaign_runs import CampaignDeps


def _deps(call: Call) -> CampaignDeps:
    if call.deps.campaigns is None:
        raise BadRequest("Campaigns are not configured")
    return call.deps.campaigns


@operation("CreateCampaign")
def create_campaign(call: Call) -> dict:
    return campaigns.create_campaign(_deps(call), call.app_id, call.params.get("WriteCampaignRequest"))


@operation("UpdateCampaign")
def update_campaign(call: Call) -> dict:
    p = call.params
    return campaigns.update_campaign(_deps(call), call.app_id, p["CampaignId"], p.get("WriteCampaignRequest"))


@operation("GetCampaign")
def get_campaign(call: Call) -> dict:
    return campaigns.get_campaign(_deps(call), call.app_id, call.params["CampaignId"])


@operation("GetCampaigns")
def get_campaigns(call: Call) -> dict:
    p = call.params
    return campaigns.get_campaigns(_deps(call), call.app_id, p.get("PageSize"), p.get("Token"))


@operation("GetCampaignVersion")
def get_campaign_version(call: Call) -> dict:
    p = call.params
    return campaigns.get_campaign_version(_deps(call), call.app_id, p["CampaignId"], p["Version"])


@operation("GetCampaignVersions")
def get_campaign_versions(call: Call) -> dict:
    p = call.params
    return campaigns.get_campaign_versions(_deps(call), call.app_id, p["CampaignId"], p.get("PageSize"), p.get("Token"))


@operation("DeleteCampaign")
def delete_campaign(call: Call) -> dict:
    return campaigns.delete_campaign(_deps(call), call.app_id, call.params["CampaignId"])


@operation("GetCampaignActivities")
def get_campaign_activities(call: Call) -> dict:
    p = call.params
    return campaigns.get_campaign_activities(
        _deps(call), call.app_id, p["CampaignId"], p.get("PageSize"), p.get("Token")
    )


@operation("SendCampaignTest")
def send_campaign_test(call: Call) -> dict:
    p = call.params
    return campaign_runs.send_test(_deps(call), call.app_id, p["CampaignId"], p.get("CampaignTestRequest"))
