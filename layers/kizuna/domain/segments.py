"""Segment criteria: Pinpoint SegmentDimensions and SegmentGroupList documents compiled ONCE into plain predicates
(`endpoint dict -> bool`) so a shard scan costs a few dict lookups per endpoint.

Compiling validates: an invalid document raises BadRequest naming the field. A compiled predicate never raises on
odd endpoint data; a field the endpoint lacks, or holds in an unexpected form, simply does not match.

Semantics (botocore's Pinpoint model documentation of each shape, and the AWS CLI `create-segment` reference
"A WriteSegmentRequest object can include a Dimensions object or a SegmentGroups object, but not both"):

- Within one SegmentDimensions every criterion given must hold (AND). An empty SegmentDimensions matches all.
- AttributeDimension over endpoint `Attributes` / `User.UserAttributes` (lists of strings; any value may match):
  INCLUSIVE  some value equals one of Values          EXCLUSIVE  the attribute is present and no value equals any
  CONTAINS   some value has one of Values as substring
  BEFORE / AFTER  some value, read as an ISO-8601 instant, is strictly before / after Values[0]
  ON         some value falls on the same UTC calendar date as Values[0] (time ignored)
  BETWEEN    some value lies in [Values[0], Values[1]] (inclusive)
  Comparisons are case-sensitive. A dimension only ever matches endpoints that HAVE the attribute, so INCLUSIVE and
  EXCLUSIVE of the same Values partition the endpoints that carry it (Pinpoint's docs are silent on absent ones).
- SetDimension (Demographic.AppVersion/Make/Model/Platform → endpoint Demographic.*, Channel → ChannelType,
  Location.Country → Location.Country, compared upper-cased as ISO 3166-1 alpha-2): INCLUSIVE value in Values,
  EXCLUSIVE present and not in Values. Demographic.DeviceType and Location.GPSPoint are refused ("not supported"):
  endpoints carry no device type, and Kizuna keeps no geo index.
- MetricDimension over endpoint `Metrics`: GREATER_THAN, LESS_THAN, GREATER_THAN_OR_EQUAL, LESS_THAN_OR_EQUAL, EQUAL.
- Behavior.Recency: Kizuna has no session events yet, so "active" means the endpoint's EffectiveDate (its last
  update, which apps refresh on each session as the Pinpoint SDKs do) is within Duration of `now`: ACTIVE when
  EffectiveDate >= now - Duration, INACTIVE otherwise. Endpoints without a readable EffectiveDate match neither.
- SegmentGroupList: Include ALL (default) / ANY / NONE over Groups. A group matches when its base population holds
  the endpoint AND its Dimensions list holds per Type ALL (default) / ANY / NONE (an empty list holds). The base
  population is the whole app without SourceSegments, else the SourceSegments combined per SourceType ALL / ANY
  (default ANY: "more than one dimensional segment" widens the base) / NONE.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from kizuna.domain.segment_documents import (
    choice,
    day_of,
    epoch_of,
    list_field,
    object_field,
    parse_instant,
    require_object,
    string_values,
)
from kizuna.errors import BadRequest

Predicate = Callable[[dict[str, Any]], bool]
# Looks up a SegmentReference ({"Id", "Version"?}) and returns its membership predicate; `field` names it in errors.
SourceLookup = Callable[[dict[str, Any], str], Predicate]

ATTRIBUTE_TYPES = ("INCLUSIVE", "EXCLUSIVE", "CONTAINS", "BEFORE", "AFTER", "ON", "BETWEEN")
DIMENSION_TYPES = ("INCLUSIVE", "EXCLUSIVE")
COMPARISONS = ("GREATER_THAN", "LESS_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN_OR_EQUAL", "EQUAL")
DURATIONS = {
    "HR_24": timedelta(hours=24),
    "DAY_7": timedelta(days=7),
    "DAY_14": timedelta(days=14),
    "DAY_30": timedelta(days=30),
}
RECENCY_TYPES = ("ACTIVE", "INACTIVE")
COMBINE = ("ALL", "ANY", "NONE")
# Demographic dimension → the EndpointDemographic member it reads (Channel reads the endpoint's ChannelType).
DEMOGRAPHIC_FIELDS = ("AppVersion", "Make", "Model", "Platform")
UNSUPPORTED = {"Demographic.DeviceType": "endpoints carry no device type", "Location.GPSPoint": "no geo index"}
MAX_GROUPS = 10
MAX_GROUP_DIMENSIONS = 50
MAX_SOURCE_SEGMENTS = 10

_ODD_DATA = (AttributeError, TypeError, ValueError, KeyError, OverflowError)
# Validation compiles a document without evaluating it, so any instant serves as "now" (Behavior.Recency's anchor).
_VALIDATION_NOW = datetime(2000, 1, 1, tzinfo=UTC)


def match_all(_endpoint: dict[str, Any]) -> bool:
    return True


# -- public entry points -------------------------------------------------------------------------------------------


def validate_write_request(request: dict[str, Any] | None, field: str = "WriteSegmentRequest") -> None:
    """Refuse an invalid WriteSegmentRequest (source segments are checked by the caller, which has the store)."""
    request = request or {}
    if not isinstance(request, dict):
        raise BadRequest(f"{field} must be an object")
    if request.get("Dimensions") is not None and request.get("SegmentGroups") is not None:
        raise BadRequest(f"{field} can include Dimensions or SegmentGroups, but not both")
    now = _VALIDATION_NOW
    if request.get("Dimensions") is not None:
        compile_dimensions(request["Dimensions"], now, f"{field}.Dimensions")
    if request.get("SegmentGroups") is not None:
        compile_groups(request["SegmentGroups"], now, lambda _ref, _f: match_all, f"{field}.SegmentGroups")


def source_references(groups: dict[str, Any] | None) -> list[tuple[dict[str, Any], str]]:
    """Every SegmentReference of a SegmentGroupList with its field path (for validation and resolution)."""
    found = []
    for g, group in enumerate((groups or {}).get("Groups") or []):
        for s, ref in enumerate(group.get("SourceSegments") or []):
            found.append((ref, f"SegmentGroups.Groups[{g}].SourceSegments[{s}]"))
    return found


def compile_segment(doc: dict[str, Any], now: datetime, sources: SourceLookup) -> Predicate:
    """The criteria of a DIMENSIONAL SegmentResponse (Dimensions or SegmentGroups) as one predicate."""
    if doc.get("SegmentGroups") is not None:
        return _guarded(compile_groups(doc["SegmentGroups"], now, sources, "SegmentGroups"))
    if doc.get("Dimensions") is not None:
        return _guarded(compile_dimensions(doc["Dimensions"], now, "Dimensions"))
    return match_all


def compile_dimensions(dims: Any, now: datetime, field: str = "Dimensions") -> Predicate:
    """One SegmentDimensions document → predicate (all criteria AND-ed). Each criterion is guarded on its own, so
    odd data makes that criterion not match rather than the whole document (which matters under NONE and ANY)."""
    require_object(dims, field)
    checks: list[Predicate] = []
    for name, spec in object_field(dims.get("Attributes"), f"{field}.Attributes").items():
        checks.append(_attribute_check(_endpoint_attributes, name, spec, f"{field}.Attributes.{name}"))
    for name, spec in object_field(dims.get("UserAttributes"), f"{field}.UserAttributes").items():
        checks.append(_attribute_check(_user_attributes, name, spec, f"{field}.UserAttributes.{name}"))
    for name, spec in object_field(dims.get("Metrics"), f"{field}.Metrics").items():
        checks.append(_metric_check(name, spec, f"{field}.Metrics.{name}"))
    demographic = object_field(dims.get("Demographic"), f"{field}.Demographic")
    location = object_field(dims.get("Location"), f"{field}.Location")
    for path, spec in (
        ("Demographic.DeviceType", demographic.get("DeviceType")),
        ("Location.GPSPoint", location.get("GPSPoint")),
    ):
        if spec is not None:
            raise BadRequest(f"{field}.{path} is not supported by Kizuna ({UNSUPPORTED[path]})")
    if demographic.get("Channel") is not None:
        values, inclusive = _set_dimension(demographic["Channel"], f"{field}.Demographic.Channel", str)
        checks.append(_set_check(lambda e: e.get("ChannelType"), values, inclusive))
    for member in DEMOGRAPHIC_FIELDS:
        if demographic.get(member) is not None:
            values, inclusive = _set_dimension(demographic[member], f"{field}.Demographic.{member}", str)
            checks.append(_set_check(_demographic_reader(member), values, inclusive))
    if location.get("Country") is not None:
        values, inclusive = _set_dimension(location["Country"], f"{field}.Location.Country", str.upper)
        checks.append(_set_check(_country, values, inclusive))
    behavior = object_field(dims.get("Behavior"), f"{field}.Behavior")
    if behavior.get("Recency") is not None:
        checks.append(_recency_check(behavior["Recency"], now, f"{field}.Behavior.Recency"))
    return _all([_guarded(check) for check in checks])


def compile_event_dimensions(dims: Any, field: str = "EventFilter.Dimensions") -> Predicate:
    """Pinpoint's EventDimensions (EventType, Attributes, Metrics: the segment dimension grammar) as a predicate
    over one event in the event stream's shape (event_type, attributes, metrics), for event-triggered sends."""
    require_object(dims, field)
    checks: list[Predicate] = []
    if dims.get("EventType") is not None:
        values, inclusive = _set_dimension(dims["EventType"], f"{field}.EventType", str)
        checks.append(_set_check(lambda e: e.get("EventType"), values, inclusive))
    for name, spec in object_field(dims.get("Attributes"), f"{field}.Attributes").items():
        checks.append(_attribute_check(_endpoint_attributes, name, spec, f"{field}.Attributes.{name}"))
    for name, spec in object_field(dims.get("Metrics"), f"{field}.Metrics").items():
        checks.append(_metric_check(name, spec, f"{field}.Metrics.{name}"))
    predicate = _all([_guarded(check) for check in checks])

    def matches(event: dict[str, Any]) -> bool:
        # The segment checks read an endpoint's shape: list-valued Attributes, Metrics.
        attributes = {k: [v] for k, v in (event.get("attributes") or {}).items() if isinstance(v, str)}
        return predicate({"EventType": event.get("event_type"), "Attributes": attributes,
                          "Metrics": event.get("metrics") or {}})  # fmt: skip

    return matches


def compile_groups(groups: Any, now: datetime, sources: SourceLookup, field: str = "SegmentGroups") -> Predicate:
    """A SegmentGroupList → predicate; SourceSegments become predicates through `sources`."""
    require_object(groups, field)
    include = choice(groups.get("Include"), COMBINE, "ALL", f"{field}.Include")
    items = list_field(groups.get("Groups"), f"{field}.Groups", MAX_GROUPS)
    compiled = [_group(g, now, sources, f"{field}.Groups[{i}]") for i, g in enumerate(items)]
    return _combine(compiled, include)


# -- groups --------------------------------------------------------------------------------------------------------


def _group(group: Any, now: datetime, sources: SourceLookup, field: str) -> Predicate:
    require_object(group, field)
    kind = choice(group.get("Type"), COMBINE, "ALL", f"{field}.Type")
    source_type = choice(group.get("SourceType"), COMBINE, "ANY", f"{field}.SourceType")
    dims = list_field(group.get("Dimensions"), f"{field}.Dimensions", MAX_GROUP_DIMENSIONS)
    refs = list_field(group.get("SourceSegments"), f"{field}.SourceSegments", MAX_SOURCE_SEGMENTS)
    criteria = _combine([compile_dimensions(d, now, f"{field}.Dimensions[{i}]") for i, d in enumerate(dims)], kind)
    base_parts = []
    for i, ref in enumerate(refs):
        ref_field = f"{field}.SourceSegments[{i}]"
        require_object(ref, ref_field)
        if not isinstance(ref.get("Id"), str) or not ref["Id"]:
            raise BadRequest(f"{ref_field}.Id is required")
        version = ref.get("Version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
            raise BadRequest(f"{ref_field}.Version must be a positive integer")
        base_parts.append(sources(ref, ref_field))
    base = _combine(base_parts, source_type) if base_parts else match_all
    if base is match_all:
        return criteria
    if criteria is match_all:
        return base
    return lambda e: base(e) and criteria(e)


def _combine(parts: list[Predicate], how: str) -> Predicate:
    if how == "ALL":
        return _all(parts)
    if how == "ANY":
        if not parts:
            return match_all  # nothing to choose from: no restriction (as an empty ALL)
        if len(parts) == 1:
            return parts[0]
        return lambda e: any(p(e) for p in parts)
    if not parts:
        return match_all
    return lambda e: not any(p(e) for p in parts)


def _all(checks: list[Predicate]) -> Predicate:
    checks = [c for c in checks if c is not match_all]
    if not checks:
        return match_all
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda e: a(e) and b(e)
    if len(checks) == 3:
        a, b, c = checks
        return lambda e: a(e) and b(e) and c(e)
    # Cheapest-first ordering is the caller's business; short-circuit in document order.
    head, rest = checks[0], _all(checks[1:])
    return lambda e: head(e) and rest(e)


def _guarded(predicate: Predicate) -> Predicate:
    if predicate is match_all:
        return predicate

    def guarded(endpoint: dict[str, Any]) -> bool:
        try:
            return bool(predicate(endpoint))
        except _ODD_DATA:
            return False

    return guarded


# -- dimension kinds -----------------------------------------------------------------------------------------------


def _endpoint_attributes(endpoint: dict[str, Any]) -> Any:
    return endpoint.get("Attributes")


def _user_attributes(endpoint: dict[str, Any]) -> Any:
    user = endpoint.get("User")
    return user.get("UserAttributes") if user else None


def _attribute_check(source: Callable[[dict], Any], name: str, spec: Any, field: str) -> Predicate:
    require_object(spec, field)
    kind = choice(spec.get("AttributeType"), ATTRIBUTE_TYPES, "INCLUSIVE", f"{field}.AttributeType")
    values = string_values(spec.get("Values"), f"{field}.Values")

    def read(endpoint: dict[str, Any]) -> list | None:
        attrs = source(endpoint)
        if not attrs:
            return None
        found = attrs.get(name)
        return found if found.__class__ is list and found else None

    if kind in ("INCLUSIVE", "EXCLUSIVE"):
        wanted = frozenset(values)
        if kind == "INCLUSIVE":
            return lambda e: (v := read(e)) is not None and not wanted.isdisjoint(v)
        return lambda e: (v := read(e)) is not None and wanted.isdisjoint(v)
    if kind == "CONTAINS":
        needles = tuple(values)
        return lambda e: (v := read(e)) is not None and any(n in s for s in v if s.__class__ is str for n in needles)
    instants = [parse_instant(x, f"{field}.Values[{i}]") for i, x in enumerate(values)]
    expected = {"BEFORE": 1, "AFTER": 1, "ON": 1, "BETWEEN": 2}[kind]
    if len(instants) != expected:
        raise BadRequest(f"{field}.Values must hold exactly {expected} ISO-8601 instant(s) for {kind}")
    if kind == "ON":
        day = instants[0].date()
        return lambda e: (v := read(e)) is not None and any(day_of(s) == day for s in v)
    if kind == "BEFORE":
        low, high, strict = None, instants[0].timestamp(), True
    elif kind == "AFTER":
        low, high, strict = instants[0].timestamp(), None, True
    else:
        low, high, strict = min(instants).timestamp(), max(instants).timestamp(), False

    def in_range(s: Any) -> bool:
        t = epoch_of(s)
        if t is None:
            return False
        if strict:
            return (low is None or t > low) and (high is None or t < high)
        return low <= t <= high  # type: ignore[operator]

    return lambda e: (v := read(e)) is not None and any(in_range(s) for s in v)


def _metric_check(name: str, spec: Any, field: str) -> Predicate:
    require_object(spec, field)
    op = spec.get("ComparisonOperator")
    if op not in COMPARISONS:
        raise BadRequest(f"{field}.ComparisonOperator must be one of {', '.join(COMPARISONS)}; got {op!r}")
    target = spec.get("Value")
    if isinstance(target, bool) or not isinstance(target, (int, float)):
        raise BadRequest(f"{field}.Value must be a number")
    try:
        target = float(target)
    except OverflowError:
        raise BadRequest(f"{field}.Value is too large") from None

    def read(e: dict[str, Any]) -> float | None:
        metrics = e.get("Metrics")
        if not metrics:
            return None
        value = metrics.get(name)
        return value if value.__class__ in (int, float) else None

    if op == "GREATER_THAN":
        return lambda e: (v := read(e)) is not None and v > target
    if op == "LESS_THAN":
        return lambda e: (v := read(e)) is not None and v < target
    if op == "GREATER_THAN_OR_EQUAL":
        return lambda e: (v := read(e)) is not None and v >= target
    if op == "LESS_THAN_OR_EQUAL":
        return lambda e: (v := read(e)) is not None and v <= target
    return lambda e: (v := read(e)) is not None and v == target


def _set_dimension(spec: Any, field: str, normalise: Callable[[str], str]) -> tuple[frozenset[str], bool]:
    require_object(spec, field)
    kind = choice(spec.get("DimensionType"), DIMENSION_TYPES, "INCLUSIVE", f"{field}.DimensionType")
    return frozenset(normalise(v) for v in string_values(spec.get("Values"), f"{field}.Values")), kind == "INCLUSIVE"


def _set_check(read: Callable[[dict], Any], values: frozenset[str], inclusive: bool) -> Predicate:
    if inclusive:
        return lambda e: read(e) in values
    return lambda e: (v := read(e)) is not None and v.__class__ is str and v not in values


def _demographic_reader(member: str) -> Callable[[dict], Any]:
    def read(e: dict[str, Any]) -> Any:
        demographic = e.get("Demographic")
        return demographic.get(member) if demographic else None

    return read


def _country(e: dict[str, Any]) -> str | None:
    location = e.get("Location")
    country = location.get("Country") if location else None
    return country.upper() if country.__class__ is str else None


def _recency_check(spec: Any, now: datetime, field: str) -> Predicate:
    require_object(spec, field)
    duration = spec.get("Duration")
    if duration not in DURATIONS:
        raise BadRequest(f"{field}.Duration must be one of {', '.join(DURATIONS)}; got {duration!r}")
    recency = spec.get("RecencyType")
    if recency not in RECENCY_TYPES:
        raise BadRequest(f"{field}.RecencyType must be one of {', '.join(RECENCY_TYPES)}; got {recency!r}")
    cutoff = (now - DURATIONS[duration]).timestamp()
    if recency == "ACTIVE":
        return lambda e: (t := epoch_of(e.get("EffectiveDate"))) is not None and t >= cutoff
    return lambda e: (t := epoch_of(e.get("EffectiveDate"))) is not None and t < cutoff
