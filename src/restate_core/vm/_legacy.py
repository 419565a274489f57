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

import re
import struct
from collections import deque
from datetime import timedelta
from itertools import islice
from typing import Any, ClassVar, Final

from google.protobuf.message import Message

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
    _object_new,
    _set_executed_value,
    _set_success_value,
    new_executed,
    new_input,
    new_success,
)
from ..protocol import _wire as wire
from ..protocol import v2
from ..protocol._framing import COMPLETED, HEADER, HEADER_SIZE, REQUIRES_ACK, SMALL_BODY, encode_frame, header_table
from ..protocol._start_view import START_VIEW_V2
from ..protocol._version import Version
from ..protocol._wire import read_varint
from ..retries import RetryPolicy, delay_millis
from ._args import (
    as_bytes,
    bad_target,
    check_duration,
    check_failure,
    check_handle,
    check_non_empty_value,
    check_str,
    check_target,
    utf8,
)
from ._core import (
    ENDED,
    PARSE_ERRORS,
    RELEASED_FRAME,
    SUSPENDED,
    WAITING_START,
    CoreVM,
    Ended,
    Failed,
    Related,
    Suspended,
    WaitingStart,
    _unpack_length_from,
    decode_body,
    failure_from,
    first_bytes,
    input_headers,
    logger,
    register_model,
    unexpected_state,
)
from ._eager import UNKNOWN
from ._ids import awakeable_id, epoch_millis_after, sha256_random_seed
from ._mismatch import Comparison, field_mismatch, type_mismatch

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
_pack_header = HEADER.pack
_END_FRAME: Final = encode_frame(END, b"")
_CALL_HEADERS: Final = header_table(CALL)
_EMPTY_INPUT_FRAME: Final = encode_frame(INPUT, b"")
_INPUT_TYPE_HIGH: Final = INPUT >> 8
_INPUT_TYPE_LOW: Final = INPUT & 0xFF
_CLEAR_ALL_STATE_FRAME: Final = encode_frame(CLEAR_ALL_STATE, b"")
_AWAKEABLE_FRAME: Final = encode_frame(AWAKEABLE, b"")
_GET: Final = "sys_state_get"
# Immutable, so one instance serves every run that was not retried before.
_FIRST_TRY: Final = EntryRetryInfo()
_NOT_EXECUTED_FIRST_TRY: Final = NotExecuted(_FIRST_TRY)
_RUN: Final = "sys_run_enter"
_SLEEP: Final = "sys_sleep"
_CALL: Final = "sys_call"
_ZERO: Final = timedelta(0)
# The first header byte of a message that is not a journal entry.
_NOT_AN_ENTRY: Final = re.compile(rb"[\x00-\x03]")
#: By the first byte of a frame's header: 1 for a journal entry (types 0x0400-0xFFFF, custom ones too).
_ENTRY_HEADS: Final = bytes(head >= 0x04 for head in range(256))
_RUN_HIGH: Final = RUN >> 8
_RUN_LOW: Final = RUN & 0xFF
#: A frame's first two bytes and its length (a control message: the first byte is 0).
_CONTROL_HEADER: Final = struct.Struct(">BBxxI").unpack_from
#: The first four bytes of a body.
_FOUR_BYTES: Final = struct.Struct(">BBBB").unpack_from


def _entry_text(ty: int) -> str:
    name = _ENTRY_NAMES.get(ty)
    if name is None:
        return f"a custom entry (type 0x{ty:04X})"
    return f"'{name}' ({v2.MESSAGE_CLASSES[ty].__name__}, type 0x{ty:04X})"


# ---- states: each carries only its own data ----


class WaitingReplayEntries:
    __slots__ = ("entries",)
    name: ClassVar[str] = "WaitingReplayEntries"

    def __init__(self, entries: deque[bytes]) -> None:
        #: Recorded entries, as whole frames (header included).
        self.entries = entries


class Replaying:
    __slots__ = ("await_point", "entries")
    name: ClassVar[str] = "Replaying"

    def __init__(self, entries: deque[bytes]) -> None:
        self.entries = entries
        self.await_point: int | None = None


class Processing:
    __slots__ = ("await_point", "run")
    name: ClassVar[str] = "Processing"

    def __init__(self, await_point: int | None) -> None:
        #: The name of the run between sys_run_enter and sys_run_exit.
        self.run: str | None = None
        self.await_point = await_point


#: A run's name as the entry's field 12, by name (the few names a service uses; bounded).
_RUN_NAMES: dict[str, bytes] = {}


def _run_name(name: str) -> bytes:
    """``name`` as a RunEntryMessage's name field (nothing for ""), remembered."""
    field = wire.bytes_field(b"\x62", name.encode()) if name else b""
    if len(_RUN_NAMES) >= 1024:
        _RUN_NAMES.clear()
    _RUN_NAMES[name] = field
    return field


def _result_value(message: Message) -> Value | None:
    """The value of an entry's or completion's ``result`` oneof (``None`` when unset)."""
    which = message.WhichOneof("result")
    if which == "value":
        return Success(message.value)  # type: ignore[attr-defined]
    if which == "empty":
        return VOID
    if which == "failure":
        return failure_from(message.failure)  # type: ignore[attr-defined]
    return None


def _result_suffix(frame: bytes, start: int, end: int = -1) -> Value | None:
    """The value of the single ``result`` field (empty 13, value 14, failure 15) that fills
    ``frame[start:end]`` (``end``: the frame's end by default), or ``None`` if that is anything
    else (the caller decodes it). Nothing past ``end`` is taken in: a length that runs over it
    makes the shape unusual."""
    if end < 0:
        end = len(frame)
    if end - start < 2:
        return None
    tag = frame[start]
    size = frame[start + 1]
    body = start + 2
    if size >= 0x80:
        size, body = read_varint(frame, start + 1)
    if body + size != end or size < 0:
        return None
    if tag == 0x72:  # 14: value
        return new_success(frame[body:end])
    if tag == 0x6A and size == 0:  # 13: empty
        return VOID
    if tag == 0x7A:  # 15: failure
        failure = v2.Failure()
        try:
            failure.ParseFromString(frame[body:end])
        except PARSE_ERRORS:
            return None
        return failure_from(failure)
    return None


def _state_keys(raw_keys: list[bytes]) -> StateKeys:
    try:
        keys = [key.decode("utf-8") for key in raw_keys]
    except UnicodeDecodeError as error:
        raise VMError(PROTOCOL_VIOLATION, f"Cannot decode state keys message: a key is not UTF-8 ({error})") from None
    keys.sort()
    return StateKeys(keys)


def _completion_at(data: bytes, start: int, end: int) -> tuple[int, Value] | None:
    """The usual CompletionMessage shapes, read without protobuf from the body ``data[start:end]``
    (which may lie inside a larger chunk): ``{entry_index: 1}`` and one result field. ``None`` for
    anything else."""
    if end - start < 4 or data[start] != 0x08:
        return None
    index = data[start + 1]
    position = start + 2
    if index >= 0x80:
        index, position = read_varint(data, start + 1)
        if not 0 <= index <= 0xFFFFFFFF or position + 2 > end:
            return None
    size = data[position + 1]
    if size < 0x80 and position + 2 + size == end:  # one-byte lengths
        tag = data[position]
        if tag == 0x72:  # 14: value
            return index, new_success(data[position + 2 : end])
        if tag == 0x6A and not size:  # 13: empty
            return index, VOID
    value = _result_suffix(data, position, end)
    return None if value is None else (index, value)


def _completion(body: bytes) -> tuple[int, Value]:
    """A CompletionMessage: the entry index and its result, read as a plain value."""
    usual = _completion_at(body, 0, len(body))
    if usual is not None:
        return usual
    completion: v2.CompletionMessage = _decode(v2.CompletionMessage, body)  # type: ignore[assignment]
    value = _result_value(completion)
    if value is None:
        raise VMError(PROTOCOL_VIOLATION, "The completion message MUST contain a result")
    return completion.entry_index, value


def _read_completion(result: Value, read_as: int) -> Value:
    """A completion's result as the entry it completes reads it (state keys are a nested message)."""
    if read_as == _AS_STATE_KEYS:
        if result is VOID:
            raise VMError(PROTOCOL_VIOLATION, "Unexpected empty value variant for state keys")
        if result.__class__ is Success:
            message = v2.GetStateKeysEntryMessage.StateKeys()
            try:
                message.ParseFromString(result.value)
            except PARSE_ERRORS as error:
                raise VMError(PROTOCOL_VIOLATION, f"Cannot decode state keys message: {error}") from None
            return _state_keys(list(message.keys))
    return result


def _decode(cls: type[Message], body: bytes) -> Message:
    return decode_body(cls, body, INTERNAL)  # V1/V2: 500, as the protocol's original core


class LegacyVM(CoreVM):
    """``CoreVM`` for protocol V1 and V2."""

    __slots__ = (
        "_entry_name",
        "_entry_type",
        "_index",
        "_last_acked",
        "_pending",
        "_ready",
        "_waiting_ack",
    )

    _START_VIEW = START_VIEW_V2
    _START_MESSAGE = v2.StartMessage
    _START_ERROR = INTERNAL  # (500, as the protocol's original core)

    def _setup(self) -> None:
        self._state: object = WAITING_START
        # The journal position: the last entry created (-1: none yet).
        self._index = -1
        self._entry_type = 0
        self._entry_name = ""
        # Results by entry index, ready to be taken.
        self._ready: dict[int, Value] = {}
        # Per entry index: the result of a completion that arrived before its entry
        # was read, or how to read the completion an entry still waits for (an int).
        self._pending: dict[int, Value | int] = {}
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
            return state.error
        return unexpected_state(state, event)

    # ---- input ----

    def _read_in_place(self, buffer: bytes) -> int:
        # Completions and acks, read where they lie in the chunk (the usual input while the
        # handler runs or replays), up to the first frame that is anything else. (Neither
        # changes the state.)
        if self._state.__class__ is not Processing and self._state.__class__ is not Replaying:
            if self._state.__class__ is WaitingReplayEntries:
                return self._replay_chunk(self._state.entries, buffer)
            return 0
        size = len(buffer)
        limit = self._decoder._max
        pending = self._pending
        ready = self._ready
        offset = 0
        while offset + HEADER_SIZE <= size:
            high, kind, length = _CONTROL_HEADER(buffer, offset)
            end = offset + HEADER_SIZE + length
            if high or end > size or length > limit:
                break
            if kind == COMPLETION:
                value: Value
                field = 0
                if length >= 4:
                    field, index, tag, inner = _FOUR_BYTES(buffer, offset + HEADER_SIZE)
                # {entry_index: 1} in one byte, then the result with a one-byte length (a length
                # byte of 0x80 or more never equals length - 4: it starts a longer varint).
                if field == 0x08 and index < 0x80 and inner == length - 4 and tag == 0x72:  # 14: value
                    value = _object_new(Success)  # new_success, inlined
                    _set_success_value(value, buffer[offset + 12 : end])
                elif field == 0x08 and index < 0x80 and length == 4 and tag == 0x6A and not inner:  # 13: empty
                    value = VOID
                else:
                    index, value = _completion_at(buffer, offset + HEADER_SIZE, end) or _completion(
                        buffer[offset + HEADER_SIZE : end]
                    )
                if pending.get(index) == _AS_VALUE:  # awaited as it is: _on_completion's usual case
                    del pending[index]
                    ready[index] = value
                else:
                    self._on_completion(index, value)
            elif kind == ENTRY_ACK and length == 2 and buffer[end - 2] == 0x08 and buffer[end - 1] < 0x80:
                self._notify_ack(buffer[end - 1])
            else:
                break
            offset = end
        return offset

    def _replay_chunk(self, entries: deque[bytes], buffer: bytes) -> int:
        # The journal entries that begin a chunk, sliced into the replay queue. A runtime in
        # request-response mode sends one a chunk: such a chunk is taken as it is.
        size = len(buffer)
        if size < HEADER_SIZE:
            return 0
        if size == HEADER_SIZE + _unpack_length_from(buffer, 4)[0]:
            if not buffer[0] & 0xFC or size - HEADER_SIZE > self._decoder._max:
                return 0  # (not an entry: types 0x0400 and up)
            entries.append(buffer)
            offset = size
        else:
            offset = self._take_frames(buffer, 0, _ENTRY_HEADS, self._known - len(entries), entries.append)[0]
        if len(entries) == self._known:
            self._set_state(Replaying(entries))
        return offset

    def _on_frames(self, frames: list[bytes]) -> None:
        position = 0
        count = len(frames)
        heads = b""
        while position < count:
            state = self._state
            frame = frames[position]
            if frame[0] & 0xFC and state.__class__ is WaitingReplayEntries:
                # A journal entry to replay (type & 0xFC00: known or custom), the bulk of most inputs.
                entries = state.entries
                end = position + 1
                wanted = self._known - len(entries)
                if wanted > 1 and end < count and frames[end][0] & 0xFC:
                    # Two or more in a row: find where the run of entries ends at C speed.
                    if not heads:
                        heads = first_bytes(frames)
                    stop = min(count, position + wanted)
                    other = _NOT_AN_ENTRY.search(heads, end + 1, stop)
                    end = stop if other is None else other.start()
                    entries.extend(islice(frames, position, end) if end - position < count else frames)
                else:
                    entries.append(frame)
                position = end
                if len(entries) == self._known:
                    self._set_state(Replaying(entries))
            else:
                position += 1
                if not frame[0] and (state.__class__ is Processing or state.__class__ is Replaying):
                    # While the handler runs, the usual messages: a completion, or an ack
                    # ({entry_index: 1} with an index under 128).
                    if frame[1] == COMPLETION:
                        self._on_completion(*_completion(frame[HEADER_SIZE:]))
                        continue
                    if frame[1] == ENTRY_ACK and len(frame) == 10 and frame[8] == 0x08 and frame[9] < 0x80:
                        self._notify_ack(frame[9])
                        continue
                self._on_message(frame)
                if state.__class__ is WaitingStart:
                    # The StartMessage, now decoded: let its frame (the eager state) go before
                    # the journal behind it is taken in.
                    frames[position - 1] = RELEASED_FRAME

    def _journal_in_place(self, buffer: bytes, offset: int) -> int:
        # Whole journal entries, sliced straight from the chunk; anything else and what follows
        # it go through the decoder.
        entries: deque[bytes] = deque()
        taken = 0
        if offset < len(buffer):
            offset, taken = self._take_frames(buffer, offset, _ENTRY_HEADS, self._known, entries.append)
        state = Replaying(entries) if taken == self._known else WaitingReplayEntries(entries)
        if self._debug:
            self._set_state(state)
        else:
            self._state = state
        return offset

    def _on_message(self, frame: bytes) -> None:
        """Any message but a journal entry to replay (whole frame)."""
        message_type = (frame[0] << 8) | frame[1]
        body = frame[HEADER_SIZE:] if message_type != START else b""  # the StartMessage is read from the frame
        state = self._state
        if message_type & 0xFC00:  # a journal entry, known or custom, while not waiting for them
            raise VMError(PROTOCOL_VIOLATION, "Expected entry messages only when waiting replay entries")
        if message_type == COMPLETION:
            if state.__class__ is Ended or state.__class__ is Suspended:
                return
            if state.__class__ is WaitingStart:
                raise unexpected_state(state, "CompletionMessage")
            self._on_completion(*_completion(body))
        elif message_type == ENTRY_ACK:
            if state.__class__ is Ended or state.__class__ is Suspended:
                return
            if state.__class__ is WaitingStart:
                raise unexpected_state(state, "EntryAckMessage")
            # The usual {entry_index: 1}, read without protobuf.
            if len(body) == 2 and body[0] == 0x08 and body[1] < 0x80:
                index, end = body[1], 2
            else:
                index, end = read_varint(body, 1) if body and body[0] == 0x08 else (-1, 0)
            if end == len(body) and 0 <= index <= 0xFFFFFFFF:
                self._notify_ack(index)
            else:
                ack: v2.EntryAckMessage = _decode(v2.EntryAckMessage, body)  # type: ignore[assignment]
                self._notify_ack(ack.entry_index)
        elif message_type == START:
            if state.__class__ is not WaitingStart:
                raise VMError(PROTOCOL_VIOLATION, f"Unexpected StartMessage in state {type(state).name}")  # type: ignore[attr-defined]
            self._on_start(frame, len(frame))
            self._set_state(WaitingReplayEntries(deque()))
        elif message_type in _CONTROL_MESSAGES_WE_SEND:
            raise VMError(PROTOCOL_VIOLATION, "Expected input message to be entry")
        else:
            raise VMError(INTERNAL, f"unknown protocol.message code 0x{message_type:04X}")

    def _on_completion(self, index: int, result: Value) -> None:
        # (_read_in_place files inline a completion awaited as a plain value: the _AS_VALUE case below.)
        pending = self._pending.get(index)
        if pending is None:
            self._pending[index] = result
        elif pending.__class__ is int:
            del self._pending[index]
            self._ready[index] = result if pending == _AS_VALUE else _read_completion(result, pending)
        elif self._debug:
            # A second completion for an entry not read yet: the first one stands.
            logger.debug("ignoring a duplicate completion for entry %d", index)

    def _expect_completion(self, index: int, read_as: int) -> None:
        pending = self._pending.get(index)
        if pending is None:
            self._pending[index] = read_as
        elif pending.__class__ is not int:
            del self._pending[index]
            self._ready[index] = _read_completion(pending, read_as)  # type: ignore[arg-type]

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
        if not 0 <= index <= self._index:  # (an entry index: no suspension can name it)
            raise VMError(INTERNAL, f"Awaiting handle {index}, which was never created")
        if self._debug:
            logger.debug("suspending, waiting for entry %d", index)
        self._write(wire.v2_suspension_frame([index]))
        self._close_output()
        self._set_state(SUSPENDED)

    # ---- the journal ----

    def _journal(self, ty: int, frame: bytes, event: str, name: str = "") -> Message | None:
        """Advance the journal by one entry of type ``ty``; ``frame`` is that entry as the code builds it now.

        Processing: write it. Replaying: pop the recorded entry and check it
        against ``frame``. Returns ``None`` when the journal now holds exactly
        our entry, else the recorded entry (its ignored fields, e.g. the
        result, differ from ours).
        """
        self._advance(ty, name)
        recorded = self._write_or_pop(ty, frame, event)
        if recorded is None or recorded == frame:
            return None
        return self._check_replayed(ty, recorded, frame)

    def _journal_result(self, ty: int, frame: bytes, event: str, own: Value | None, name: str = "") -> Value | None:
        """Like ``_journal`` for an entry with a result: the result that now stands in the journal.

        ``own`` is the result ``frame`` carries (``None``: none, a completion
        will bring it).
        """
        self._advance(ty, name)
        return self._result_of(ty, frame, event, own)

    def _advance(self, ty: int, name: str) -> int:
        """Move the journal position to the next entry (also when the call then fails: errors name it)."""
        self._index = index = self._index + 1
        self._entry_type = ty
        self._entry_name = name
        return index

    def _result_of(self, ty: int, frame: bytes, event: str, own: Value | None) -> Value | None:
        """Write or replay the current entry; its result as it now stands in the journal."""
        recorded = self._write_or_pop(ty, frame, event)
        if recorded is None or recorded == frame:
            return own
        body = frame[HEADER_SIZE:]
        if recorded.startswith(body, HEADER_SIZE) and recorded[1] == frame[1] and recorded[0] == frame[0]:
            # The usual replay of a completed entry: our entry plus the recorded result, and nothing else.
            value = _result_suffix(recorded, HEADER_SIZE + len(body))
            if value is not None:
                return value
        return _result_value(self._check_replayed(ty, recorded, frame))

    def _write_or_pop(self, ty: int, frame: bytes, event: str) -> bytes | None:
        """The current entry: write ``frame`` (Processing: returns ``None``) or pop the recorded one (Replaying)."""
        state = self._state
        if state.__class__ is Processing:
            if state.run is not None:
                raise VMError(INTERNAL, "A syscall was invoked from within a run operation")
            self._output.append(frame)
            return None
        if state.__class__ is not Replaying:
            raise self._state_error(event)
        entries = state.entries
        recorded = entries.popleft()
        if not entries:
            # Every replayed entry counts as acked; new entries are written from now on.
            self._notify_ack(self._index)
            self._set_state(Processing(state.await_point))
        if self._debug:
            logger.debug("replaying entry %d: %s", self._index, _ENTRY_NAMES[ty])
        return recorded

    def _check_replayed(self, ty: int, recorded_frame: bytes, frame: bytes) -> Message:
        """The recorded entry, if it matches ``frame`` on every compared field (not byte for byte)."""
        index = self._index
        recorded_type = (recorded_frame[0] << 8) | recorded_frame[1]
        if recorded_type != ty:
            raise type_mismatch(f"entry {index}", _entry_text(recorded_type), _entry_text(ty))
        cls = v2.MESSAGE_CLASSES[ty]
        recorded = _decode(cls, recorded_frame[HEADER_SIZE:])
        current = cls.FromString(frame[HEADER_SIZE:])
        comparison = _COMPARISONS[ty]
        if not comparison.matches(recorded, current):
            raise field_mismatch(f"entry {index}", _ENTRY_NAMES[ty], comparison, recorded, current)
        return recorded

    def _completable(self, ty: int, frame: bytes, event: str, own: Value | None) -> int:
        """A completable entry; ``own`` is the result ``frame`` carries (``None``: none)."""
        state = self._state
        if state.__class__ is Processing and state.run is None:  # the common case of _journal_result
            self._index = index = self._index + 1
            self._entry_type = ty
            self._entry_name = ""
            self._output.append(frame)
            value = own
        else:
            value = self._journal_result(ty, frame, event, own)
            index = self._index
        if value is None:
            self._expect_completion(index, _AS_VALUE)
        else:
            self._ready[index] = value
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
        if handle.__class__ is not int:
            check_handle(handle)
        state = self._state
        if state.__class__ is Failed:
            return
        try:
            if state.__class__ is not Processing and state.__class__ is not Replaying:
                raise self._state_error("notify_await_point")
            point = state.await_point
            if point is not None and point != handle:
                raise VMError(INTERNAL, f"Trying to await two async results at the same time: {point} and {handle}")
            if self._input_closed and handle not in self._ready:
                self._suspend(handle)
            else:
                state.await_point = handle
        except VMError as error:
            self._fail(error)

    def take_async_result(self, handle: int) -> Value | None:
        state = self._state
        if state.__class__ is Processing or state.__class__ is Replaying:
            value = self._ready.pop(handle, None)
            if value is None:
                if handle.__class__ is not int:
                    check_handle(handle)
            elif state.await_point == handle:
                state.await_point = None
            return value
        if state.__class__ is Suspended:
            raise SuspendedError()
        raise self._fail(self._state_error("take_async_result"))

    def sys_input(self) -> Input:
        try:
            state = self._state
            self._index = index = self._index + 1  # _advance, inlined
            self._entry_type = INPUT
            self._entry_name = ""
            if state.__class__ is Processing and state.run is not None:
                raise VMError(INTERNAL, "A syscall was invoked from within a run operation")
            if state.__class__ is not Replaying:
                raise self._state_error("sys_input")
            if index == 0 and len(state.entries) == 1:
                # The usual journal: the input entry alone. _write_or_pop, inlined (its ack of
                # entry 0 changes nothing: nothing can wait for an ack yet).
                recorded = state.entries.popleft()
                if self._debug:
                    self._set_state(Processing(state.await_point))
                    logger.debug("replaying entry 0: %s", _ENTRY_NAMES[INPUT])
                else:
                    self._state = Processing(state.await_point)
            else:
                popped = self._write_or_pop(INPUT, _EMPTY_INPUT_FRAME, "sys_input")
                assert popped is not None
                recorded = popped
            # The usual input entry holds the headers and the value: read them without protobuf.
            size = len(recorded)
            value: bytes | None = None
            headers: list[Header] = []
            if recorded[0] == _INPUT_TYPE_HIGH and recorded[1] == _INPUT_TYPE_LOW:
                headers, position = input_headers(recorded)  # (past the end if unusual: protobuf reads it)
                if position == size:
                    value = b""  # no value
                elif position == HEADER_SIZE and 10 <= size < 138 and recorded[8] == 0x72 and recorded[9] == size - 10:
                    value = recorded[10:]  # {value: 14} with a one-byte length
                elif position < size:
                    value = wire.single_field(recorded, 0x72, position)
            if value is None:  # the input entry always matches: no field is compared
                entry: Any = self._check_replayed(INPUT, recorded, _EMPTY_INPUT_FRAME)
                headers = [Header(header.key, header.value) for header in entry.headers]
                value = entry.value
            start = self._start
            assert start is not None
            return new_input(start.debug_id, sha256_random_seed(start.id), start.key, headers, value)
        except VMError as error:
            raise self._fail(error) from None

    def sys_state_get(self, key: str) -> int:
        try:
            try:
                key_bytes = key.encode()
            except AttributeError:
                raise TypeError(f"key must be str, not {type(key).__name__}") from None
            known = self._eager.get(key)
            value: Value | None
            if known is UNKNOWN:
                frame = encode_frame(GET_STATE, wire.v2_get_state(key_bytes, wire.V2_NO_RESULT))
                value = None
            elif known is None:
                frame = encode_frame(GET_STATE, wire.v2_get_state(key_bytes, wire.V2_EMPTY), COMPLETED)
                value = VOID
            else:
                frame = wire.v2_get_state_value_frame(key_bytes, known)  # type: ignore[arg-type]
                value = new_success(known)  # type: ignore[arg-type]
            self._index = index = self._index + 1  # _advance, inlined
            self._entry_type = GET_STATE
            self._entry_name = ""
            # The two common cases of _write_or_pop, inlined: a new entry while processing, and
            # replaying an entry identical to ours that is not the last one.
            state = self._state
            if state.__class__ is Processing and state.run is None:
                self._output.append(frame)
            elif state.__class__ is Replaying and len(state.entries) > 1 and state.entries[0] == frame:
                state.entries.popleft()
                if self._debug:
                    logger.debug("replaying entry %d: get state", index)
            else:
                value = self._result_of(GET_STATE, frame, _GET, value)
            if value is None:
                self._expect_completion(index, _AS_VALUE)
            else:
                self._ready[index] = value
            return index
        except VMError as error:
            raise self._fail(error) from None

    def sys_state_get_keys(self) -> int:
        try:
            keys = self._eager.keys()
            entry = v2.GetStateKeysEntryMessage()
            flags = 0
            if keys is not None:
                flags = COMPLETED
                entry.value.keys.extend(key.encode() for key in keys)
            frame = encode_frame(GET_STATE_KEYS, entry.SerializeToString(), flags)
            recorded = self._journal(GET_STATE_KEYS, frame, "sys_state_get_keys")
            index = self._index
            if recorded is not None:
                entry = recorded  # type: ignore[assignment]
            which = entry.WhichOneof("result")
            if which == "value":
                self._ready[index] = _state_keys(list(entry.value.keys))
            elif which == "failure":
                self._ready[index] = failure_from(entry.failure)
            else:
                self._expect_completion(index, _AS_STATE_KEYS)
            return index
        except VMError as error:
            raise self._fail(error) from None

    def sys_state_set(self, key: str, value: bytes) -> None:
        try:
            try:
                key_bytes = key.encode()
            except AttributeError:
                raise TypeError(f"key must be str, not {type(key).__name__}") from None
            if value.__class__ is not bytes:
                value = as_bytes(value, "value")
            state = self._state
            if state.__class__ is not Failed:
                self._eager.set(key, value)
            frame = wire.v2_set_state_frame(key_bytes, value)
            self._index = index = self._index + 1  # _advance, inlined
            self._entry_type = SET_STATE
            self._entry_name = ""
            # The two common cases of _write_or_pop, inlined (see sys_state_get).
            if state.__class__ is Processing and state.run is None:
                self._output.append(frame)
            elif state.__class__ is Replaying and len(state.entries) > 1 and state.entries[0] == frame:
                state.entries.popleft()
                if self._debug:
                    logger.debug("replaying entry %d: set state", index)
            else:
                recorded = self._write_or_pop(SET_STATE, frame, "sys_state_set")
                if recorded is not None and recorded != frame:
                    self._check_replayed(SET_STATE, recorded, frame)
        except VMError as error:
            raise self._fail(error) from None

    def sys_state_clear(self, key: str) -> None:
        try:
            key_bytes = utf8(key, "key")
            if self._state.__class__ is not Failed:
                self._eager.clear(key)
            body = wire.bytes_field(b"\x0a", key_bytes) if key_bytes else b""
            self._journal(CLEAR_STATE, encode_frame(CLEAR_STATE, body), "sys_state_clear")
        except VMError as error:
            raise self._fail(error) from None

    def sys_state_clear_all(self) -> None:
        try:
            if self._state.__class__ is not Failed:
                self._eager.clear_all()
            self._journal(CLEAR_ALL_STATE, _CLEAR_ALL_STATE_FRAME, "sys_state_clear_all")
        except VMError as error:
            raise self._fail(error) from None

    def sys_sleep(self, duration: timedelta) -> int:
        try:
            if duration.__class__ is not timedelta or duration < _ZERO:
                check_duration(duration, "duration")
            wake_up_time = epoch_millis_after(self._clock, duration)
            return self._completable(SLEEP, wire.v2_sleep_frame(wake_up_time), _SLEEP, None)
        except VMError as error:
            raise self._fail(error) from None

    def sys_call(self, target: Target, input: bytes) -> int:
        try:
            if target.__class__ is not Target:
                check_target(target)
            if input.__class__ is not bytes:
                input = as_bytes(input, "input")
            try:
                body = wire.v2_call(target.service, target.handler, input, target.key or "")
            except AttributeError:
                raise bad_target(target) from None
            size = len(body)
            frame = (_CALL_HEADERS[size] if size < SMALL_BODY else _pack_header(CALL, 0, size)) + body
            return self._completable(CALL, frame, _CALL, None)
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
            self._journal(ONE_WAY_CALL, encode_frame(ONE_WAY_CALL, entry.SerializeToString()), "sys_send")
        except VMError as error:
            raise self._fail(error) from None

    def sys_awakeable(self) -> tuple[str, int]:
        try:
            index = self._completable(AWAKEABLE, _AWAKEABLE_FRAME, "sys_awakeable", None)
            start = self._start
            assert start is not None
            return awakeable_id("prom_1", start.id, index), index
        except VMError as error:
            raise self._fail(error) from None

    def sys_complete_awakeable(self, awakeable_id: str, value: NonEmptyValue) -> None:
        try:
            entry = v2.CompleteAwakeableEntryMessage(id=check_str(awakeable_id, "awakeable_id"))
            _set_result(entry, check_non_empty_value(value, "value"), "value", "failure")
            frame = encode_frame(COMPLETE_AWAKEABLE, entry.SerializeToString())
            self._journal(COMPLETE_AWAKEABLE, frame, "sys_complete_awakeable")
        except VMError as error:
            raise self._fail(error) from None

    def sys_get_promise(self, key: str) -> int:
        try:
            entry = v2.GetPromiseEntryMessage(key=check_str(key, "key"))
            frame = encode_frame(GET_PROMISE, entry.SerializeToString())
            return self._completable(GET_PROMISE, frame, "sys_get_promise", None)
        except VMError as error:
            raise self._fail(error) from None

    def sys_peek_promise(self, key: str) -> int:
        try:
            entry = v2.PeekPromiseEntryMessage(key=check_str(key, "key"))
            frame = encode_frame(PEEK_PROMISE, entry.SerializeToString())
            return self._completable(PEEK_PROMISE, frame, "sys_peek_promise", None)
        except VMError as error:
            raise self._fail(error) from None

    def sys_complete_promise(self, key: str, value: NonEmptyValue) -> int:
        try:
            entry = v2.CompletePromiseEntryMessage(key=check_str(key, "key"))
            _set_result(entry, check_non_empty_value(value, "value"), "completion_value", "completion_failure")
            frame = encode_frame(COMPLETE_PROMISE, entry.SerializeToString())
            return self._completable(COMPLETE_PROMISE, frame, "sys_complete_promise", None)
        except VMError as error:
            raise self._fail(error) from None

    def sys_run_enter(self, name: str) -> Executed | NotExecuted:
        try:
            if name.__class__ is not str:
                check_str(name, "name")
            state = self._state
            if state.__class__ is Processing:
                if not name.isascii():
                    name.encode()  # (UnicodeEncodeError, a ValueError, before anything changes)
                self._index = index = self._index + 1
                self._entry_type = RUN
                self._entry_name = name
                if state.run is not None:
                    raise VMError(INTERNAL, "A syscall was invoked from within a run operation")
                state.run = name
                if index != self._known:
                    return _NOT_EXECUTED_FIRST_TRY
                info = self._retry_info()
                return _NOT_EXECUTED_FIRST_TRY if info is _FIRST_TRY else NotExecuted(info)
            # Replaying: the recorded run carries its result, the expected entry (name only) does not.
            name_field = _RUN_NAMES.get(name)
            if name_field is None:
                name_field = _run_name(name)
            if state.__class__ is Replaying and len(state.entries) > 1:
                recorded = state.entries[0]
                if (
                    recorded[0] == _RUN_HIGH
                    and recorded[1] == _RUN_LOW
                    and recorded.startswith(name_field, HEADER_SIZE)
                ):
                    # The usual replay: the recorded run is our entry plus its result, nothing else.
                    start = HEADER_SIZE + len(name_field)
                    size = len(recorded) - start - 2
                    value: Value | None
                    if 0 <= size < 0x80 and recorded[start] == 0x72 and recorded[start + 1] == size:
                        value = _object_new(Success)  # a value: new_success, inlined
                        _set_success_value(value, recorded[start + 2 :])
                    else:
                        value = _result_suffix(recorded, start)
                    if value is not None and value is not VOID:
                        self._index = index = self._index + 1  # _advance, inlined
                        self._entry_type = RUN
                        self._entry_name = name
                        state.entries.popleft()
                        if self._debug:
                            logger.debug("replaying entry %d: run", index)
                        executed = _object_new(Executed)  # new_executed, inlined
                        _set_executed_value(executed, value)
                        return executed
            value = self._journal_result(RUN, encode_frame(RUN, name_field), _RUN, None, name)
            if value is None or value is VOID:
                raise VMError(PROTOCOL_VIOLATION, "Expected RunEntryMessage to contain a result")
            return new_executed(value)  # type: ignore[arg-type]
        except VMError as error:
            raise self._fail(error) from None

    def _retry_info(self) -> EntryRetryInfo:
        """Retries so far of the current entry: the StartMessage's counters apply to
        the first entry after the replayed ones only."""
        start = self._start
        assert start is not None
        # Fields 7 and 8 exist from V2 on.
        if self._index != self._known or self._version < Version.V2 or not start.retry_count_since_last_stored_entry:
            return _FIRST_TRY
        return EntryRetryInfo(
            start.retry_count_since_last_stored_entry, timedelta(milliseconds=start.duration_since_last_stored_entry)
        )

    def sys_run_exit(self, result: Success | Failure | RetryableFailure, retry_policy: RetryPolicy) -> int:
        try:
            state = self._state
            if state.__class__ is not Processing:
                raise self._state_error("sys_run_exit")
            name = state.run
            if name is None:
                raise VMError(INTERNAL, "Invoked sys_run_exit without invoking sys_run_enter before")
            if retry_policy.__class__ is not RetryPolicy and not isinstance(retry_policy, RetryPolicy):
                raise TypeError(f"retry_policy must be a RetryPolicy, not {type(retry_policy).__name__}")
            value: Success | Failure
            if result.__class__ is Success:
                value = result
            elif result.__class__ is RetryableFailure:
                failure = check_failure(result.failure)
                value = self._give_up_or_retry(
                    failure,
                    result.attempt_duration,
                    self._retry_info(),
                    retry_policy,
                    True,
                )
            else:
                value = check_non_empty_value(result, "result")  # type: ignore[arg-type]
            if value.__class__ is Success:
                payload = value.value
                if payload.__class__ is not bytes:
                    payload = as_bytes(payload, "Success.value")
                frame = wire.v2_run_frame(name, payload)
            else:
                body = wire.v2_run(name, None, wire.failure(value.code, value.message))  # type: ignore[union-attr]
                frame = _pack_header(RUN, REQUIRES_ACK, len(body)) + body
            state.run = None
            index = self._index
            if index <= self._last_acked:
                self._ready[index] = value
            else:
                self._waiting_ack.append((index, value))
            self._output.append(frame)
            return index
        except VMError as error:
            raise self._fail(error) from None

    def sys_write_output(self, value: NonEmptyValue) -> None:
        try:
            if value.__class__ is not Success or value.value.__class__ is not bytes:
                check_non_empty_value(value, "value")
            if value.__class__ is Success:
                payload = value.value
                if payload.__class__ is not bytes:
                    payload = as_bytes(payload, "Success.value")
                frame = wire.v2_output_value_frame(payload)
            else:
                body = wire.v2_output(None, wire.failure(value.code, value.message))  # type: ignore[union-attr]
                frame = encode_frame(OUTPUT, body)
            state = self._state
            if state.__class__ is Processing and state.run is None:  # the common case of _journal
                self._index += 1
                self._entry_type = OUTPUT
                self._entry_name = ""
                self._output.append(frame)
            else:
                self._journal(OUTPUT, frame, "sys_write_output")
        except VMError as error:
            raise self._fail(error) from None

    def sys_end(self) -> None:
        try:
            state = self._state
            if state.__class__ is Processing:
                self._output.append(_END_FRAME)
                self._output_closed = True
                if self._debug:
                    self._set_state(ENDED)
                else:
                    self._state = ENDED
            elif state.__class__ is not Ended and state.__class__ is not Suspended:
                raise self._state_error("sys_end")
        except VMError as error:
            raise self._fail(error) from None


def _set_result(entry: Message, value: Success | Failure, value_field: str, failure_field: str) -> None:
    if value.__class__ is Success:
        setattr(entry, value_field, as_bytes(value.value, "Success.value"))
    else:
        failure = getattr(entry, failure_field)
        failure.code = value.code  # type: ignore[union-attr]
        failure.message = value.message  # type: ignore[union-attr]


register_model(LegacyVM, Version.V1, Version.V2)
