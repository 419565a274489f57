"""Protocol V5/V6 messages: commands and notifications.

Re-exports the protobuf classes of ``v5.proto`` and maps message type codes to
them. Kinds by code: control 0x0000-0x03FF, commands 0x0400-0x7FFF,
notifications 0x8000-0xFBFF, custom 0xFC00-0xFFFF. A completion notification's
code is ``0x8000 | (command code & 0xFF)``, except the invocation-id
notification of calls and sends (0x800E). Every notification decodes as
``NotificationTemplate``.
"""

from __future__ import annotations

from enum import IntEnum

from google.protobuf.message import Message

from .v5_pb2 import (
    AttachInvocationCommandMessage,
    CallCommandMessage,
    ClearAllStateCommandMessage,
    ClearStateCommandMessage,
    CommandAckMessage,
    CompleteAwakeableCommandMessage,
    CompletePromiseCommandMessage,
    EndMessage,
    ErrorMessage,
    Failure,
    FailureMetadata,
    GetEagerStateCommandMessage,
    GetEagerStateKeysCommandMessage,
    GetInvocationOutputCommandMessage,
    GetLazyStateCommandMessage,
    GetLazyStateKeysCommandMessage,
    GetPromiseCommandMessage,
    Header,
    IdempotentRequestTarget,
    InputCommandMessage,
    NotificationTemplate,
    OneWayCallCommandMessage,
    OutputCommandMessage,
    PeekPromiseCommandMessage,
    ProposeRunCompletionMessage,
    RunCommandMessage,
    SendSignalCommandMessage,
    SetStateCommandMessage,
    SleepCommandMessage,
    StartMessage,
    StateKeys,
    SuspensionMessage,
    Value,
    Void,
    WorkflowTarget,
)

__all__ = [
    "CANCEL_SIGNAL_ID",
    "MESSAGE_CLASSES",
    "AttachInvocationCommandMessage",
    "CallCommandMessage",
    "ClearAllStateCommandMessage",
    "ClearStateCommandMessage",
    "CommandAckMessage",
    "CompleteAwakeableCommandMessage",
    "CompletePromiseCommandMessage",
    "EndMessage",
    "ErrorMessage",
    "Failure",
    "FailureMetadata",
    "GetEagerStateCommandMessage",
    "GetEagerStateKeysCommandMessage",
    "GetInvocationOutputCommandMessage",
    "GetLazyStateCommandMessage",
    "GetLazyStateKeysCommandMessage",
    "GetPromiseCommandMessage",
    "Header",
    "IdempotentRequestTarget",
    "InputCommandMessage",
    "MessageType",
    "NotificationTemplate",
    "OneWayCallCommandMessage",
    "OutputCommandMessage",
    "PeekPromiseCommandMessage",
    "ProposeRunCompletionMessage",
    "RunCommandMessage",
    "SendSignalCommandMessage",
    "SetStateCommandMessage",
    "SleepCommandMessage",
    "StartMessage",
    "StateKeys",
    "SuspensionMessage",
    "Value",
    "Void",
    "WorkflowTarget",
    "is_command",
    "is_notification",
    "message_class",
    "message_type_of",
]


class MessageType(IntEnum):
    """V5/V6 message type codes."""

    START = 0x0000
    SUSPENSION = 0x0001
    ERROR = 0x0002
    END = 0x0003
    COMMAND_ACK = 0x0004
    PROPOSE_RUN_COMPLETION = 0x0005
    INPUT_COMMAND = 0x0400
    OUTPUT_COMMAND = 0x0401
    GET_LAZY_STATE_COMMAND = 0x0402
    SET_STATE_COMMAND = 0x0403
    CLEAR_STATE_COMMAND = 0x0404
    CLEAR_ALL_STATE_COMMAND = 0x0405
    GET_LAZY_STATE_KEYS_COMMAND = 0x0406
    GET_EAGER_STATE_COMMAND = 0x0407
    GET_EAGER_STATE_KEYS_COMMAND = 0x0408
    GET_PROMISE_COMMAND = 0x0409
    PEEK_PROMISE_COMMAND = 0x040A
    COMPLETE_PROMISE_COMMAND = 0x040B
    SLEEP_COMMAND = 0x040C
    CALL_COMMAND = 0x040D
    ONE_WAY_CALL_COMMAND = 0x040E
    SEND_SIGNAL_COMMAND = 0x0410
    RUN_COMMAND = 0x0411
    ATTACH_INVOCATION_COMMAND = 0x0412
    GET_INVOCATION_OUTPUT_COMMAND = 0x0413
    COMPLETE_AWAKEABLE_COMMAND = 0x0414
    GET_LAZY_STATE_COMPLETION_NOTIFICATION = 0x8002
    GET_LAZY_STATE_KEYS_COMPLETION_NOTIFICATION = 0x8006
    GET_PROMISE_COMPLETION_NOTIFICATION = 0x8009
    PEEK_PROMISE_COMPLETION_NOTIFICATION = 0x800A
    COMPLETE_PROMISE_COMPLETION_NOTIFICATION = 0x800B
    SLEEP_COMPLETION_NOTIFICATION = 0x800C
    CALL_COMPLETION_NOTIFICATION = 0x800D
    CALL_INVOCATION_ID_COMPLETION_NOTIFICATION = 0x800E
    RUN_COMPLETION_NOTIFICATION = 0x8011
    ATTACH_INVOCATION_COMPLETION_NOTIFICATION = 0x8012
    GET_INVOCATION_OUTPUT_COMPLETION_NOTIFICATION = 0x8013
    SIGNAL_NOTIFICATION = 0xFBFF


#: The built-in signal that asks the invocation to cancel itself.
CANCEL_SIGNAL_ID = 1

_CONTROL_AND_COMMAND_CLASSES: dict[int, type[Message]] = {
    MessageType.START: StartMessage,
    MessageType.SUSPENSION: SuspensionMessage,
    MessageType.ERROR: ErrorMessage,
    MessageType.END: EndMessage,
    MessageType.COMMAND_ACK: CommandAckMessage,
    MessageType.PROPOSE_RUN_COMPLETION: ProposeRunCompletionMessage,
    MessageType.INPUT_COMMAND: InputCommandMessage,
    MessageType.OUTPUT_COMMAND: OutputCommandMessage,
    MessageType.GET_LAZY_STATE_COMMAND: GetLazyStateCommandMessage,
    MessageType.SET_STATE_COMMAND: SetStateCommandMessage,
    MessageType.CLEAR_STATE_COMMAND: ClearStateCommandMessage,
    MessageType.CLEAR_ALL_STATE_COMMAND: ClearAllStateCommandMessage,
    MessageType.GET_LAZY_STATE_KEYS_COMMAND: GetLazyStateKeysCommandMessage,
    MessageType.GET_EAGER_STATE_COMMAND: GetEagerStateCommandMessage,
    MessageType.GET_EAGER_STATE_KEYS_COMMAND: GetEagerStateKeysCommandMessage,
    MessageType.GET_PROMISE_COMMAND: GetPromiseCommandMessage,
    MessageType.PEEK_PROMISE_COMMAND: PeekPromiseCommandMessage,
    MessageType.COMPLETE_PROMISE_COMMAND: CompletePromiseCommandMessage,
    MessageType.SLEEP_COMMAND: SleepCommandMessage,
    MessageType.CALL_COMMAND: CallCommandMessage,
    MessageType.ONE_WAY_CALL_COMMAND: OneWayCallCommandMessage,
    MessageType.SEND_SIGNAL_COMMAND: SendSignalCommandMessage,
    MessageType.RUN_COMMAND: RunCommandMessage,
    MessageType.ATTACH_INVOCATION_COMMAND: AttachInvocationCommandMessage,
    MessageType.GET_INVOCATION_OUTPUT_COMMAND: GetInvocationOutputCommandMessage,
    MessageType.COMPLETE_AWAKEABLE_COMMAND: CompleteAwakeableCommandMessage,
}

#: Code -> protobuf class for every known code; notifications all map to the template.
MESSAGE_CLASSES: dict[int, type[Message]] = {
    **_CONTROL_AND_COMMAND_CLASSES,
    **{code: NotificationTemplate for code in MessageType if code >= 0x8000},
}

_TYPE_OF_CLASS = {cls: code for code, cls in _CONTROL_AND_COMMAND_CLASSES.items()}


def is_command(code: int) -> bool:
    """True for 0x0400-0x7FFF (known or not)."""
    return 0x0400 <= code <= 0x7FFF


def is_notification(code: int) -> bool:
    """True for 0x8000-0xFBFF (known or not)."""
    return 0x8000 <= code <= 0xFBFF


def message_class(code: int) -> type[Message] | None:
    """The class a message of this code decodes as; unknown notifications use the template."""
    cls = MESSAGE_CLASSES.get(code)
    if cls is None and is_notification(code):
        return NotificationTemplate
    return cls


def message_type_of(message: Message) -> int:
    """The type code of a V5/V6 control or command message (notifications are ambiguous)."""
    try:
        return _TYPE_OF_CLASS[type(message)]
    except KeyError:
        raise TypeError(
            f"{type(message).__name__} has no single type code; notifications need an explicit code"
        ) from None
