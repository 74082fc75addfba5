"""The status ladder as a reference model, for properties that replay callbacks against a message store: what a
sequence of provider callbacks must leave behind and emit (kizuna.services.record_status)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

from kizuna.domain.messages import TWILIO_CALL_STATUS, TWILIO_STATUS, rank
from kizuna.services.event_stream import event_id


@dataclass
class Expected:
    status: str
    changes: list[str] = field(default_factory=list)  # statuses the record moved to, in order
    changed: list[bool] = field(default_factory=list)  # what each callback should return
    emitted: list[str] = field(default_factory=list)  # event ids, in emission order (replays re-emit)


def expected(message_id: str, start: str, callbacks: list[str], mapping: dict[str, str]) -> Expected:
    """Forward only: a callback moves the record when its status ranks higher; one that repeats the current status
    re-emits that status's event under the same id; any other (late, or level with a different name) is silent."""
    model = Expected(start)
    for provider_status in callbacks:
        status = mapping[provider_status]
        if rank(status) > rank(model.status):
            model.status = status
            model.changes.append(status)
            model.changed.append(True)
            model.emitted.append(event_id(message_id, status))
        else:
            model.changed.append(False)
            if status == model.status:
                model.emitted.append(event_id(message_id, status))
    return model


# Duplicates and any order: Twilio retries callbacks and does not promise their order.
message_callbacks = st.lists(st.sampled_from(sorted(TWILIO_STATUS)), min_size=1, max_size=12)
call_callbacks = st.lists(st.sampled_from(sorted(TWILIO_CALL_STATUS)), min_size=1, max_size=12)
