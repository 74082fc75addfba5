"""Segments: CRUD with versions (CreateSegment … DeleteSegment), imported segments, and resolution to endpoints.

A segment is stored as its Pinpoint SegmentResponse document; every create/update writes a new Version. DIMENSIONAL
segments are resolved by scanning the app's endpoint shards with a predicate compiled once (domain.segments);
IMPORT segments by reading their member ids per shard and fetching those endpoints. Base segments (SegmentGroups
SourceSegments) become predicates too: a dimensional base is its own compiled criteria, an imported base is
membership in its id set for the shard being resolved, so one scan answers the whole group tree.

A base segment deleted after the fact contributes no endpoints. Nesting is refused beyond MAX_NESTING levels and
cycles are refused when written, so resolution always terminates.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime
from typing import Any

from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.clock import Clock, iso
from kizuna.domain import segments as criteria
from kizuna.domain.segments import Predicate
from kizuna.domain.sharding import endpoint_shard
from kizuna.errors import BadRequest, NotFound
from kizuna.ports import AppStore, EndpointStore, SegmentStore

DIMENSIONAL = "DIMENSIONAL"
IMPORT = "IMPORT"
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 100
MAX_NESTING = 5
GET_BATCH = 100
FIELD = "WriteSegmentRequest"


def _match_none(_endpoint: dict[str, Any]) -> bool:
    return False


# -- CRUD ----------------------------------------------------------------------------------------------------------


def create_segment(
    apps: AppStore, segments: SegmentStore, clock: Clock, arn_prefix: str, app_id: str, request: dict | None
) -> dict[str, Any]:
    _require_app(apps, app_id)
    request = request or {}
    segment_id = uuid.uuid4().hex
    _validate(segments, app_id, request, segment_id)
    now = iso(clock.now())
    segment: dict[str, Any] = {
        "ApplicationId": app_id,
        "Arn": f"{arn_prefix}:apps/{app_id}/segments/{segment_id}",
        "CreationDate": now,
        "Id": segment_id,
        "LastModifiedDate": now,
        "SegmentType": DIMENSIONAL,
        "Version": 1,
        **_criteria_of(request),
    }
    if request.get("Name") is not None:
        segment["Name"] = request["Name"]
    if request.get("tags"):
        segment["tags"] = dict(request["tags"])
    segments.put_segment(app_id, segment)
    return segment


def create_imported_segment(
    store: SegmentStore, clock: Clock, arn_prefix: str, app_id: str, name: str, import_definition: dict[str, Any]
) -> dict[str, Any]:
    """An IMPORT segment (SegmentImportResource as given); the caller adds members with store.add_members."""
    segment_id = uuid.uuid4().hex
    now = iso(clock.now())
    segment = {
        "ApplicationId": app_id,
        "Arn": f"{arn_prefix}:apps/{app_id}/segments/{segment_id}",
        "CreationDate": now,
        "Id": segment_id,
        "ImportDefinition": dict(import_definition),
        "LastModifiedDate": now,
        "Name": name,
        "SegmentType": IMPORT,
        "Version": 1,
    }
    store.put_segment(app_id, segment)
    return segment


def update_segment(
    apps: AppStore, segments: SegmentStore, clock: Clock, app_id: str, segment_id: str, request: dict | None
) -> dict[str, Any]:
    """A new Version. Name is kept unless given; Dimensions/SegmentGroups replace the criteria when either is given.
    `tags` are ignored, as Pinpoint has since 2023-05-22 (TagResource manages them)."""
    _require_app(apps, app_id)
    request = request or {}
    current = _require_segment(segments, app_id, segment_id)
    changes_criteria = request.get("Dimensions") is not None or request.get("SegmentGroups") is not None
    if current["SegmentType"] == IMPORT and changes_criteria:
        raise BadRequest(f"{FIELD}: an imported segment's members are fixed; only its Name can change")
    _validate(segments, app_id, request, segment_id)
    segment = {k: v for k, v in current.items() if not (changes_criteria and k in ("Dimensions", "SegmentGroups"))}
    if changes_criteria:
        segment |= _criteria_of(request)
    if request.get("Name") is not None:
        segment["Name"] = request["Name"]
    segment["Version"] = int(current["Version"]) + 1
    segment["LastModifiedDate"] = iso(clock.now())
    segments.put_segment(app_id, segment)
    return segment


def get_segment(apps: AppStore, segments: SegmentStore, app_id: str, segment_id: str) -> dict[str, Any]:
    _require_app(apps, app_id)
    return _require_segment(segments, app_id, segment_id)


def get_segment_version(
    apps: AppStore, segments: SegmentStore, app_id: str, segment_id: str, version: str | int
) -> dict[str, Any]:
    _require_app(apps, app_id)
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise BadRequest(f"version must be a positive integer; got {version!r}") from None
    if number < 1:
        raise BadRequest(f"version must be a positive integer; got {version!r}")
    found = segments.get_segment(app_id, segment_id, number)
    if found is None:
        _require_segment(segments, app_id, segment_id)
        raise NotFound(f"Segment {segment_id} has no version {number}")
    return found


def get_segments(
    apps: AppStore, segments: SegmentStore, app_id: str, page_size: str | None, token: str | None
) -> dict[str, Any]:
    _require_app(apps, app_id)
    items, next_token = segments.list_segments(app_id, _page_size(page_size), token or None)
    return {"Item": items, **({"NextToken": next_token} if next_token else {})}


def get_segment_versions(
    apps: AppStore, segments: SegmentStore, app_id: str, segment_id: str, page_size: str | None, token: str | None
) -> dict[str, Any]:
    """Oldest version first; the token is the number of versions already returned."""
    _require_app(apps, app_id)
    _require_segment(segments, app_id, segment_id)
    limit = _page_size(page_size)
    try:
        start = int(token) if token else 0
    except ValueError:
        start = -1
    if start < 0:
        raise BadRequest(f"token is not valid: {token!r}")
    versions = sorted(segments.list_versions(app_id, segment_id), key=lambda s: int(s["Version"]))
    page = versions[start : start + limit]
    more = start + limit < len(versions)
    return {"Item": page, **({"NextToken": str(start + limit)} if more else {})}


def delete_segment(apps: AppStore, segments: SegmentStore, app_id: str, segment_id: str) -> dict[str, Any]:
    _require_app(apps, app_id)
    segment = _require_segment(segments, app_id, segment_id)
    segments.delete_segment(app_id, segment_id)
    return segment


def segment_estimate(
    apps: AppStore, endpoints: EndpointStore, segments: SegmentStore, clock: Clock, app_id: str, segment_id: str
) -> dict[str, Any]:
    """GetSegmentEstimate (Kizuna extension): the sendable size of the segment's latest version."""
    _require_app(apps, app_id)
    segment = _require_segment(segments, app_id, segment_id)
    size = estimate_size(endpoints, segments, app_id, segment, now=clock.now())
    return {"SegmentId": segment_id, "Version": int(segment["Version"]), **size}


# -- resolution ----------------------------------------------------------------------------------------------------


def sendable(endpoint: dict[str, Any]) -> bool:
    return endpoint.get("EndpointStatus", "ACTIVE") == "ACTIVE" and endpoint.get("OptOut", "NONE") == "NONE"


def resolve_shard(
    endpoints: EndpointStore,
    segments: SegmentStore,
    app_id: str,
    segment_doc: dict[str, Any],
    shard: int,
    *,
    now: datetime,
    include_inactive: bool = False,
    start_after: str | None = None,
) -> Iterator[dict[str, Any]]:
    """The segment's endpoints in one shard, in id order: ACTIVE and not opted out unless `include_inactive`.
    `now` (the caller's clock) anchors Behavior.Recency; `start_after` resumes after that endpoint id."""
    keep = (lambda _e: True) if include_inactive else sendable
    if segment_doc.get("SegmentType") == IMPORT:
        ids = sorted(
            i for i in segments.members(app_id, segment_doc["Id"], shard) if not start_after or i > start_after
        )
        for start in range(0, len(ids), GET_BATCH):
            batch = ids[start : start + GET_BATCH]
            found = endpoints.get_endpoints(app_id, batch)
            yield from (found[i] for i in batch if i in found and keep(found[i]))
        return
    predicate = _ShardCompiler(segments, app_id, shard, now).segment(segment_doc, 0)
    if include_inactive:
        yield from filter(predicate, endpoints.scan_shard(app_id, shard, start_after))
    else:
        for endpoint in endpoints.scan_shard(app_id, shard, start_after):
            if predicate(endpoint) and sendable(endpoint):
                yield endpoint


def is_member(
    segments: SegmentStore, app_id: str, segment_doc: dict[str, Any], endpoint: dict[str, Any], *, now: datetime
) -> bool:
    """Whether one (sendable) endpoint is in the segment: event-triggered campaigns check the endpoint that
    reported the event instead of resolving the whole segment."""
    if not sendable(endpoint):
        return False
    shard = endpoint_shard(endpoint["Id"])
    if segment_doc.get("SegmentType") == IMPORT:
        return endpoint["Id"] in set(segments.members(app_id, segment_doc["Id"], shard))
    return _ShardCompiler(segments, app_id, shard, now).segment(segment_doc, 0)(endpoint)


def resolve(
    endpoints: EndpointStore,
    segments: SegmentStore,
    app_id: str,
    segment_doc: dict[str, Any],
    *,
    now: datetime,
    workers: int = 8,
    include_inactive: bool = False,
    shards: Sequence[int] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every endpoint of the segment: the shards are resolved in parallel (I/O-bound on DynamoDB) and each shard's
    endpoints are yielded as soon as that shard is done (order across shards is not defined)."""
    wanted = list(range(ENDPOINT_SHARDS) if shards is None else shards)

    def one(shard: int) -> list[dict[str, Any]]:
        return list(
            resolve_shard(endpoints, segments, app_id, segment_doc, shard, include_inactive=include_inactive, now=now)
        )

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for future in as_completed([pool.submit(one, s) for s in wanted]):
            yield from future.result()


def estimate_size(
    endpoints: EndpointStore,
    segments: SegmentStore,
    app_id: str,
    segment_doc: dict[str, Any],
    *,
    now: datetime,
    sample_shards: int = 4,
    exact_below: int = 2_000,
    include_inactive: bool = False,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """How many endpoints the segment resolves to, without reading every shard of a large app.

    Shards are scanned in random order; if the first shard holds fewer than `exact_below` endpoints the app is
    small and every shard is read (the answer is exact). Otherwise `sample_shards` (k) of the 16 are read and the
    count scaled by 16/k. Endpoint ids are spread over shards by crc32, so each member lands in the sample with
    probability k/16 and the estimate is unbiased with standard error ≈ sqrt(M·(16/k − 1)) for M members:
    sqrt(3M) with k=4, i.e. about ±1.7% at M = 10,000 and ±0.2% at M = 1,000,000 (one standard error).
    Returns {"Size", "Exact", "StandardError", "ShardsRead"}.
    """
    order = list(range(ENDPOINT_SHARDS))
    (rng or random.Random()).shuffle(order)
    k = max(1, min(sample_shards, ENDPOINT_SHARDS))

    def count(shard: int) -> int:
        return sum(
            1
            for _ in resolve_shard(
                endpoints, segments, app_id, segment_doc, shard, include_inactive=include_inactive, now=now
            )
        )

    # Is the app small? Counting the first shard's endpoints is one more read of one shard (keys only in DynamoDB
    # would be cheaper, but the port yields documents).
    exact = sum(1 for _ in endpoints.scan_shard(app_id, order[0])) < exact_below
    read = order if exact else order[:k]
    total = sum(count(shard) for shard in read)
    if exact or k == ENDPOINT_SHARDS:
        return {"Size": total, "Exact": True, "StandardError": 0.0, "ShardsRead": len(read)}
    size = round(total * ENDPOINT_SHARDS / k)
    return {
        "Size": size,
        "Exact": False,
        "StandardError": round((size * (ENDPOINT_SHARDS / k - 1)) ** 0.5, 1),
        "ShardsRead": len(read),
    }


class _ShardCompiler:
    """Compiles a segment and its base segments into one predicate for one shard (imported bases read once)."""

    def __init__(self, segments: SegmentStore, app_id: str, shard: int, now: datetime) -> None:
        self._segments = segments
        self._app_id = app_id
        self._shard = shard
        self._now = now
        self._cache: dict[tuple[str, int | None], Predicate] = {}

    def segment(self, doc: dict[str, Any], depth: int) -> Predicate:
        if doc.get("SegmentType") == IMPORT:
            ids = frozenset(self._segments.members(self._app_id, doc["Id"], self._shard))
            return lambda e: e.get("Id") in ids
        if depth > MAX_NESTING:
            raise BadRequest(f"Segment {doc.get('Id')} nests base segments deeper than {MAX_NESTING} levels")
        return criteria.compile_segment(doc, self._now, lambda ref, _field: self._source(ref, depth + 1))

    def _source(self, ref: dict[str, Any], depth: int) -> Predicate:
        key = (ref["Id"], ref.get("Version"))
        if key not in self._cache:
            doc = self._segments.get_segment(self._app_id, ref["Id"], ref.get("Version"))
            self._cache[key] = _match_none if doc is None else self.segment(doc, depth)
        return self._cache[key]


# -- checks --------------------------------------------------------------------------------------------------------


def _validate(segments: SegmentStore, app_id: str, request: dict[str, Any], segment_id: str) -> None:
    criteria.validate_write_request(request, FIELD)
    name = request.get("Name")
    if name is not None and not isinstance(name, str):
        raise BadRequest(f"{FIELD}.Name must be a string")
    groups = request.get("SegmentGroups")
    refs = criteria.source_references(groups)
    for g, group in enumerate((groups or {}).get("Groups") or []):
        sources = group.get("SourceSegments") or []
        for s, ref in enumerate(sources):
            field = f"{FIELD}.SegmentGroups.Groups[{g}].SourceSegments[{s}]"
            if ref["Id"] == segment_id:
                raise BadRequest(f"{field}.Id: a segment cannot be its own base segment")
            found = segments.get_segment(app_id, ref["Id"], ref.get("Version"))
            if found is None:
                version = f" version {ref['Version']}" if ref.get("Version") is not None else ""
                raise BadRequest(f"{field}.Id: segment {ref['Id']}{version} does not exist")
            if found.get("SegmentType") == IMPORT and len(sources) > 1:
                raise BadRequest(f"{field}: a group can have several dimensional base segments or one imported segment")
    _check_nesting(segments, app_id, [r for r, _ in refs], segment_id, 1)
    if refs:
        _check_nesting_above(segments, app_id, [r for r, _ in refs], segment_id)


def _check_nesting_above(segments: SegmentStore, app_id: str, refs: list[dict[str, Any]], segment_id: str) -> None:
    """Giving this segment bases deepens every segment built on it too: the deepest of those must stay within
    MAX_NESTING, or a segment written legitimately would fail when resolved."""
    height = 1 + max(_height(segments, app_id, ref, {}) for ref in refs)
    above = _levels_above(segments, app_id, segment_id)
    if height + above > MAX_NESTING:
        raise BadRequest(
            f"{FIELD}.SegmentGroups: segments built on this one would nest base segments deeper than "
            f"{MAX_NESTING} levels ({above} above it, {height} below)"
        )


def _height(segments: SegmentStore, app_id: str, ref: dict[str, Any], memo: dict[tuple, int]) -> int:
    """Levels of bases beneath a referenced segment (0 for one without bases)."""
    key = (ref["Id"], ref.get("Version"))
    if key not in memo:
        memo[key] = 0  # guards against a cycle written before cycles were refused
        doc = segments.get_segment(app_id, ref["Id"], ref.get("Version"))
        inner = [r for r, _ in criteria.source_references((doc or {}).get("SegmentGroups"))]
        memo[key] = 1 + max(_height(segments, app_id, r, memo) for r in inner) if inner else 0
    return memo[key]


def _levels_above(segments: SegmentStore, app_id: str, segment_id: str) -> int:
    """The longest chain of segments (latest versions) that reach this one through their base segments."""
    built_on: dict[str, set[str]] = {}
    token = None
    while True:
        page, token = segments.list_segments(app_id, MAX_PAGE_SIZE, token)
        for doc in page:
            for ref, _ in criteria.source_references(doc.get("SegmentGroups")):
                built_on.setdefault(ref["Id"], set()).add(doc["Id"])
        if not token:
            break
    memo: dict[str, int] = {}

    def above(current: str, seen: frozenset[str]) -> int:
        if current not in memo:
            parents = built_on.get(current, set()) - seen
            memo[current] = max((1 + above(p, seen | {p}) for p in parents), default=0)
        return memo[current]

    return above(segment_id, frozenset({segment_id}))


def _check_nesting(
    segments: SegmentStore, app_id: str, refs: list[dict[str, Any]], segment_id: str, depth: int
) -> None:
    if not refs:
        return
    if depth > MAX_NESTING:
        raise BadRequest(f"{FIELD}.SegmentGroups: base segments nest deeper than {MAX_NESTING} levels")
    for ref in refs:
        doc = segments.get_segment(app_id, ref["Id"], ref.get("Version"))
        if doc is None:
            continue
        inner = [r for r, _ in criteria.source_references(doc.get("SegmentGroups"))]
        if any(r["Id"] == segment_id for r in inner):
            raise BadRequest(f"{FIELD}.SegmentGroups: base segment {ref['Id']} is built on this segment (a cycle)")
        _check_nesting(segments, app_id, inner, segment_id, depth + 1)


def _criteria_of(request: dict[str, Any]) -> dict[str, Any]:
    if request.get("SegmentGroups") is not None:
        return {"SegmentGroups": request["SegmentGroups"]}
    return {"Dimensions": request.get("Dimensions") or {}}


def _page_size(page_size: str | None) -> int:
    try:
        limit = int(page_size) if page_size else DEFAULT_PAGE_SIZE
    except ValueError:
        raise BadRequest(f"page-size must be a number; got {page_size!r}") from None
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"page-size must be 1 to {MAX_PAGE_SIZE}")
    return limit


def _require_app(apps: AppStore, app_id: str) -> None:
    if apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")


def _require_segment(segments: SegmentStore, app_id: str, segment_id: str) -> dict[str, Any]:
    found = segments.get_segment(app_id, segment_id)
    if found is None:
        raise NotFound(f"Segment {segment_id} not found")
    return found
