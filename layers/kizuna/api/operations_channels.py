"""Channel operations: Pinpoint's SMS, voice and email channels, Kizuna's WhatsApp channel, and the messaging
policy extension."""

from __future__ import annotations

from collections.abc import Callable

from kizuna.api.app import Call, operation
from kizuna.errors import BadRequest
from kizuna.ports import ChannelStore
from kizuna.services import channels

# Operation name part → (channel type, request payload member).
CHANNELS = {
    "Sms": ("SMS", "SMSChannelRequest"),
    "Voice": ("VOICE", "VoiceChannelRequest"),
    "Email": ("EMAIL", "EmailChannelRequest"),
    "WhatsApp": ("WHATSAPP", "WhatsAppChannelRequest"),
}


def _store(call: Call) -> ChannelStore:
    if call.deps.channels is None:
        raise BadRequest("Channels are not configured")
    return call.deps.channels


def _register(name: str, channel: str, member: str) -> None:
    def get(call: Call) -> dict:
        return channels.get_channel(call.deps.apps, _store(call), call.app_id, channel)

    def update(call: Call) -> dict:
        d = call.deps
        return channels.update_channel(d.apps, _store(call), d.clock, call.app_id, channel, call.params.get(member))

    def delete(call: Call) -> dict:
        return channels.delete_channel(call.deps.apps, _store(call), call.app_id, channel)

    handlers: dict[str, Callable[[Call], dict]] = {"Get": get, "Update": update, "Delete": delete}
    for verb, fn in handlers.items():
        operation(f"{verb}{name}Channel")(fn)


for _name, (_channel, _member) in CHANNELS.items():
    _register(_name, _channel, _member)


@operation("GetChannels")
def get_channels(call: Call) -> dict:
    return channels.get_channels(call.deps.apps, _store(call), call.app_id)


@operation("GetMessagingPolicy")
def get_policy(call: Call) -> dict:
    return channels.get_policy(call.deps.apps, _store(call), call.app_id)


@operation("UpdateMessagingPolicy")
def update_policy(call: Call) -> dict:
    d = call.deps
    return channels.update_policy(d.apps, _store(call), d.clock, call.app_id, call.params.get("MessagingPolicy"))
