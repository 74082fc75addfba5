"""moto 5.2.5's SQS counts the whole queue for every message it sends or hands over; local mode's SQS does not.

What moto does: `SQSBackend.receive_message` walks the queue's visible messages and, for each one it is about to
return, asks `is_message_valid_based_on_retention_period`, which reads the retention period through
`get_queue_attributes(queue, ["MessageRetentionPeriod"])`. That builds the queue's full attribute dict three times
(`name in queue.attributes`, then `.get` twice), and each build counts the queue three times
(ApproximateNumberOfMessages, ...Delayed, ...NotVisible: a visibility check of every message each). A receive of 10
from a queue of n messages costs ~90 n clock reads: quadratic in the backlog. A message whose visibility ran out
while still pending also makes it deep-copy the set of pending message groups again (a pass over every in-flight
message), although only FIFO queues read those groups.

What local mode runs instead (`_receive_message`): the same loop, statement for statement, with three changes that
return the same messages in the same state:
- the retention period is read once per call from the queue (`queue.message_retention_period`, the very value
  `get_queue_attributes` reports; it is an int, set by moto's own attribute parsing);
- the pending groups are recomputed only for FIFO queues, the only place they are read;
- one pass over the queue: moto builds `queue.messages` (every visible, undelayed message) and then walks it; here
  the walk tests visibility and delay itself, over a snapshot of the queue, and stops at `count` as moto does.
Visibility timeouts, DelaySeconds, receive counts and receipt handles (`mark_received`), the move to the DLQ once
ApproximateReceiveCount has reached maxReceiveCount, FIFO group blocking, the deep copy per returned message (so
attribute filtering does not touch the stored message) and long polling (`wait_for_messages`) are moto's own code.

`Queue.delete_message` is the same kind of cost: it looks for the receipt handle in every message of the queue
twice, building each message's list of handles both times. `_delete_message` finds it in one pass without those
lists and keeps moto's answers: a handle already deleted is ignored, an unknown one raises ReceiptHandleIsInvalid,
every message that ever had the handle is removed and all its handles are remembered as deleted.

`SQSBackend.send_message` (SendMessageBatch sends through it, one entry at a time) asks
`queue.attributes.get("ContentBasedDeduplication") == "true"` for every message: the same three counts of the queue
for each message sent into it. That attribute is only in the dict for FIFO queues, as the queue's
`content_based_deduplication` flag written "true" or "false"; `_send_message` asks the flag on FIFO queues and is
moto's code otherwise (validation, message id and sequence number from moto's random, delay, attributes, add).
"""

from __future__ import annotations

import functools
import hashlib
import string
from copy import deepcopy
from typing import Any

import moto
import moto.sqs.models as sqs_models
from moto.core.utils import unix_time, unix_time_millis
from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid
from moto.sqs.models import Message, Queue, SQSBackend

MOTO_VERSIONS = ("5.2.",)  # the versions whose send_message / receive_message / delete_message these copy
# What the copies rely on; install fails loudly, naming the missing piece, if moto's internals moved.
_QUEUE_ATTRIBUTES = ("_messages", "_messages_lock", "pending_messages", "pending_message_groups", "fifo_queue")
_QUEUE_ATTRIBUTES += ("dead_letter_queue", "redrive_policy", "wait_for_messages", "deleted_messages")
_QUEUE_ATTRIBUTES += ("content_based_deduplication", "delay_seconds", "add_message")
_MESSAGE_ATTRIBUTES = ("visible_at", "delayed_until", "receipt_handle", "_old_receipt_handles", "mark_received")
_MESSAGE_ATTRIBUTES += ("deduplication_id", "sequence_number", "group_id", "message_attributes", "mark_sent")


def _receive_message(
    self: SQSBackend,
    queue_name: str,
    count: int,
    wait_seconds_timeout: int,
    visibility_timeout: int,
    message_attribute_names: list[str] | None = None,
) -> list[Message]:
    if message_attribute_names is None:
        message_attribute_names = []
    queue = self.get_queue(queue_name)
    result: list[Message] = []
    previous_result_count = len(result)

    polling_end = unix_time() + wait_seconds_timeout
    currently_pending_groups = deepcopy(queue.pending_message_groups)
    retention_s = queue.message_retention_period  # type: ignore[attr-defined]

    while True:
        if result or (wait_seconds_timeout and unix_time() > polling_end):
            break

        messages_to_dlq: list[Message] = []
        now_ms = unix_time_millis()

        for message in list(queue._messages):
            # moto's `queue.messages`: visible and not delayed. visible_at is read as the walk reaches the message,
            # so a message another receiver has just taken is skipped, as moto's second `message.visible` check does.
            if not (now_ms > message.visible_at and now_ms >= message.delayed_until):
                continue

            if message in queue.pending_messages:
                # The message is pending but is visible again, so the consumer must have timed out.
                queue.pending_messages.remove(message)
                if queue.fifo_queue:  # only FIFO queues read the pending groups
                    currently_pending_groups = deepcopy(queue.pending_message_groups)

            if message.group_id and queue.fifo_queue and message.group_id in currently_pending_groups:
                continue  # a previous call is still processing messages in this group

            if (
                queue.dead_letter_queue is not None
                and queue.redrive_policy
                and message.approximate_receive_count >= queue.redrive_policy["maxReceiveCount"]
            ):
                messages_to_dlq.append(message)
                continue

            queue.pending_messages.add(message)
            message.mark_received(visibility_timeout=visibility_timeout)
            message_copy = deepcopy(message)  # filtering attributes must not change the stored message
            sqs_models._filter_message_attributes(message_copy, message_attribute_names)
            if retention_s + message.sent_timestamp / 1000 <= unix_time():  # type: ignore[operator]
                break  # moto's is_message_valid_based_on_retention_period, with the period read once
            result.append(message_copy)
            if len(result) >= count:
                break

        for message in messages_to_dlq:
            queue._messages.remove(message)
            queue.dead_letter_queue.add_message(message)  # type: ignore[union-attr]

        if previous_result_count == len(result):
            if wait_seconds_timeout == 0:
                break  # no timeout and no additional results
            queue.wait_for_messages(1)
            continue

        previous_result_count = len(result)

    return result


def _send_message(
    self: SQSBackend,
    queue_name: str,
    message_body: str,
    message_attributes: dict[str, Any] | None = None,
    delay_seconds: int | None = None,
    deduplication_id: str | None = None,
    group_id: str | None = None,
    system_attributes: dict[str, Any] | None = None,
    validate_group_id: bool = True,
) -> Message:
    queue = self.get_queue(queue_name)
    self._validate_message(
        queue,
        message_body=message_body,
        delay_seconds=int(delay_seconds or 0),
        deduplication_id=deduplication_id,
        group_id=group_id,
        validate_group_id=validate_group_id,
    )
    delay_seconds = int(delay_seconds) if delay_seconds is not None else queue.delay_seconds  # type: ignore[attr-defined]
    message = Message(str(sqs_models.random.uuid4()), message_body, system_attributes)
    if _content_based_deduplication(queue):
        message.deduplication_id = hashlib.sha256(message_body.encode("utf-8")).hexdigest()
    if deduplication_id is not None:
        message.deduplication_id = deduplication_id
        message.sequence_number = "".join(sqs_models.random.choice(string.digits) for _ in range(20))
    if group_id is not None:
        message.group_id = group_id
    if message_attributes:
        message.message_attributes = message_attributes
    if delay_seconds > sqs_models.MAXIMUM_MESSAGE_DELAY:
        raise InvalidParameterValue(
            f"Value {delay_seconds} for parameter DelaySeconds is invalid. "
            "Reason: DelaySeconds must be >= 0 and <= 900."
        )
    message.mark_sent(delay_seconds=delay_seconds)
    queue.add_message(message)
    return message


def _content_based_deduplication(queue: Queue) -> bool:
    """moto's `queue.attributes.get("ContentBasedDeduplication") == "true"` without building the dict: only a FIFO
    queue's dict holds it, its booleans written "true" / "false"."""
    if not queue.fifo_queue:
        return False
    value = queue.content_based_deduplication  # type: ignore[attr-defined]
    return (str(value).lower() if isinstance(value, bool) else value) == "true"


def _delete_message(self: Queue, receipt_handle: str) -> None:
    if receipt_handle in self.deleted_messages:
        return  # already deleted: moto ignores it, as SQS does
    with self._messages_lock:  # add_message appends under this lock; the list is replaced below
        matches = [
            m for m in self._messages if m.receipt_handle == receipt_handle or receipt_handle in m._old_receipt_handles
        ]
        if not matches:
            raise ReceiptHandleIsInvalid()
        for message in matches:
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)  # type: ignore[arg-type]
        gone = {id(m) for m in matches}
        self._messages = [m for m in self._messages if id(m) not in gone]


def _check_moto() -> None:
    if not moto.__version__.startswith(MOTO_VERSIONS):
        raise RuntimeError(
            f"kizuna.local.moto_sqs: moto {moto.__version__} is installed, but its copies of SQS send_message, "
            f"receive_message and delete_message come from moto {' / '.join(v + 'x' for v in MOTO_VERSIONS)}: "
            "compare them with this moto's and update the copies (or drop the patch)"
        )
    queue = Queue("kizuna-probe", "us-east-1", "123456789012")  # instance attributes exist only on an instance
    message = Message("probe", "probe")
    for model, instance in ((Queue, queue), (Message, message)):
        model.instances_tracked.remove(instance)  # type: ignore[attr-defined]  # not a resource moto should list
    missing = [f"Queue.{name}" for name in _QUEUE_ATTRIBUTES if not hasattr(queue, name)]
    missing += [f"Message.{name}" for name in _MESSAGE_ATTRIBUTES if not hasattr(message, name)]
    if not isinstance(getattr(queue, "message_retention_period", None), int):
        missing.append("Queue.message_retention_period (an int)")
    module_names = ("_filter_message_attributes", "random", "MAXIMUM_MESSAGE_DELAY")
    missing += [f"moto.sqs.models.{name}" for name in module_names if not hasattr(sqs_models, name)]
    if missing:
        raise RuntimeError(
            f"kizuna.local.moto_sqs: moto {moto.__version__}'s SQS models lack {', '.join(missing)}; "
            "compare send_message / receive_message / delete_message with the copies before installing them"
        )


def one_pass_sqs() -> None:
    """Installs the send, receive and delete above on moto's SQS (every backend in the process). Idempotent."""
    if getattr(SQSBackend.receive_message, "_kizuna_one_pass", False):
        return
    _check_moto()
    for owner, name, replacement in (
        (SQSBackend, "send_message", _send_message),
        (SQSBackend, "receive_message", _receive_message),
        (Queue, "delete_message", _delete_message),
    ):
        patched = functools.wraps(getattr(owner, name))(replacement)
        patched._kizuna_one_pass = True  # type: ignore[attr-defined]
        setattr(owner, name, patched)
