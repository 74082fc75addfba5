"""Twilio Programmable Voice call control for consultations: redirect a live leg, hang up, and look calls up.

Errors are translated with the messaging adapter's single classification table (twilio_messaging.translate_error), so a
call-control failure is a Permanent/Retryable/ProviderConfigurationError like any other provider error.
"""

from __future__ import annotations

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from kizuna.adapters.twilio_messaging import translate_error
from kizuna.ports_consultations import CallState

# "Call is not in-progress. Cannot redirect.": the leg ended before the update reached it.
CALL_NOT_IN_PROGRESS = 21220


class TwilioCallControl:
    def __init__(self, client: Client) -> None:
        self._client = client

    def redirect(self, call_sid: str, twiml: str) -> bool:
        try:
            self._client.calls(call_sid).update(twiml=twiml)
        except TwilioRestException as exc:
            if exc.code == CALL_NOT_IN_PROGRESS:
                return False
            raise translate_error(exc, sending=False) from exc
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            raise translate_error(exc, sending=False) from exc
        return True

    def hang_up(self, call_sid: str) -> None:
        try:
            self._client.calls(call_sid).update(status="completed")
        except Exception as exc:  # noqa: BLE001
            raise translate_error(exc, sending=False) from exc

    def fetch(self, call_sid: str) -> CallState:
        try:
            call = self._client.calls(call_sid).fetch()
        except Exception as exc:  # noqa: BLE001
            raise translate_error(exc, sending=False) from exc
        return _state(call)

    def children(self, parent_call_sid: str) -> list[CallState]:
        try:
            return [_state(c) for c in self._client.calls.list(parent_call_sid=parent_call_sid, limit=20)]
        except Exception as exc:  # noqa: BLE001
            raise translate_error(exc, sending=False) from exc


def _state(call: object) -> CallState:
    duration = getattr(call, "duration", None)
    return CallState(
        sid=str(getattr(call, "sid", "")),
        status=str(getattr(call, "status", "")),
        duration=int(duration) if duration not in (None, "") else None,
        parent_call_sid=getattr(call, "parent_call_sid", None),
    )
