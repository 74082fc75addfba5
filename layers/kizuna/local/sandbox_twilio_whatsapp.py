"""Sandbox Twilio: what WhatsApp adds to the Messages API (kizuna.local.sandbox_twilio serves it).

- Content API templates (`contents`: sid -> {"body": "…{{1}}…", "status": "approved", "name", "category"}): a
  create request naming a ContentSid sends the template's body with its ContentVariables, an unknown sid is 21655, a
  template Meta did not approve is 63016; `GET /v1/Content/{sid}/ApprovalRequests` answers its WhatsApp approval.
- Meta's 24-hour window: a user's inbound message opens it for its conversation (business number, user number);
  free-form text outside it fails with 63016.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kizuna.local.sandbox_twilio_model import WHATSAPP, WHATSAPP_WINDOW_S, TwilioApiError


class SandboxWhatsApp:
    def __init__(self) -> None:
        self.contents: dict[str, dict[str, str]] = {}
        # Each conversation's last inbound message, which opens Meta's 24-hour window for free-form text (else 63016).
        self._last_inbound: dict[tuple[str, str], float] = {}

    def received(self, to: str, from_: str, at: float) -> None:
        """An inbound message from the user `from_` to the business number `to` (epoch seconds `at`)."""
        self._last_inbound[(to.removeprefix(WHATSAPP), from_.removeprefix(WHATSAPP))] = at

    def window_open(self, to: str, from_: str, now: float) -> bool:
        """Whether free-form text from the business number `from_` may reach the user `to` at `now`."""
        opened = self._last_inbound.get((from_.removeprefix(WHATSAPP), to.removeprefix(WHATSAPP)))
        return opened is not None and now - opened < WHATSAPP_WINDOW_S

    def approval(self, sid: str, account_sid: str) -> dict[str, Any]:
        """The Content API's ApprovalRequests answer for a template: its WhatsApp approval, as Meta decided it."""
        content = self.contents.get(sid)
        if content is None:
            raise TwilioApiError(404, 20404, f"The requested resource /v1/Content/{sid} was not found")
        whatsapp = {"status": content.get("status", "approved"), "name": content.get("name", sid.lower()),
                    "category": content.get("category", "UTILITY"), "rejection_reason": ""}  # fmt: skip
        return {"sid": sid, "account_sid": account_sid, "whatsapp": whatsapp,
                "url": f"https://content.twilio.com/v1/Content/{sid}/ApprovalRequests"}  # fmt: skip

    def render(self, content_sid: str, variables: str | None) -> str:
        """The body a create request with ContentSid and ContentVariables (JSON) sends."""
        content = self.contents.get(content_sid)
        if content is None:
            raise TwilioApiError(400, 21655, f"The Content SID {content_sid} is invalid.")  # code not verified
        if content.get("status", "approved") != "approved":
            raise TwilioApiError(400, 63016, "The template is not approved for WhatsApp.")
        values = json.loads(variables) if variables else {}
        return re.sub(r"{{(\d+)}}", lambda m: str(values.get(m.group(1), "")), content["body"])
