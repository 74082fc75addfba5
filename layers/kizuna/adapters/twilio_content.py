"""WhatsApp template approval, as Twilio's Content API reports Meta's decision (approved, pending, rejected,
paused, disabled, unsubmitted)."""

from __future__ import annotations

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from kizuna.errors import BadRequest


class TwilioContentApprovals:
    def __init__(self, client: Client) -> None:
        self._client = client

    def approval_status(self, content_sid: str) -> str:
        """Meta's status for the content's WhatsApp template; "unknown" when Twilio cannot say right now."""
        try:
            approval = self._client.content.v1.contents(content_sid).approval_fetch().fetch()
        except TwilioRestException as exc:
            if exc.status == 404:
                raise BadRequest(f"ContentSid {content_sid} is not a Content template of this Twilio account") from exc
            return "unknown"
        except Exception:  # noqa: BLE001 - a template can be saved while Twilio is unreachable; it is refreshed on read
            return "unknown"
        return str((approval.whatsapp or {}).get("status") or "unsubmitted").lower()
