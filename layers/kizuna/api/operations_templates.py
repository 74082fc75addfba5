"""Pinpoint's message template operations for SMS, voice and email, and Kizuna's WhatsApp templates (account-wide:
no ApplicationId).

Any key may read templates (apps send with them); only an admin key may change them, since a template is shared
by every app of the deployment.
"""

from __future__ import annotations

from collections.abc import Callable

from kizuna.api.app import Call, operation
from kizuna.errors import BadRequest, Forbidden
from kizuna.ports import TemplateStore
from kizuna.services import templates

# Operation name part → template type.
CHANNELS = {"Sms": "SMS", "Voice": "VOICE", "Email": "EMAIL", "WhatsApp": "WHATSAPP"}


def _store(call: Call) -> TemplateStore:
    if call.deps.templates is None:
        raise BadRequest("Message templates are not configured")
    return call.deps.templates


def _admin(call: Call) -> TemplateStore:
    if call.caller.app_ids is not None:
        raise Forbidden("Message templates are shared by every app: only an admin key may change them")
    return _store(call)


def _request_member(template_type: str) -> str:
    return templates.TYPES[template_type][0]


def _register(channel: str, template_type: str) -> None:
    member = _request_member(template_type)

    def create(call: Call) -> dict:
        d, p = call.deps, call.params
        created = templates.create_template(
            _admin(call), d.clock, d.arn_prefix, template_type, p["TemplateName"], _with_approval(call, p.get(member))
        )
        return {**created, "RequestID": call.request_id}

    def get(call: Call) -> dict:
        p = call.params
        template = templates.get_template(_store(call), template_type, p["TemplateName"], p.get("Version"))
        return _with_approval(call, template) if template_type == "WHATSAPP" else template

    def update(call: Call) -> dict:
        p = call.params
        result = templates.update_template(
            _admin(call), call.deps.clock, template_type, p["TemplateName"], _with_approval(call, p.get(member)),
            p.get("CreateNewVersion"), p.get("Version"),
        )  # fmt: skip
        return {**result, "RequestID": call.request_id}

    def delete(call: Call) -> dict:
        p = call.params
        result = templates.delete_template(_admin(call), template_type, p["TemplateName"], p.get("Version"))
        return {**result, "RequestID": call.request_id}

    handlers: dict[str, Callable[[Call], dict]] = {"Create": create, "Get": get, "Update": update, "Delete": delete}
    for verb, fn in handlers.items():
        operation(f"{verb}{channel}Template")(fn)


def _with_approval(call: Call, request: dict | None) -> dict | None:
    """A WhatsApp template with the approval Twilio reports for its ContentSid now (others unchanged)."""
    if not request or not request.get("ContentSid") or call.deps.content_approvals is None:
        return request
    return {**request, "ApprovalStatus": call.deps.content_approvals().approval_status(request["ContentSid"])}


for _channel, _type in CHANNELS.items():
    _register(_channel, _type)


@operation("ListTemplates")
def list_templates(call: Call) -> dict:
    p = call.params
    return templates.list_templates(
        _store(call), p.get("Prefix"), p.get("TemplateType"), p.get("PageSize"), p.get("NextToken")
    )


@operation("ListTemplateVersions")
def list_template_versions(call: Call) -> dict:
    p = call.params
    result = templates.list_versions(
        _store(call), p["TemplateType"], p["TemplateName"], p.get("PageSize"), p.get("NextToken")
    )
    return {**result, "RequestID": call.request_id}


@operation("UpdateTemplateActiveVersion")
def update_template_active_version(call: Call) -> dict:
    p = call.params
    result = templates.set_active_version(
        _admin(call), p["TemplateType"], p["TemplateName"], p.get("TemplateActiveVersionRequest")
    )
    return {**result, "RequestID": call.request_id}
