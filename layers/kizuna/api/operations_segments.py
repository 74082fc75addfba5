"""Pinpoint segment operations (with versions) and Kizuna's segment size estimate."""

from __future__ import annotations

from kizuna.api.app import Call, operation
from kizuna.errors import BadRequest
from kizuna.ports import SegmentStore
from kizuna.services import journey_entry, segments


def _segments(call: Call) -> SegmentStore:
    if call.deps.segments is None:
        raise BadRequest("Segments are not configured")
    return call.deps.segments


@operation("CreateSegment")
def create_segment(call: Call) -> dict:
    d = call.deps
    return segments.create_segment(
        d.apps, _segments(call), d.clock, d.arn_prefix, call.app_id, call.params.get("WriteSegmentRequest")
    )


@operation("UpdateSegment")
def update_segment(call: Call) -> dict:
    d, p = call.deps, call.params
    updated = segments.update_segment(
        d.apps, _segments(call), d.clock, call.app_id, p["SegmentId"], p.get("WriteSegmentRequest")
    )
    if d.journey_engine is not None:  # journeys with RefreshOnSegmentUpdate enter the segment's new members
        journey_entry.segment_updated(d.journey_engine, call.app_id, p["SegmentId"])
    return updated


@operation("GetSegment")
def get_segment(call: Call) -> dict:
    return segments.get_segment(call.deps.apps, _segments(call), call.app_id, call.params["SegmentId"])


@operation("GetSegments")
def get_segments(call: Call) -> dict:
    p = call.params
    return segments.get_segments(call.deps.apps, _segments(call), call.app_id, p.get("PageSize"), p.get("Token"))


@operation("GetSegmentVersion")
def get_segment_version(call: Call) -> dict:
    p = call.params
    return segments.get_segment_version(call.deps.apps, _segments(call), call.app_id, p["SegmentId"], p["Version"])


@operation("GetSegmentVersions")
def get_segment_versions(call: Call) -> dict:
    p = call.params
    return segments.get_segment_versions(
        call.deps.apps, _segments(call), call.app_id, p["SegmentId"], p.get("PageSize"), p.get("Token")
    )


@operation("DeleteSegment")
def delete_segment(call: Call) -> dict:
    return segments.delete_segment(call.deps.apps, _segments(call), call.app_id, call.params["SegmentId"])


# Kizuna extension (pinpoint/extensions.json): GET /v1/apps/{application-id}/segments/{segment-id}/estimate
@operation("GetSegmentEstimate")
def get_segment_estimate(call: Call) -> dict:
    d = call.deps
    return segments.segment_estimate(
        d.apps, d.endpoints, _segments(call), d.clock, call.app_id, call.params["SegmentId"]
    )
