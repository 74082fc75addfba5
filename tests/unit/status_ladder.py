"""The status ladder as a reference model, for properties that replay callbacks against a message store: what a
sequence of provider callbacks must leave behind and emit (kizuna.services.record_status).

The model restates the table in kizuna.domain.messages' docstring rather than importing it, so a property compares
the implementation with the table, not with itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

from kizuna.domain.messages import TWILIO_CALL_STATUS, TWILIO_STATUS
from kizuna.services.event_stream import event_id

# Before a final outcome a status only climbs; the final outcomes, and the two moves still allowed after one.
BEFORE_FINAL = {"accepted": 0, "sending": 1, "queued": 2, "accepted_by_service": 2, "scheduled": 2, "sent": 3,
                "answered": 4}  # fmt: skip
FINAL = frozenset({"delivered", "read", "undelivered", "failed", "expired"})
AFTER_FINAL = {"delivered": {"read"}, "undelivered": {"delivered", "read"}}
FAILURES = frozenset({"undelivered", "failed", "expired"})
DELIVERED = frozenset({"delivered", "read"})


def moves(current: str, new: str) -> bool:
    if current in FINAL:
        return new in AFTER_FINAL.get(current, set())
    return new in FINAL or BEFORE_FINAL[new] > BEFORE_FINAL[current]


def emits(previous: str | None, new: str) -> list[str]:
    """A move to read implies delivered (emitted too, unless the record was delivered); a replay (previous None)
    emits all its first application may have."""
    return ["delivered", "read"] if new == "read" and previous != "delivered" else [new]


@dataclass
class Expected:
    status: str
    changes: list[str] = field(default_factory=list)  # statuses the record moved to, in order
    changed: list[bool] = field(default_factory=list)  # what each callback should return
    emitted: list[str] = field(default_factory=list)  # event ids, in emission order (replays re-emit)
    reached: set[str] = field(default_factory=set)  # every status a change emitted an event for


def expected(message_id: str, start: str, callbacks: list[str], mapping: dict[str, str]) -> Expected:
    """A callback moves the record when the ladder allows it from where the record is; one that repeats the
    current status re-emits that status's events under the same ids; any other (late) is silent."""
    model = Expected(start)
    for provider_status in callbacks:
        status = mapping[provider_status]
        if moves(model.status, status):
            reached = emits(model.status, status)
            model.status = status
            model.changes.append(status)
            model.changed.append(True)
            model.emitted += [event_id(message_id, s) for s in reached]
            model.reached |= set(reached)
        else:
            model.changed.append(False)
            if status == model.status:
                model.emitted += [event_id(message_id, s) for s in emits(None, status)]
    return model


# Duplicates and any order: Twilio retries callbacks and does not promise their order.
message_callbacks = st.lists(st.sampled_from(sorted(TWILIO_STATUS)), min_size=1, max_size=12)
call_callbacks = st.lists(st.sampled_from(sorted(TWILIO_CALL_STATUS)), min_size=1, max_size=12)
