"""Message templates (Pinpoint's template operations for SMS, voice and email), with versions and an active version.

Pinpoint's rules, from its API reference:
- Create makes version 1, which is also the active version. A name is unique per channel type.
- Update overwrites the latest version unless `create-new-version` is true, which adds latest + 1. The active version
  does not move (UpdateTemplateActiveVersion moves it). A `version` given to an update must be the latest one, so
  two editors cannot silently overwrite each other; the head's conditional write enforces the same under races.
- Get without `version` returns the active version. Delete without `version` removes every version; deleting the
  active version is refused while other versions exist (choose another active version first).
Templates are account-wide (no ApplicationId). The API lets any key read them and only admin keys change them.
"""

from __future__ import annotations

import re
from typing import Any

from kizuna.clock import Clock, iso
from kizuna.domain.templates import check_template, parse_defaults
from kizuna.errors import BadRequest, NotFound
from kizuna.ports import TemplateStore

# Template type → (request shape name, the members that are Handlebars text, other string members kept as given).
TYPES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "SMS": ("SMSTemplateRequest", ("Body",), ("RecommenderId", "TemplateDescription")),
    "VOICE": ("VoiceTemplateRequest", ("Body",), ("LanguageCode", "VoiceId", "TemplateDescription")),
    "EMAIL": (
        "EmailTemplateRequest",
        ("Subject", "HtmlPart", "TextPart"),
        ("RecommenderId", "TemplateDescription", "Headers"),
    ),
    # Kizuna's extension: an approved Twilio Content template; Body is the free-form text for inside the window.
    # ApprovalStatus is never the caller's: the model refuses it in a request, the API adds what Twilio reports.
    "WHATSAPP": (
        "WhatsAppTemplateRequest",
        ("Body",),
        ("ContentSid", "Variables", "TemplateDescription", "ApprovalStatus"),
    ),
}
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
MAX_PAGE_SIZE = 100


def create_template(
    store: TemplateStore, clock: Clock, arn_prefix: str, template_type: str, name: str, request: dict | None
) -> dict[str, Any]:
    _check_name(name)
    content = _content(template_type, request)
    now = iso(clock.now())
    head = {
        "TemplateName": name,
        "TemplateType": template_type,
        "Arn": f"{arn_prefix}:templates/{name}/{template_type}",
        "CreationDate": now,
        "ActiveVersion": 1,
        "LatestVersion": 1,
        **({"tags": dict(request["tags"])} if (request or {}).get("tags") else {}),
    }
    if store.get_head(template_type, name) is not None:
        raise BadRequest(f"Template {name} of type {template_type} already exists")
    store.put_version(template_type, name, 1, _version_doc(head, content, 1, now))
    if not store.put_head(head, expected_latest=None):
        raise BadRequest(f"Template {name} of type {template_type} already exists")
    return {"Arn": head["Arn"], "Message": "Created"}


def update_template(
    store: TemplateStore,
    clock: Clock,
    template_type: str,
    name: str,
    request: dict | None,
    create_new_version: bool | None,
    version: str | None,
) -> dict[str, Any]:
    head = _require_head(store, template_type, name)
    content = _content(template_type, request)
    latest = int(head["LatestVersion"])
    if version is not None and _version_number(version) != latest:
        raise BadRequest(f"version {version} is not the latest version of template {name} ({latest})")
    now = iso(clock.now())
    target = latest + 1 if create_new_version else latest
    # An overwritten version keeps its creation date; a new one starts now.
    created = now if create_new_version else (store.get_version(template_type, name, latest) or {}).get("CreationDate")
    store.put_version(template_type, name, target, _version_doc(head, content, target, now, created))
    if create_new_version and not store.put_head({**head, "LatestVersion": target}, expected_latest=latest):
        store.delete_version(template_type, name, target)
        raise BadRequest(f"Template {name} was changed by another request; read it again and retry")
    return {"Message": "Accepted"}


def get_template(store: TemplateStore, template_type: str, name: str, version: str | None) -> dict[str, Any]:
    head = _require_head(store, template_type, name)
    number = int(head["ActiveVersion"]) if version is None else _version_number(version)
    doc = store.get_version(template_type, name, number)
    if doc is None:
        raise NotFound(f"Template {name} of type {template_type} has no version {number}")
    return {**doc, "Arn": head["Arn"], **({"tags": head["tags"]} if head.get("tags") else {})}


def delete_template(store: TemplateStore, template_type: str, name: str, version: str | None) -> dict[str, Any]:
    head = _require_head(store, template_type, name)
    if version is None:
        store.delete_template(template_type, name)
        return {"Message": "Deleted"}
    number = _version_number(version)
    versions = [int(v["Version"]) for v in store.list_versions(template_type, name)]
    if number not in versions:
        raise NotFound(f"Template {name} of type {template_type} has no version {number}")
    if versions == [number]:
        store.delete_template(template_type, name)
        return {"Message": "Deleted"}
    if number == int(head["ActiveVersion"]):
        raise BadRequest(f"version {number} is the active version of template {name}; activate another one first")
    store.delete_version(template_type, name, number)
    if number == int(head["LatestVersion"]):
        remaining = max(v for v in versions if v != number)
        store.put_head({**head, "LatestVersion": remaining}, expected_latest=number)
    return {"Message": "Deleted"}


def set_active_version(store: TemplateStore, template_type: str, name: str, request: dict | None) -> dict[str, Any]:
    template_type = _check_type(template_type)
    head = _require_head(store, template_type, name)
    number = _version_number((request or {}).get("Version"), "TemplateActiveVersionRequest.Version")
    if store.get_version(template_type, name, number) is None:
        raise NotFound(f"Template {name} of type {template_type} has no version {number}")
    if not store.put_head({**head, "ActiveVersion": number}, expected_latest=int(head["LatestVersion"])):
        raise BadRequest(f"Template {name} was changed by another request; read it again and retry")
    return {"Message": "Accepted"}


def list_templates(
    store: TemplateStore, prefix: str | None, template_type: str | None, page_size: str | None, token: str | None
) -> dict[str, Any]:
    """TemplateResponse of each template's active version, ordered by name; the token is an offset."""
    wanted = _check_type(template_type) if template_type else None
    heads = [
        h
        for h in store.list_heads()
        if (wanted is None or h["TemplateType"] == wanted) and h["TemplateName"].startswith(prefix or "")
    ]
    page, next_token = _page(heads, page_size, token)
    items = []
    for head in page:
        doc = store.get_version(head["TemplateType"], head["TemplateName"], int(head["ActiveVersion"])) or {}
        summary = ("CreationDate", "DefaultSubstitutions", "LastModifiedDate", "TemplateDescription", "Version")
        items.append(
            {
                "Arn": head["Arn"],
                "TemplateName": head["TemplateName"],
                "TemplateType": head["TemplateType"],
                **{k: doc[k] for k in summary if k in doc},
                **({"tags": head["tags"]} if head.get("tags") else {}),
            }
        )
    return {"Item": items, **({"NextToken": next_token} if next_token else {})}


def list_versions(
    store: TemplateStore, template_type: str, name: str, page_size: str | None, token: str | None
) -> dict[str, Any]:
    template_type = _check_type(template_type)
    _require_head(store, template_type, name)
    versions = sorted(store.list_versions(template_type, name), key=lambda v: int(v["Version"]))
    page, next_token = _page(versions, page_size, token)
    fields = ("CreationDate", "DefaultSubstitutions", "LastModifiedDate", "TemplateDescription", "TemplateName",
              "TemplateType", "Version")  # fmt: skip
    items = [{k: v[k] for k in fields if k in v} for v in page]
    return {"Item": items, **({"NextToken": next_token} if next_token else {})}


# -- helpers -------------------------------------------------------------------------------------------------------


def _content(template_type: str, request: dict | None) -> dict[str, Any]:
    shape, texts, others = TYPES[template_type]
    request = request or {}
    content: dict[str, Any] = {}
    for member in texts:
        if request.get(member) is not None:
            check_template(request[member], f"{shape}.{member}")
            content[member] = request[member]
    for member in others:
        if request.get(member) is not None:
            content[member] = request[member]
    if request.get("DefaultSubstitutions") is not None:
        parse_defaults(request["DefaultSubstitutions"], f"{shape}.DefaultSubstitutions")
        content["DefaultSubstitutions"] = request["DefaultSubstitutions"]
    if template_type == "WHATSAPP":
        _check_whatsapp(content, shape)
    elif not any(member in content for member in texts):
        raise BadRequest(f"{shape} needs {' or '.join(texts)}")
    return content


def _check_whatsapp(content: dict[str, Any], shape: str) -> None:
    if not _CONTENT_SID.match(str(content.get("ContentSid") or "")):
        raise BadRequest(f"{shape}.ContentSid must be a Twilio Content SID (HX followed by 32 hex digits)")
    for number, expression in (content.get("Variables") or {}).items():
        if not str(number).isdigit():
            raise BadRequest(f"{shape}.Variables keys are the template's placeholder numbers; got {number!r}")
        check_template(expression, f"{shape}.Variables.{number}")


def _version_doc(
    head: dict[str, Any], content: dict[str, Any], version: int, now: str, created: str | None = None
) -> dict[str, Any]:
    return {
        **content,
        "TemplateName": head["TemplateName"],
        "TemplateType": head["TemplateType"],
        "CreationDate": created or now,
        "LastModifiedDate": now,
        "Version": str(version),
    }


def _require_head(store: TemplateStore, template_type: str, name: str) -> dict[str, Any]:
    head = store.get_head(template_type, name)
    if head is None:
        raise NotFound(f"Template {name} of type {template_type} not found")
    return head


def _check_name(name: str) -> None:
    if not _NAME.match(name or ""):
        raise BadRequest("TemplateName must start with a letter or digit and hold up to 128 letters, digits, _ or -")


def _check_type(template_type: str | None) -> str:
    value = (template_type or "").upper()
    if value not in TYPES:
        raise BadRequest(f"template-type must be one of {', '.join(TYPES)}; got {template_type!r}")
    return value


def _version_number(version: Any, field: str = "version") -> int:
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise BadRequest(f"{field} must be a positive integer; got {version!r}") from None
    if number < 1:
        raise BadRequest(f"{field} must be a positive integer; got {version!r}")
    return number


def _page(items: list[Any], page_size: str | None, token: str | None) -> tuple[list[Any], str | None]:
    try:
        limit = int(page_size) if page_size else MAX_PAGE_SIZE
        start = int(token) if token else 0
    except ValueError:
        raise BadRequest("page-size and next-token must be numbers") from None
    if not 1 <= limit <= MAX_PAGE_SIZE or start < 0:
        raise BadRequest(f"page-size must be 1 to {MAX_PAGE_SIZE}")
    page = items[start : start + limit]
    return page, (str(start + limit) if start + limit < len(items) else None)
