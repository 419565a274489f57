"""Protocol V1/V2: the journal-entry model.

Theory of operation
-------------------
The journal is a list of *entries*; entry 0 is the input. The runtime starts
an attempt with a StartMessage that says how many entries it knows
(``known_entries``) and then sends them. Each syscall of the handler either
*replays* the entry at its index (the recorded entry must match what the code
does now, and its recorded result is used) or, once all known entries were
replayed, *writes* a new entry.

Some entries are *completable*: their result may come later, in a
CompletionMessage naming the entry index. A handle is the entry index. A run
entry is written with its result and REQUIRES_ACK; its result becomes
available when the runtime acks an index at or beyond it.

States and events (everything else is a 571 protocol violation)::

    WaitingStart          --StartMessage-->                 WaitingReplayEntries
    WaitingReplayEntries  --entry (the last known one)-->   Replaying
    Replaying             --syscall pops the last entry-->  Processing
    Replaying|Processing  --await, input closed, no result--> Suspended
    Processing            --sys_end-->                      Ended
    any but Ended/Suspended --error-->                      Failed (ErrorMessage, output closed)

Completions and acks are accepted from WaitingReplayEntries on, in any order
relative to the entries they complete, and ignored once the output closed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import ClassVar, Final

from google.protobuf.message import DecodeError, Message

from .._errors import INTERNAL, PROTOCOL_VIOLATION, SuspendedError, VMError
from .._values import (
    VOID,
    EntryRetryInfo,
    Executed,
    Failure,
    Header,
    Input,
    NonEmptyValue,
    NotExecuted,
    RetryableFailure,
    StateKeys,
    Success,
    Target,
    Value,
)
from ..headers import HeadersLike
from ..protocol import v2
from ..protocol._framing import COMPLETED, REQUIRES_ACK, RawMessage, encode_frame
from ..protocol._version import Version
from ..retries import RetryPolicy, delay_millis
from ._args import as_bytes, check_duration, check_failure, check_non_empty_value, check_str, check_target, utf8
from ._core import ENDED, SUSPENDED, CoreVM, Ended, Failed, Related, Suspended, logger, register_model
from ._eager import UNKNOWN, EagerState
from ._ids import awakeable_id, epoch_millis_after, sha256_random_seed
from ._mismatch import Comparison, field_mismatch, missing_entry, type_mismatch

__all__ = ["LegacyVM"]

_T = v2.MessageType
START: Final = int(_T.START)
COMPLETION: Final = int(_T.COMPLETION)
ENTRY_ACK: Final = int(_T.ENTRY_ACK)
END: Final = int(_T.END)
INPUT: Final = int(_T.INPUT_ENTRY)
OUTPUT: Final = int(_T.OUTPUT_ENTRY)
GET_STATE: Final = int(_T.GET_STATE_ENTRY)
SET_STATE: Final = int(_T.SET_STATE_ENTRY)
CLEAR_STATE: Final = int(_T.CLEAR_STATE_ENTRY)
CLEAR_ALL_STATE: Final = int(_T.CLEAR_ALL_STATE_ENTRY)
GET_STATE_KEYS: Final = int(_T.GET_STATE_KEYS_ENTRY)
GET_PROMISE: Final = int(_T.GET_PROMISE_ENTRY)
PEEK_PROMISE: Final = int(_T.PEEK_PROMISE_ENTRY)
COMPLETE_PROMISE: Final = int(_T.COMPLETE_PROMISE_ENTRY)
SLEEP: Final = int(_T.SLEEP_ENTRY)
CALL: Final = int(_T.CALL_ENTRY)
ONE_WAY_CALL: Final = int(_T.ONE_WAY_CALL_ENTRY)
AWAKEABLE: Final = int(_T.AWAKEABLE_ENTRY)
COMPLETE_AWAKEABLE: Final = int(_T.COMPLETE_AWAKEABLE_ENTRY)
RUN: Final = int(_T.RUN_ENTRY)
_CONTROL_MESSAGES_WE_SEND = frozenset({int(_T.SUSPENSION), int(_T.ERROR), END})

#: What each entry type is called in error messages.
_ENTRY_NAMES: Final = {
    INPUT: "the handler input",
    OUTPUT: "the handler output",
    GET_STATE: "get state",
    SET_STATE: "set state",
    CLEAR_STATE: "clear state",
    CLEAR_ALL_STATE: "clear all state",
    GET_STATE_KEYS: "get state keys",
    GET_PROMISE: "get promise",
    PEEK_PROMISE: "peek promise",
    COMPLETE_PROMISE: "complete promise",
    SLEEP: "sleep",
    CALL: "call",
    ONE_WAY_CALL: "one way call",
    AWAKEABLE: "awakeable",
    COMPLETE_AWAKEABLE: "complete awakeable",
    RUN: "run",
}

#: The fields that must be equal when an entry is replayed. Results are never
#: compared, nor a sleep's wake-up time or a send's invoke time.
_COMPARISONS: Final = {
    ty: Comparison(v2.MESSAGE_CLASSES[ty], fields)
    for ty, fields in {
        INPUT: (),
        OUTPUT: ("result", "name"),
        GET_STATE: ("key",),
        SET_STATE: ("key", "value", "name"),
        CLEAR_STATE: ("key", "name"),
        CLEAR_ALL_STATE: ("name",),
        GET_STATE_KEYS: (),
        GET_PROMISE: ("key", "name"),
        PEEK_PROMISE: ("key", "name"),
        COMPLETE_PROMISE: ("key", "completion", "name"),
        SLEEP: ("name",),
        CALL: ("service_name", "handler_name", "key", "headers", "parameter", "name"),
        ONE_WAY_CALL: ("service_name", "handler_name", "key", "headers", "parameter", "name"),
        AWAKEABLE: ("name",),
        COMPLETE_AWAKEABLE: ("id", "result", "name"),
        RUN: ("name",),
    }.items()
}

# How to read a completion's result for an entry.
_AS_VALUE: Final = 0
_AS_STATE_KEYS: Final = 1

_NO_ENTRY_INDEX: Final = 0xFFFFFFFF


def _entry_text(ty: int) -> str:
    name = _ENTRY_NAMES.get(ty)
    if name is None:
        return f"a custom entry (type 0x{ty:04X})"
    return f"'{name}' ({v2.MESSAGE_CLASSES[ty].__name__}, type 0x{ty:04X})"


# ---- states: each carries only its own data ----


class WaitingStart:
    __slots__ = ()
    name: ClassVar[str] = "WaitingStart"


class WaitingReplayEntries:
    __slots__ = ("entries",)
    name: ClassVar[str] = "WaitingReplayEntries"

    def __init__(self) -> None:
        self.entries: deque[RawMessage] = deque()


class Replaying:
    __slots__ = ("await_point", "entries")
    name: ClassVar[str] = "Replaying"

    def __init__(self, entries: deque[RawMessage]) -> None:
        self.entries = entries
        self.await_point: int | None = None


class Processing:
    __slots__ = ("await_point", "run")
    name: ClassVar[str] = "Processing"

    def __init__(self, await_point: int | None) -> None:
        #: The name of the run between sys_run_enter and sys_run_exit.
        self.run: str | None = None
        self.await_point = await_point


_WAITING_START = WaitingStart()


class _StartInfo:
    __slots__ = ("debug_id", "id", "key", "known_entries", "retry_count", "retry_duration_ms")

    def __init__(self, message: v2.StartMessage, version: Version) -> None:
        self.id: bytes = message.id
        self.debug_id: str = message.debug_id
        self.key: str = message.key
        self.known_entries: int = message.known_entries
        # Fields 7 and 8 exist from V2 on.
        v2_fields = version >= Version.V2
        self.retry_count: int = message.retry_count_since_last_stored_entry if v2_fields else 0
        self.retry_duration_ms: int = message.duration_since_last_stored_entry if v2_fields else 0


def _failure_value(failure: v2.Failure) -> Failure:
    # The protocol's codes are u16; larger values are truncated as the Rust core does.
    return Failure(failure.code & 0xFFFF, failure.message)


def _result_value(message: Message) -> Value | None:
    """The value of an entry's or completion's ``result`` oneof (``None`` when unset)."""
    which = message.WhichOneof("result")
    if which == "value":
        return Success(message.value)  # type: ignore[attr-defined]
    if which == "empty":
        return VOID
    if which == "failure":
        return _failure_value(message.failure)  # type: ignore[attr-defined]
    return None


def _state_keys(raw_keys: list[bytes]) -> StateKeys:
    try:
        keys = [key.decode("utf-8") for key in raw_keys]
    except UnicodeDecodeError as error:
        raise VMError(PROTOCOL_VIOLATION, f"Cannot decode state keys message: a key is not UTF-8 ({error})") from None
    keys.sort()
    return StateKeys(keys)


def _completion_value(completion: v2.CompletionMessage, read_as: int) -> Value:
    which = completion.WhichOneof("result")
    if read_as == _AS_STATE_KEYS:
        if which == "empty":
            raise VMError(PROTOCOL_VIOLATION, "Unexpected empty value variant for state keys")
        if which == "value":
            message = v2.GetStateKeysEntryMessage.StateKeys()
            try:
                message.ParseFromString(completion.value)
            except DecodeError as error:
                raise VMError(PROTOCOL_VIOLATION, f"Cannot decode state keys message: {error}") from None
            return _state_keys(list(message.keys))
    value = _result_value(completion)
    assert value is not None  # completions without a result are rejected on arrival
    return value


def _decode(cls: type[Message], body: bytes) -> Message:
    message = cls()
    try:
        message.ParseFromString(body)
    except DecodeError as error:
        raise VMError(INTERNAL, f"cannot decode protocol message type {cls.__name__}. Reason: {error}") from None
    return message


def _unexpected_state(state: object, event: str) -> VMError:
    return VMError(PROTOCOL_VIOLATION, f"Unexpected state {type(state).name} when invoking '{event}'")  # type: ignore[attr-defined]


class LegacyVM(CoreVM):
    """``CoreVM`` for protocol V1 and V2."""

    __slots__ = (
        "_entry_name",
        "_entry_type",
        "_index",
        "_last_acked",
        "_pending",
        "_ready",
        "_start",
        "_waiting_ack",
    )

    def __init__(self, request_headers: HeadersLike, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(request_headers, clock=clock)
        self._state: object = _WAITING_START
        self._start: _StartInfo | None = None
        # The journal position: the last entry created (-1: none yet).
        self._index = -1
        self._entry_type = 0
        self._entry_name = ""
        # Results by entry index, ready to be taken.
        self._ready: dict[int, Value] = {}
        # Per entry index: a completion that arrived before its entry was read,
        # or how to read the completion an entry still waits for.
        self._pending: dict[int, v2.CompletionMessage | int] = {}
        # Run results wait here, in index order, until the runtime acks them.
        self._last_acked = 0
        self._waiting_ack: deque[tuple[int, Value]] = deque()

    # ---- errors ----

    def _error_frame(self, error: VMError, next_retry_delay: timedelta | None, related: Related) -> bytes:
        # V1/V2 always name the current entry, whatever ``related`` says.
        message = v2.ErrorMessage(
            code=error.code,
            message=error.message,
            description=error.description,
            related_entry_index=self._index if self._index >= 0 else _NO_ENTRY_INDEX,
            related_entry_name=self._entry_name,
            related_entry_type=self._entry_type,
        )
        if next_retry_delay is not None and self._version >= Version.V2:
            message.next_retry_delay = delay_millis(next_retry_delay)
        return encode_frame(v2.MessageType.ERROR, message.SerializeToString())

    def _state_error(self, event: str) -> VMError:
        state = self._state
        if state.__class__ is Failed:
            return state.error  # type: ignore[attr-defined,no-any-return]
        return _unexpected_state(state, event)


    # ---- input ----

    def _on_message(self, message_type: int, flags: int, body: bytes) -> None:
        state = self._state
        if message_type & 0xFC00:  # a journal entry, known or custom
            if state.__class__ is WaitingReplayEntries:
                entries = state.entries  # type: ignore[attr-defined]
                entries.append(RawMessage(message_type, flags, body))
                if len(entries) == self._start.known_entries:  # type: ignore[union-attr]
                    self._set_state(Replaying(entries))
                return
            raise VMError(PROTOCOL_VIOLATION, "Expected entry messages only when waiting replay entries")
        if message_type == COMPLETION:
            if state.__class__ is Ended or state.__class__ is Suspended:
                return
            if state.__class__ is WaitingStart:
                raise _unexpected_state(state, "CompletionMessage")
            completion: v2.CompletionMessage = _decode(v2.CompletionMessage, body)  # type: ignore[assignment]
            if completion.WhichOneof("result") is None:
                raise VMError(PROTOCOL_VIOLATION, "The completion message MUST contain a result")
            self._on_completion(completion)
        elif message_type == ENTRY_ACK:
            if state.__class__ is Ended or state.__class__ is Suspended:
                return
            if state.__class__ is WaitingStart:
                raise _unexpected_state(state, "EntryAckMessage")
            ack: v2.EntryAckMessage = _decode(v2.EntryAckMessage, body)  # type: ignore[assignment]
            self._notify_ack(ack.entry_index)
        elif message_type == START:
            if state.__class__ is not WaitingStart:
                raise VMError(PROTOCOL_VIOLATION, f"Unexpected StartMessage in state {type(state).name}")  # type: ignore[attr-defined]
            self._on_start(_decode(v2.StartMessage, body))  # type: ignore[arg-type]
        elif message_type in _CONTROL_MESSAGES_WE_SEND:
            raise VMError(PROTOCOL_VIOLATION, "Expected input message to be entry")
        else:
            raise VMError(INTERNAL, f"unknown protocol.message code 0x{message_type:04X}")

    def _on_start(self, start: v2.StartMessage) -> None:
        values: dict[str, bytes | None] = {}
        for entry in start.state_map:
            try:
                values[entry.key.decode("utf-8")] = entry.value
            except UnicodeDecodeError as error:
                raise VMError(INTERNAL, f"Cannot convert a eager state key into UTF-8 String: {error}") from None
        self._eager = EagerState(values, start.partial_state)
        self._start = _StartInfo(start, self._version)
        if start.known_entries == 0:
            raise VMError(INTERNAL, "Known entries is zero, expected >= 1")
        if self._debug:
            logger.debug(
                "start: invocation %s, %d known entries, %d eager state entries (partial: %s)",
                start.debug_id,
                start.known_entries,
                len(values),
                start.partial_state,
            )
        self._set_state(WaitingReplayEntries())

    def _on_completion(self, completion: v2.CompletionMessage) -> None:
        index = completion.entry_index
        pending = self._pending.get(index)
        if pending is None:
            self._pending[index] = completion
        elif pending.__class__ is int:
            del self._pending[index]
            self._ready[index] = _completion_value(completion, pending)  # type: ignore[arg-type]
        elif self._debug:
            # A second completion for an entry not read yet: the first one stands.
            logger.debug("ignoring a duplicate completion for entry %d", index)

    def _expect_completion(self, index: int, read_as: int) -> None:
        pending = self._pending.get(index)
        if pending is None:
            self._pending[index] = read_as
        elif pending.__class__ is not int:
            del self._pending[index]
            self._ready[index] = _completion_value(pending, read_as)  # type: ignore[arg-type]

    def _notify_ack(self, index: int) -> None:
        if index <= self._last_acked:
            return
        self._last_acked = index
        waiting = self._waiting_ack
        while waiting and waiting[0][0] <= index:
            acked, value = waiting.popleft()
            self._ready[acked] = value

    def _on_input_closed(self) -> None:
        state = self._state
        cls = state.__class__
        if cls is Processing or cls is Replaying:
            point = state.await_point  # type: ignore[attr-defined]
            if point is not None and point not in self._ready:
                self._suspend(point)
        elif cls is WaitingStart or cls is WaitingReplayEntries:
            raise VMError(
                PROTOCOL_VIOLATION, "The input was closed while still waiting to receive all the `known_entries`"
            )

    def _suspend(self, index: int) -> None:
        if self._debug:
            logger.debug("suspending, waiting for entry %d", index)
        self._write(encode_frame(v2.MessageType.SUSPENSION, v2.SuspensionMessage(entry_indexes=[index]).SerializeToString()))
        self._close_output()
        self._set_state(SUSPENDED)

    # ---- the journal ----

    def _journal(self, ty: int, expected: Message, event: str, flags: int = 0) -> Message:
        """Advance the journal by one entry: write ``expected`` or replay the recorded entry.

        Returns the entry that now stands in the journal.
        """
        self._index += 1
        self._entry_type = ty
        self._entry_name = expected.name  # type: ignore[attr-defined]
        state = self._state
        if state.__class__ is Processing:
            if state.run is not None:  # type: ignore[attr-defined]
                raise VMError(INTERNAL, "A syscall was invoked from within a run operation")
            self._write(encode_frame(ty, expected.SerializeToString(), flags))
            return expected
        if state.__class__ is Replaying:
            return self._replay(state, ty, expected)  # type: ignore[arg-type]
        raise self._state_error(event)

    def _replay(self, state: Replaying, ty: int, expected: Message) -> Message:
        index = self._index
        entries = state.entries
        if not entries:
            raise missing_entry(f"entry {index}", _entry_text(ty))
        recorded_type, _, body = entries.popleft()
        if not entries:
            # Every replayed entry counts as acked; new entries are written from now on.
            self._notify_ack(index)
            processing = Processing(state.await_point)
            self._set_state(processing)
        if recorded_type != ty:
            raise type_mismatch(f"entry {index}", _entry_text(recorded_type), _entry_text(ty))
        recorded = _decode(v2.MESSAGE_CLASSES[ty], body)
        comparison = _COMPARISONS[ty]
        if not comparison.matches(recorded, expected):
            raise field_mismatch(f"entry {index}", _ENTRY_NAMES[ty], comparison, recorded, expected)
        if self._debug:
            logger.debug("replayed entry %d: %s", index, _ENTRY_NAMES[ty])
        return recorded

    def _completable(self, ty: int, expected: Message, event: str, read_as: int = _AS_VALUE, flags: int = 0) -> int:
        entry = self._journal(ty, expected, event, flags)
        index = self._index
        if entry.WhichOneof("result") is None:
            self._expect_completion(index, read_as)
        elif read_as == _AS_STATE_KEYS:
            if entry.WhichOneof("result") == "value":
                self._ready[index] = _state_keys(list(entry.value.keys))  # type: ignore[attr-defined]
            else:
                self._ready[index] = _failure_value(entry.failure)  # type: ignore[attr-defined]
        else:
            self._ready[index] = _result_value(entry)  # type: ignore[assignment]
        return index

    # ---- execution ----

    def is_ready_to_execute(self) -> bool:
        cls = self._state.__class__
        if cls is Processing or cls is Replaying:
            return True
        if cls is WaitingStart or cls is WaitingReplayEntries:
            return False
        raise self._state_error("is_ready_to_execute")

    def notify_await_point(self, handle: int) -> None:
        state = self._state
        if state.__class__ is Failed:
            return
        try:
            if state.__class__ is not Processing and state.__class__ is not Replaying:
                raise self._state_error("notify_await_point")
            point = state.await_point  # type: ignore[attr-defined]
            if point is not None and point != handle:
                raise VMError(INTERNAL, f"Trying to await two async results at the same time: {point} and {handle}")
            if self._input_closed and handle not in self._ready:
                self._suspend(handle)
            else:
                state.await_point = handle  # type: ignore[attr-defined]
        except VMError as error:
            self._fail(error)

    def take_async_result(self, handle: int) -> Value | None:
        state = self._state
        if state.__class__ is Processing or state.__class__ is Replaying:
            value = self._ready.pop(handle, None)
            if value is not None and state.await_point == handle:  # type: ignore[attr-defined]
                state.await_point = None  # type: ignore[attr-defined]
            return value
        if state.__class__ is Suspended:
            raise SuspendedError()
        raise self._fail(self._state_error("take_async_result"))

    def sys_input(self) -> Input:
        try:
            state = self._state
            # As every syscall, advance the journal first, so that an error names the would-be entry.
            self._index += 1
            self._entry_type = INPUT
            self._entry_name = ""
            if state.__class__ is Processing and state.run is not None:
                raise VMError(INTERNAL, "A syscall was invoked from within a run operation")
            if state.__class__ is not Replaying:
                raise self._state_error("sys_input")
            entry: v2.InputEntryMessage = self._replay(state, INPUT, v2.InputEntryMessage())  # type: ignore[arg-type,assignment]
            start = self._start
            assert start is not None
            return Input(
                invocation_id=start.debug_id,
                random_seed=sha256_random_seed(start.id),
                key=start.key,
                headers=[Header(header.key, header.value) for header in entry.headers],
                input=entry.value,
            )
        except VMError as error:
            raise self._fail(error) from None

    def sys_state_get(self, key: str) -> int:
        try:
            entry = v2.GetStateEntryMessage(key=utf8(key, "key"))
            known = self._eager.get(key)
            flags = 0
            if known is not UNKNOWN:
                flags = COMPLETED
                if known is None:
                    entry.empty.SetInParent()
                else:
                    entry.value = known  # type: ignore[assignment]
            return self._completable(GET_STATE, entry, "sys_state_get", _AS_VALUE, flags)
        except VMError as error:
            raise self._fail(error) from None

    def sys_state_get_keys(self) -> int:
        try:
            entry = v2.GetStateKeysEntryMessage()
            keys = self._eager.keys()
            flags = 0
            if keys is not None:
                flags = COMPLETED
                entry.value.keys.extend(key.encode() for key in keys)
            return self._completable(GET_STATE_KEYS, entry, "sys_state_get_keys", _AS_STATE_KEYS, flags)
        except VMError as error:
            raise self._fail(error) from None

    def sys_state_set(self, key: str, value: bytes) -> None:
        try:
            entry = v2.SetStateEntryMessage(key=utf8(key, "key"), value=as_bytes(value, "value"))
            if self._state.__class__ is not Failed:
                self._eager.set(key, entry.value)
            self._journal(SET_STATE, entry, "sys_state_set")
        except VMError as error:
            raise self._fail(error) from None

    def sys_state_clear(self, key: str) -> None:
        try:
            entry = v2.ClearStateEntryMessage(key=utf8(key, "key"))
            if self._state.__class__ is not Failed:
                self._eager.clear(key)
            self._journal(CLEAR_STATE, entry, "sys_state_clear")
        except VMError as error:
            raise self._fail(error) from None

    def sys_state_clear_all(self) -> None:
        try:
            if self._state.__class__ is not Failed:
                self._eager.clear_all()
            self._journal(CLEAR_ALL_STATE, v2.ClearAllStateEntryMessage(), "sys_state_clear_all")
        except VMError as error:
            raise self._fail(error) from None

    def sys_sleep(self, duration: timedelta) -> int:
        try:
            wake_up_time = epoch_millis_after(self._clock, check_duration(duration, "duration"))
            return self._completable(SLEEP, v2.SleepEntryMessage(wake_up_time=wake_up_time), "sys_sleep")
        except VMError as error:
            raise self._fail(error) from None

    def sys_call(self, target: Target, input: bytes) -> int:
        try:
            check_target(target)
            entry = v2.CallEntryMessage(
                service_name=target.service,
                handler_name=target.handler,
                parameter=as_bytes(input, "input"),
                key=target.key or "",
            )
            return self._completable(CALL, entry, "sys_call")
        except VMError as error:
            raise self._fail(error) from None

    def sys_send(self, target: Target, input: bytes, delay: timedelta | None = None) -> None:
        try:
            check_target(target)
            invoke_time = 0 if delay is None else epoch_millis_after(self._clock, check_duration(delay, "delay"))
            entry = v2.OneWayCallEntryMessage(
                service_name=target.service,
                handler_name=target.handler,
                parameter=as_bytes(input, "input"),
                invoke_time=invoke_time,
                key=target.key or "",
            )
            self._journal(ONE_WAY_CALL, entry, "sys_send")
        except VMError as error:
            raise self._fail(error) from None

    def sys_awakeable(self) -> tuple[str, int]:
        try:
            index = self._completable(AWAKEABLE, v2.AwakeableEntryMessage(), "sys_awakeable")
            start = self._start
            assert start is not None
            return awakeable_id("prom_1", start.id, index), index
        except VMError as error:
            raise self._fail(error) from None

    def sys_complete_awakeable(self, awakeable_id: str, value: NonEmptyValue) -> None:
        try:
            entry = v2.CompleteAwakeableEntryMessage(id=check_str(awakeable_id, "awakeable_id"))
            _set_result(entry, check_non_empty_value(value, "value"), "value", "failure")
            self._journal(COMPLETE_AWAKEABLE, entry, "sys_complete_awakeable")
        except VMError as error:
            raise self._fail(error) from None

    def sys_get_promise(self, key: str) -> int:
        try:
            entry = v2.GetPromiseEntryMessage(key=check_str(key, "key"))
            return self._completable(GET_PROMISE, entry, "sys_get_promise")
        except VMError as error:
            raise self._fail(error) from None

    def sys_peek_promise(self, key: str) -> int:
        try:
            entry = v2.PeekPromiseEntryMessage(key=check_str(key, "key"))
            return self._completable(PEEK_PROMISE, entry, "sys_peek_promise")
        except VMError as error:
            raise self._fail(error) from None

    def sys_complete_promise(self, key: str, value: NonEmptyValue) -> int:
        try:
            entry = v2.CompletePromiseEntryMessage(key=check_str(key, "key"))
            _set_result(entry, check_non_empty_value(value, "value"), "completion_value", "completion_failure")
            return self._completable(COMPLETE_PROMISE, entry, "sys_complete_promise")
        except VMError as error:
            raise self._fail(error) from None

    def sys_run_enter(self, name: str) -> Executed | NotExecuted:
        try:
            expected = v2.RunEntryMessage(name=check_str(name, "name"))
            state = self._state
            if state.__class__ is Processing:
                self._index += 1
                self._entry_type = RUN
                self._entry_name = name
                if state.run is not None:  # type: ignore[attr-defined]
                    raise VMError(INTERNAL, "A syscall was invoked from within a run operation")
                state.run = name  # type: ignore[attr-defined]
                return NotExecuted(self._retry_info())
            entry = self._journal(RUN, expected, "sys_run_enter")
            value = _result_value(entry)
            if value is None:
                raise VMError(PROTOCOL_VIOLATION, "Expected RunEntryMessage to contain a result")
            return Executed(value)  # type: ignore[arg-type]
        except VMError as error:
            raise self._fail(error) from None

    def _retry_info(self) -> EntryRetryInfo:
        """Retries so far of the current entry: the StartMessage's counters apply to
        the first entry after the replayed ones only."""
        start = self._start
        assert start is not None
        if self._index != start.known_entries or start.retry_count == 0:
            return EntryRetryInfo()
        return EntryRetryInfo(start.retry_count, timedelta(milliseconds=start.retry_duration_ms))

    def sys_run_exit(self, result: Success | Failure | RetryableFailure, retry_policy: RetryPolicy) -> int:
        try:
            state = self._state
            if state.__class__ is not Processing:
                raise self._state_error("sys_run_exit")
            name = state.run  # type: ignore[attr-defined]
            if name is None:
                raise VMError(INTERNAL, "Invoked sys_run_exit without invoking sys_run_enter before")
            if not isinstance(retry_policy, RetryPolicy):
                raise TypeError(f"retry_policy must be a RetryPolicy, not {type(retry_policy).__name__}")
            value: Success | Failure
            if result.__class__ is RetryableFailure:
                failure = check_failure(result.failure)  # type: ignore[union-attr]
                value = self._after_retryable_failure(failure, result.attempt_duration, retry_policy)  # type: ignore[union-attr]
            else:
                value = check_non_empty_value(result, "result")  # type: ignore[arg-type]
            state.run = None  # type: ignore[attr-defined]
            index = self._index
            entry = v2.RunEntryMessage(name=name)
            _set_result(entry, value, "value", "failure")
            if index <= self._last_acked:
                self._ready[index] = value
            else:
                self._waiting_ack.append((index, value))
            self._write(encode_frame(RUN, entry.SerializeToString(), REQUIRES_ACK))
            return index
        except VMError as error:
            raise self._fail(error) from None

    def _after_retryable_failure(self, failure: Failure, attempt: timedelta, policy: RetryPolicy) -> Failure:
        """The run's terminal failure if the policy gives up; otherwise fail the attempt."""
        check_duration(attempt, "attempt_duration")
        info = self._retry_info()
        decision = policy.decide(EntryRetryInfo(info.retry_count + 1, info.retry_loop_duration + attempt))
        if decision.retry:
            raise self._fail(VMError(failure.code, failure.message), decision.delay)
        return failure

    def sys_write_output(self, value: NonEmptyValue) -> None:
        try:
            entry = v2.OutputEntryMessage()
            _set_result(entry, check_non_empty_value(value, "value"), "value", "failure")
            self._journal(OUTPUT, entry, "sys_write_output")
        except VMError as error:
            raise self._fail(error) from None

    def sys_end(self) -> None:
        try:
            state = self._state
            if state.__class__ is Processing:
                self._write(encode_frame(END, b""))
                self._close_output()
                self._set_state(ENDED)
            elif state.__class__ is not Ended and state.__class__ is not Suspended:
                raise self._state_error("sys_end")
        except VMError as error:
            raise self._fail(error) from None


def _set_result(entry: Message, value: Success | Failure, value_field: str, failure_field: str) -> None:
    if value.__class__ is Success:
        setattr(entry, value_field, as_bytes(value.value, "Success.value"))  # type: ignore[union-attr]
    else:
        failure = getattr(entry, failure_field)
        failure.code = value.code  # type: ignore[union-attr]
        failure.message = value.message  # type: ignore[union-attr]


register_model(LegacyVM, Version.V1, Version.V2)
