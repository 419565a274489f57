"""Protocol V1/V2 messages: the journal-entry model.

Re-exports the protobuf classes of ``v2.proto`` and maps message type codes to
them. Kinds by code: core messages 0x0000-0x03FF, IO entries 0x04xx, state
entries 0x08xx, syscall entries 0x0Cxx. A code outside the table with any of
the bits 0xFC00 set is a *custom entry*: accepted into the journal, but no
syscall can replay it.
"""

from __future__ import annotations

from enum import IntEnum

from google.protobuf.message import Message

from .v2_pb2 import (
    AwakeableEntryMessage,
    CallEntryMessage,
    ClearAllStateEntryMessage,
    ClearStateEntryMessage,
    CompleteAwakeableEntryMessage,
    CompletePromiseEntryMessage,
    CompletionMessage,
    Empty,
    EndMessage,
    EntryAckMessage,
    ErrorMessage,
    Failure,
    GetPromiseEntryMessage,
    GetStateEntryMessage,
    GetStateKeysEntryMessage,
    Header,
    InputEntryMessage,
    OneWayCallEntryMessage,
    OutputEntryMessage,
    PeekPromiseEntryMessage,
    RunEntryMessage,
    SetStateEntryMessage,
    SleepEntryMessage,
    StartMessage,
    SuspensionMessage,
)

__all__ = [
    "COMPLETABLE",
    "CUSTOM_ENTRY_MASK",
    "MESSAGE_CLASSES",
    "AwakeableEntryMessage",
    "CallEntryMessage",
    "ClearAllStateEntryMessage",
    "ClearStateEntryMessage",
    "CompleteAwakeableEntryMessage",
    "CompletePromiseEntryMessage",
    "CompletionMessage",
    "Empty",
    "EndMessage",
    "EntryAckMessage",
    "ErrorMessage",
    "Failure",
    "GetPromiseEntryMessage",
    "GetStateEntryMessage",
    "GetStateKeysEntryMessage",
    "Header",
    "InputEntryMessage",
    "MessageType",
    "OneWayCallEntryMessage",
    "OutputEntryMessage",
    "PeekPromiseEntryMessage",
    "RunEntryMessage",
    "SetStateEntryMessage",
    "SleepEntryMessage",
    "StartMessage",
    "SuspensionMessage",
    "is_entry",
    "message_type_of",
]


class MessageType(IntEnum):
    """V1/V2 message type codes."""

    START = 0x0000
    COMPLETION = 0x0001
    SUSPENSION = 0x0002
    ERROR = 0x0003
    ENTRY_ACK = 0x0004
    END = 0x0005
    INPUT_ENTRY = 0x0400
    OUTPUT_ENTRY = 0x0401
    GET_STATE_ENTRY = 0x0800
    SET_STATE_ENTRY = 0x0801
    CLEAR_STATE_ENTRY = 0x0802
    CLEAR_ALL_STATE_ENTRY = 0x0803
    GET_STATE_KEYS_ENTRY = 0x0804
    GET_PROMISE_ENTRY = 0x0808
    PEEK_PROMISE_ENTRY = 0x0809
    COMPLETE_PROMISE_ENTRY = 0x080A
    SLEEP_ENTRY = 0x0C00
    CALL_ENTRY = 0x0C01
    ONE_WAY_CALL_ENTRY = 0x0C02
    AWAKEABLE_ENTRY = 0x0C03
    COMPLETE_AWAKEABLE_ENTRY = 0x0C04
    RUN_ENTRY = 0x0C05


#: Any code with one of these bits that is not in the table is a custom entry.
CUSTOM_ENTRY_MASK = 0xFC00

MESSAGE_CLASSES: dict[int, type[Message]] = {
    MessageType.START: StartMessage,
    MessageType.COMPLETION: CompletionMessage,
    MessageType.SUSPENSION: SuspensionMessage,
    MessageType.ERROR: ErrorMessage,
    MessageType.ENTRY_ACK: EntryAckMessage,
    MessageType.END: EndMessage,
    MessageType.INPUT_ENTRY: InputEntryMessage,
    MessageType.OUTPUT_ENTRY: OutputEntryMessage,
    MessageType.GET_STATE_ENTRY: GetStateEntryMessage,
    MessageType.SET_STATE_ENTRY: SetStateEntryMessage,
    MessageType.CLEAR_STATE_ENTRY: ClearStateEntryMessage,
    MessageType.CLEAR_ALL_STATE_ENTRY: ClearAllStateEntryMessage,
    MessageType.GET_STATE_KEYS_ENTRY: GetStateKeysEntryMessage,
    MessageType.GET_PROMISE_ENTRY: GetPromiseEntryMessage,
    MessageType.PEEK_PROMISE_ENTRY: PeekPromiseEntryMessage,
    MessageType.COMPLETE_PROMISE_ENTRY: CompletePromiseEntryMessage,
    MessageType.SLEEP_ENTRY: SleepEntryMessage,
    MessageType.CALL_ENTRY: CallEntryMessage,
    MessageType.ONE_WAY_CALL_ENTRY: OneWayCallEntryMessage,
    MessageType.AWAKEABLE_ENTRY: AwakeableEntryMessage,
    MessageType.COMPLETE_AWAKEABLE_ENTRY: CompleteAwakeableEntryMessage,
    MessageType.RUN_ENTRY: RunEntryMessage,
}

_TYPE_OF_CLASS = {cls: code for code, cls in MESSAGE_CLASSES.items()}

#: Entries that carry their result and the COMPLETED flag.
COMPLETABLE = frozenset(
    {
        MessageType.GET_STATE_ENTRY,
        MessageType.GET_STATE_KEYS_ENTRY,
        MessageType.GET_PROMISE_ENTRY,
        MessageType.PEEK_PROMISE_ENTRY,
        MessageType.COMPLETE_PROMISE_ENTRY,
        MessageType.SLEEP_ENTRY,
        MessageType.CALL_ENTRY,
        MessageType.AWAKEABLE_ENTRY,
    }
)


def is_entry(code: int) -> bool:
    """True for journal entries, known or custom (every code from 0x0400 on)."""
    return bool(code & CUSTOM_ENTRY_MASK)


def message_type_of(message: Message) -> int:
    """The type code of a V1/V2 protobuf message."""
    try:
        return _TYPE_OF_CLASS[type(message)]
    except KeyError:
        raise TypeError(f"{type(message).__name__} is not a V1/V2 protocol message") from None
