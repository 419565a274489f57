"""Protocol V5/V6: the command and notification model.

Theory of operation
-------------------
The journal holds *commands* (what the handler did, written by the service)
and *notifications* (results delivered to the invocation). A command that
expects a result names a *completion id*; the runtime later appends a
completion notification with that id. Awakeables wait for *signals*, named by
a signal id; signal 1 is the cancellation signal.

Completion ids (from 1) and signal ids (from 17) are counted by the service,
per attempt, in call order, in replay exactly as in processing, so a replayed
command carries the ids it was recorded with. Every call allocates the same
number of ids whichever path it takes (an eager state read allocates one that
never reaches the wire).

The StartMessage says how many journal messages follow (commands and
notifications). Commands are replayed one per syscall and compared with what
the code does now; notifications queue up in arrival order and are consumed by
awaits. The first syscall after the last recorded command moves the VM to
Processing, where commands are written instead.

States and events (everything else is a 571 protocol violation)::

    WaitingStart          --StartMessage-->                          WaitingReplayEntries
    WaitingReplayEntries  --the last known command/notification-->   Replaying
    Replaying             --a syscall pops the last command-->       Processing
    Processing            --await, input closed, cannot complete-->  Suspended
    Processing            --sys_end-->                               Ended
    any but Ended/Suspended --error-->                               Failed

An await in Replaying that the recorded notifications cannot satisfy proves
that the code changed: a 570 journal mismatch. Awaits also listen for the
cancellation signal: when it arrives, the awaited handle resolves to
``Failure(409, "cancelled")`` once, after the VM sent a cancel signal to each
call this invocation started.
"""

from __future__ import annotations

import re
import struct
from collections import deque
from datetime import timedelta
from itertools import islice
from typing import ClassVar, Final

from google.protobuf.message import Message

from .._errors import AWAITING_TWO_ASYNC_RESULTS, CLOSED, INTERNAL, PROTOCOL_VIOLATION, SuspendedError, VMError
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
    _set_success_value,
    new_executed,
    new_input,
    new_success,
)
from ..protocol import _wire as wire
from ..protocol import v5
from ..protocol._framing import HEADER, HEADER_SIZE, SMALL_BODY, encode_frame, header_table
from ..protocol._start_view import START_VIEW_V5
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
from ._mismatch import Comparison, field_mismatch, missing_entry, type_mismatch

__all__ = ["CurrentVM"]

_T = v5.MessageType
START: Final = int(_T.START)
SUSPENSION: Final = int(_T.SUSPENSION)
ERROR: Final = int(_T.ERROR)
END: Final = int(_T.END)
PROPOSE_RUN_COMPLETION: Final = int(_T.PROPOSE_RUN_COMPLETION)
INPUT: Final = int(_T.INPUT_COMMAND)
OUTPUT: Final = int(_T.OUTPUT_COMMAND)
GET_LAZY_STATE: Final = int(_T.GET_LAZY_STATE_COMMAND)
SET_STATE: Final = int(_T.SET_STATE_COMMAND)
CLEAR_STATE: Final = int(_T.CLEAR_STATE_COMMAND)
CLEAR_ALL_STATE: Final = int(_T.CLEAR_ALL_STATE_COMMAND)
GET_LAZY_STATE_KEYS: Final = int(_T.GET_LAZY_STATE_KEYS_COMMAND)
GET_EAGER_STATE: Final = int(_T.GET_EAGER_STATE_COMMAND)
GET_EAGER_STATE_KEYS: Final = int(_T.GET_EAGER_STATE_KEYS_COMMAND)
GET_PROMISE: Final = int(_T.GET_PROMISE_COMMAND)
PEEK_PROMISE: Final = int(_T.PEEK_PROMISE_COMMAND)
COMPLETE_PROMISE: Final = int(_T.COMPLETE_PROMISE_COMMAND)
SLEEP: Final = int(_T.SLEEP_COMMAND)
CALL: Final = int(_T.CALL_COMMAND)
ONE_WAY_CALL: Final = int(_T.ONE_WAY_CALL_COMMAND)
SEND_SIGNAL: Final = int(_T.SEND_SIGNAL_COMMAND)
RUN: Final = int(_T.RUN_COMMAND)
COMPLETE_AWAKEABLE: Final = int(_T.COMPLETE_AWAKEABLE_COMMAND)

# The first header byte of a message that is not a command.
_NOT_A_COMMAND: Final = re.compile(rb"[\x00-\x03\x80-\xff]")

#: Awakeable signal ids start here; 1-16 are reserved for built-in signals.
FIRST_AWAKEABLE_SIGNAL_ID: Final = 17

# Notification keys: a completion id as is, a signal id negated, a signal name as a str.
NotificationKey = int | str
CANCEL: Final = -v5.CANCEL_SIGNAL_ID

_COMMAND_NAMES: Final = {
    INPUT: "the handler input",
    OUTPUT: "the handler output",
    GET_LAZY_STATE: "get state",
    GET_EAGER_STATE: "get state",
    SET_STATE: "set state",
    CLEAR_STATE: "clear state",
    CLEAR_ALL_STATE: "clear all state",
    GET_LAZY_STATE_KEYS: "get state keys",
    GET_EAGER_STATE_KEYS: "get state keys",
    GET_PROMISE: "get promise",
    PEEK_PROMISE: "peek promise",
    COMPLETE_PROMISE: "complete promise",
    SLEEP: "sleep",
    CALL: "call",
    ONE_WAY_CALL: "one way call",
    SEND_SIGNAL: "send signal",
    RUN: "run",
    int(_T.ATTACH_INVOCATION_COMMAND): "attach invocation",
    int(_T.GET_INVOCATION_OUTPUT_COMMAND): "get invocation output",
    COMPLETE_AWAKEABLE: "complete awakeable",
}

#: The fields that must be equal when a command is replayed. Results of eager
#: reads come from the journal; a sleep's wake-up time and a send's invoke time
#: are not compared, nor a sleep's completion id.
_COMPARISONS: Final = {
    ty: Comparison(v5.MESSAGE_CLASSES[ty], fields)
    for ty, fields in {
        INPUT: (),
        OUTPUT: ("result", "name"),
        GET_LAZY_STATE: ("key", "result_completion_id", "name"),
        GET_EAGER_STATE: ("key", "name"),
        SET_STATE: ("key", "value", "name"),
        CLEAR_STATE: ("key", "name"),
        CLEAR_ALL_STATE: ("name",),
        GET_LAZY_STATE_KEYS: ("result_completion_id", "name"),
        GET_EAGER_STATE_KEYS: ("name",),
        GET_PROMISE: ("key", "result_completion_id", "name"),
        PEEK_PROMISE: ("key", "result_completion_id", "name"),
        COMPLETE_PROMISE: ("key", "completion", "result_completion_id", "name"),
        SLEEP: ("name",),
        CALL: (
            "service_name",
            "handler_name",
            "parameter",
            "headers",
            "key",
            "idempotency_key",
            "invocation_id_notification_idx",
            "result_completion_id",
            "name",
        ),
        ONE_WAY_CALL: (
            "service_name",
            "handler_name",
            "parameter",
            "headers",
            "key",
            "idempotency_key",
            "invocation_id_notification_idx",
            "name",
        ),
        SEND_SIGNAL: ("target_invocation_id", "signal_id", "result", "entry_name"),
        RUN: ("result_completion_id", "name"),
        COMPLETE_AWAKEABLE: ("awakeable_id", "result", "name"),
    }.items()
}

_CANCELLED = Failure(409, "cancelled")
_ZERO: Final = timedelta(0)
_V6: Final = Version.V6
_pack_header = HEADER.pack
# Immutable, so one instance serves every run that was not retried before.
_FIRST_TRY: Final = EntryRetryInfo()
_NOT_EXECUTED_FIRST_TRY: Final = NotExecuted(_FIRST_TRY)
_END_FRAME: Final = encode_frame(END, b"")
_INPUT_TYPE_HIGH: Final = INPUT >> 8
_INPUT_TYPE_LOW: Final = INPUT & 0xFF
_SLEEP_TYPE_HIGH: Final = SLEEP >> 8
_SLEEP_TYPE_LOW: Final = SLEEP & 0xFF
_GET_EAGER_STATE_TYPE_HIGH: Final = GET_EAGER_STATE >> 8
_GET_EAGER_STATE_TYPE_LOW: Final = GET_EAGER_STATE & 0xFF
_CALL_HEADERS: Final = header_table(CALL)
_CLEAR_ALL_STATE_FRAME: Final = encode_frame(CLEAR_ALL_STATE, b"")
_EMPTY_EAGER_STATE_KEYS_FRAME: Final = encode_frame(GET_EAGER_STATE_KEYS, b"")


def _command_text(ty: int) -> str:
    name = _COMMAND_NAMES.get(ty)
    if name is None:
        if ty >= 0xFC00:
            return f"a custom entry (type 0x{ty:04X})"
        return f"an unknown command (type 0x{ty:04X})"
    return f"'{name}' ({v5.MESSAGE_CLASSES[ty].__name__}, type 0x{ty:04X})"


#: A frame's first byte and length, then the first four bytes of its body.
_NOTIFICATION_START: Final = struct.Struct(">BxxxIBBBB").unpack_from
#: The first four bytes of a body.
_BODY_START: Final = struct.Struct(">BBBB").unpack_from


def _frame_type(frame: bytes) -> int:
    return (frame[0] << 8) | frame[1]


def _closed(event: str) -> VMError:
    return VMError(CLOSED, f"State machine was closed when invoking '{event}'")


def _decode(cls: type[Message], body: bytes) -> Message:
    return decode_body(cls, body, PROTOCOL_VIOLATION)  # V5+: a protocol violation


def _completion_notification(data: bytes, start: int, end: int) -> tuple[int, Value | str] | None:
    """The usual completion notifications, read without protobuf from the body ``data[start:end]``
    (which may lie inside a larger chunk): ``(completion id, result)``.

    ``{completion_id: 1, void: 4 | value: 5 (Value{content: 1}) | invocation_id: 16}``;
    ``None`` for anything else (the caller decodes it). Nothing past ``end`` is taken in: a
    varint that runs over it makes the shape unusual.
    """
    if end - start < 4 or data[start] != 0x08:
        return None
    completion_id = data[start + 1]
    position = start + 2
    if completion_id >= 0x80:
        if data[position] < 0x80:  # two bytes: ids up to 16383
            completion_id = (completion_id & 0x7F) | (data[position] << 7)
            position += 1
        else:
            completion_id, position = read_varint(data, start + 1)
        if not 0 <= completion_id <= 0xFFFFFFFF or position + 2 > end:
            return None
    tag = data[position]
    if tag == 0x22:  # 4: void
        if end == position + 2 and data[position + 1] == 0:
            return completion_id, VOID
    elif tag == 0x2A:  # 5: value, a Value message
        length = data[position + 1]
        if 2 <= length < 0x80 and position + 2 + length == end and data[position + 2] == 0x0A:
            # The usual: Value{content} with one-byte lengths.
            if data[position + 3] == length - 2:
                return completion_id, new_success(data[position + 4 : end])
            return None
        body = position + 2
        if length >= 0x80:
            length, body = read_varint(data, position + 1)
        if body + length == end and length >= 0:
            if length == 0:
                return completion_id, new_success(b"")
            if data[body] == 0x0A and body + 1 < end:  # Value{content: 1}
                length = data[body + 1]
                body += 2
                if length >= 0x80:
                    length, body = read_varint(data, body - 1)
                if body + length == end and length >= 0:
                    return completion_id, new_success(data[body:end])
    elif tag == 0x82 and data[position + 1] == 0x01:  # 16: invocation_id (a two-byte tag)
        length, body = read_varint(data, position + 2)
        if body + length == end and length >= 0:
            try:
                return completion_id, data[body:end].decode()
            except UnicodeDecodeError:
                return None
    return None


#: A SleepCommand body without a name: ``{wake_up_time: 1, result_completion_id: 11}``, either
#: absent, each a varint of at most ten bytes (as protobuf reads them, any value), nothing else.
_UNNAMED_SLEEP_BODY: Final = re.compile(rb"(?:\x08[\x80-\xff]{0,9}[\x00-\x7f])?(?:\x58[\x80-\xff]{0,9}[\x00-\x7f])?")


def _unnamed_sleep(frame: bytes) -> bool:
    """Whether ``frame`` is a recorded SleepCommand without a name, read without protobuf.

    Replayed, such a command matches any sleep of ours (which never has a name): the wake-up
    time and the completion id are not compared. ``False`` for anything else, which the
    caller checks field by field."""
    return (
        frame[0] == _SLEEP_TYPE_HIGH
        and frame[1] == _SLEEP_TYPE_LOW
        and _UNNAMED_SLEEP_BODY.fullmatch(frame, HEADER_SIZE) is not None
    )


def _recorded_eager_state(frame: bytes, key_bytes: bytes) -> Value | None:
    """The result of ``frame``, a recorded GetEagerStateCommand, if it is the usual shape for
    ``key_bytes`` (read without protobuf): ``{key: 1, void: 13 | value: 14 (Value{content: 1})}``
    with one-byte lengths and nothing else. ``None`` for anything else, which the caller checks
    field by field."""
    size = len(key_bytes)
    position = HEADER_SIZE + 2 + size  # where the result field begins
    end = len(frame)
    if (
        size >= 0x80
        or end < position + 2
        or frame[0] != _GET_EAGER_STATE_TYPE_HIGH
        or frame[1] != _GET_EAGER_STATE_TYPE_LOW
        or frame[HEADER_SIZE] != 0x0A
        or frame[HEADER_SIZE + 1] != size
        or not frame.startswith(key_bytes, HEADER_SIZE + 2)
    ):
        return None
    tag = frame[position]
    length = frame[position + 1]
    if length >= 0x80 or position + 2 + length != end:
        return None
    if tag == 0x6A:  # 13: void
        return VOID if not length else None
    if tag == 0x72:  # 14: value
        if not length:
            return new_success(b"")  # Value{}
        if length >= 2 and frame[position + 2] == 0x0A and frame[position + 3] == length - 2:
            return new_success(frame[position + 4 : end])
    return None


def _describe_result(value: object) -> str:
    """A notification's result, named for an error message."""
    if value is VOID:
        return "no value (void)"
    if value.__class__ is Success:
        return "a value"
    if value.__class__ is Failure:
        return "a failure"
    return f"a {type(value).__name__}"


def _set_value(message: Message, value: Success | Failure, value_field: str, failure_field: str) -> None:
    if value.__class__ is Success:
        getattr(message, value_field).content = as_bytes(value.value, "Success.value")
    else:
        failure = getattr(message, failure_field)
        failure.code = value.code  # type: ignore[union-attr]
        failure.message = value.message  # type: ignore[union-attr]


# ---- states: each carries only its own data ----


class WaitingReplayEntries:
    __slots__ = ("commands", "received")
    name: ClassVar[str] = "WaitingReplayEntries"

    def __init__(self, commands: deque[bytes], received: int) -> None:
        #: Recorded commands, as whole frames (header included).
        self.commands = commands
        #: Commands and notifications received so far.
        self.received = received


class Replaying:
    __slots__ = ("await_point", "commands")
    name: ClassVar[str] = "Replaying"

    def __init__(self, commands: deque[bytes]) -> None:
        self.commands = commands
        self.await_point: int | None = None


class Processing:
    __slots__ = ("await_point", "first_entry")
    name: ClassVar[str] = "Processing"

    def __init__(self, await_point: int | None) -> None:
        self.await_point = await_point
        #: No command written yet in this attempt: the StartMessage's retry counters apply.
        self.first_entry = True


#: A run between sys_run_enter and sys_run_exit: (completion id, command index, name, retries so far).
#: A plain tuple: a run is entered once per execution, and a class instance costs more to build.
_PendingRun = tuple[int, int, str, EntryRetryInfo]


class CurrentVM(CoreVM):
    """``CoreVM`` for protocol V5 and V6."""

    __slots__ = (
        "_calls",
        "_cancelled",
        "_command_index",
        "_command_name",
        "_command_type",
        "_handles",
        "_next_completion_id",
        "_next_handle",
        "_next_signal_id",
        "_queue",
        "_ready",
        "_run",
        "_run_commands",
    )

    _START_VIEW = START_VIEW_V5
    _START_MESSAGE = v5.StartMessage
    _START_ERROR = PROTOCOL_VIOLATION

    def _setup(self) -> None:
        self._state: object = WAITING_START
        # The journal position: the last command created (-1: none yet).
        self._command_index = -1
        self._command_type = 0
        self._command_name = ""
        self._next_completion_id = 1
        self._next_signal_id = FIRST_AWAKEABLE_SIGNAL_ID
        # Handles given to the SDK -> the notification each one waits for.
        self._next_handle = 1
        self._handles: dict[int, NotificationKey] = {}
        # Notifications by key (ready) and, behind them in arrival order, those no await has
        # looked at yet (queue). Everything in ready arrived before everything in the queue, so
        # a notification that finds the queue empty goes to ready at once; the cancel signal
        # always queues, as _resolve stops there.
        self._queue: deque[tuple[NotificationKey, Value | str]] = deque()
        self._ready: dict[NotificationKey, Value | str] = {}
        self._run: _PendingRun | None = None
        # Completion id of each run whose result is awaited -> the run as it was pending (_PendingRun).
        self._run_commands: dict[int, _PendingRun] = {}
        # Invocation-id completion ids of the calls made, to cancel them with us.
        self._calls: list[int] = []
        self._cancelled = False

    # ---- errors ----

    def _error_frame(self, error: VMError, next_retry_delay: timedelta | None, related: Related) -> bytes:
        message = v5.ErrorMessage(code=error.code, message=error.message, stacktrace=error.description)
        if related is True:
            if self._command_index >= 0:
                message.related_command_index = self._command_index
                message.related_command_type = self._command_type
                if self._command_name:
                    message.related_command_name = self._command_name
        elif related:
            index, name, command_type = related
            message.related_command_index = index
            message.related_command_type = command_type
            if name:
                message.related_command_name = name
        if next_retry_delay is not None:
            message.next_retry_delay = delay_millis(next_retry_delay)
        return encode_frame(ERROR, message.SerializeToString())

    def _state_error(self, event: str) -> VMError:
        state = self._state
        if state.__class__ is Failed:
            return state.error
        if state.__class__ is Ended or state.__class__ is Suspended:
            return _closed(event)
        return unexpected_state(state, event)

    # ---- input ----

    def _read_in_place(self, buffer: bytes) -> int:
        # Completion notifications, read where they lie in the chunk (the usual input while the
        # handler runs or replays), up to the first frame that is anything else.
        state = self._state
        if state.__class__ is not Processing and state.__class__ is not Replaying:
            if state.__class__ is WaitingReplayEntries:
                return self._replay_chunk(state, buffer)
            return 0
        size = len(buffer)
        limit = self._decoder._max
        next_id = self._next_completion_id
        processing = state.__class__ is Processing
        ready = self._ready
        queue = self._queue
        offset = 0
        # (A notification body shorter than 4 bytes is never one of the usual shapes.)
        while offset + 12 <= size:
            head, length, field, completion_id, tag, inner = _NOTIFICATION_START(buffer, offset)
            if head < 0x80 or head > 0xFB:
                break
            end = offset + HEADER_SIZE + length
            if end > size or length > limit:
                break
            value: Value | str
            usual = field == 0x08 and completion_id < 0x80  # {completion_id: 1} in one byte, first
            if (
                usual
                and tag == 0x2A
                and inner == length - 4
                and inner >= 2
                and buffer[offset + 12] == 0x0A
                and buffer[offset + 13] == inner - 2
            ):
                # The commonest: {completion_id, value: Value{content}}, every length one byte. (A
                # length byte of 0x80 or more never equals length - 4: it starts a longer varint.)
                value = _object_new(Success)  # new_success, inlined
                _set_success_value(value, buffer[offset + 14 : end])
            elif usual and tag == 0x22 and length == 4 and not inner:  # {completion_id, void}
                value = VOID
            elif usual and tag == 0x82 and inner == 0x01 and length >= 5 and buffer[offset + 12] == length - 5:
                # {completion_id, invocation_id: 16 (a two-byte tag)} with a one-byte length.
                try:
                    value = buffer[offset + 13 : end].decode()
                except UnicodeDecodeError:
                    break  # (the general way reports it)
            else:
                fast = _completion_notification(buffer, offset + HEADER_SIZE, end)
                if fast is None:
                    break
                completion_id, value = fast
            if completion_id >= next_id:
                if processing:
                    break  # an error: the general way reports it
                queue.append((completion_id, value))
            elif queue or completion_id in ready:
                # _file's rule, inlined: 6-8% of a V6 run, sleep or call awaited. (The chunk-vs-
                # decoder property in tests/test_input_fast_path.py holds the two to the same.)
                queue.append((completion_id, value))
            else:
                ready[completion_id] = value
            offset = end
        return offset

    def _replay_chunk(self, state: WaitingReplayEntries, buffer: bytes) -> int:
        # The journal messages that begin a chunk, up to the first that is not taken this way. A
        # runtime in request-response mode sends one message a chunk: a whole command is kept as
        # it is, a whole notification read directly.
        size = len(buffer)
        if size < HEADER_SIZE:
            return 0
        if size == HEADER_SIZE + _unpack_length_from(buffer, 4)[0]:
            head = buffer[0]
            if size - HEADER_SIZE > self._decoder._max:
                return 0
            if 0x04 <= head <= 0x7F:
                state.commands.append(buffer)
            elif 0x80 <= head <= 0xFB:
                fast = _completion_notification(buffer, HEADER_SIZE, size)
                if fast is None:
                    return 0
                self._queue.append(fast)  # ahead of its command: queued (see _file)
            else:
                return 0
            self._count_replay_message(state)
            return size
        offset, taken = self._take_journal(buffer, 0, state.commands, self._known - state.received)
        if taken:
            state.received += taken
            if state.received == self._known:
                self._set_state(Replaying(state.commands))
        return offset

    def _on_frames(self, frames: list[bytes]) -> None:
        position = 0
        count = len(frames)
        heads = b""
        while position < count:
            state = self._state
            frame = frames[position]
            head = frame[0]
            if 0x04 <= head <= 0x7F and state.__class__ is WaitingReplayEntries:
                # A command to replay (types 0x0400-0x7FFF), the bulk of most inputs.
                end = position + 1
                wanted = self._known - state.received
                if wanted > 1 and end < count and 0x04 <= frames[end][0] <= 0x7F:
                    # Two or more in a row: find where the run of commands ends at C speed.
                    if not heads:
                        heads = first_bytes(frames)
                    stop = min(count, position + wanted)
                    other = _NOT_A_COMMAND.search(heads, end + 1, stop)
                    end = stop if other is None else other.start()
                    state.commands.extend(islice(frames, position, end) if end - position < count else frames)
                else:
                    state.commands.append(frame)
                state.received += end - position
                position = end
                if state.received == self._known:
                    self._set_state(Replaying(state.commands))
            else:
                position += 1
                if 0x80 <= head <= 0xFB:  # a notification: 0x8000-0xFBFF
                    # The usual completions, replayed or live: _on_notification's fast path, inlined.
                    fast = _completion_notification(frame, HEADER_SIZE, len(frame))
                    if fast is not None:
                        if state.__class__ is WaitingReplayEntries:
                            self._queue.append(fast)  # ahead of its command: queued (see _file)
                            state.received += 1
                            if state.received == self._known:
                                self._set_state(Replaying(state.commands))
                            continue
                        cls = state.__class__
                        if cls is Replaying or (cls is Processing and fast[0] < self._next_completion_id):
                            self._file(fast)
                            continue
                    self._on_notification(state, (head << 8) | frame[1], frame[HEADER_SIZE:])
                else:
                    self._on_message(frame)
                    if state.__class__ is WaitingStart:
                        # The StartMessage, now decoded: let its frame (the eager state) go before
                        # the journal behind it is taken in.
                        frames[position - 1] = RELEASED_FRAME

    def _journal_in_place(self, buffer: bytes, offset: int) -> int:
        # Whole commands, sliced straight from the chunk; a notification (or anything else) and
        # what follows it go through the decoder.
        commands: deque[bytes] = deque()
        taken = 0
        if offset < len(buffer):
            offset, taken = self._take_journal(buffer, offset, commands, self._known)
        state = Replaying(commands) if taken == self._known else WaitingReplayEntries(commands, taken)
        if self._debug:
            self._set_state(state)
        else:
            self._state = state
        return offset

    def _take_journal(self, buffer: bytes, offset: int, commands: deque[bytes], wanted: int) -> tuple[int, int]:
        """Take the journal from ``buffer`` at ``offset``, up to ``wanted`` messages: commands
        sliced into ``commands``, the usual completion notifications read where they lie and
        queued (ahead of their commands, see ``_file``). Stops at anything else, a message the
        chunk does not hold whole, or one over the size limit (the decoder reports it).
        Returns (offset, messages taken)."""
        size = len(buffer)
        last = size - HEADER_SIZE  # a header fits if offset <= last
        limit = self._decoder._max
        unpack = _unpack_length_from
        append = commands.append
        queue = self._queue
        left = wanted
        while left and offset <= last:
            head = buffer[offset]
            length = unpack(buffer, offset + 4)[0]
            end = offset + HEADER_SIZE + length
            if end > size or length > limit:
                break
            if head < 0x80:
                if head < 0x04:
                    break
                append(buffer[offset:end])  # a command: 0x0400-0x7FFF
            elif head > 0xFB:
                break
            else:  # a notification: 0x8000-0xFBFF
                if length >= 6:  # (the shape below takes six bytes at least)
                    field, completion_id, tag, inner = _BODY_START(buffer, offset + HEADER_SIZE)
                else:
                    field = 0
                if (
                    field == 0x08
                    and completion_id < 0x80
                    and tag == 0x2A
                    and inner == length - 4
                    and inner >= 2
                    and buffer[offset + 12] == 0x0A
                    and buffer[offset + 13] == inner - 2
                ):
                    # The commonest (see _read_in_place): {completion_id, value: Value{content}}.
                    value = _object_new(Success)
                    _set_success_value(value, buffer[offset + 14 : end])
                    queue.append((completion_id, value))
                else:
                    fast = _completion_notification(buffer, offset + HEADER_SIZE, end)
                    if fast is None:
                        break
                    queue.append(fast)
            left -= 1
            offset = end
        return offset, wanted - left

    def _on_message(self, frame: bytes) -> None:
        """Any message but a command to replay or a notification (whole frame)."""
        message_type = (frame[0] << 8) | frame[1]
        state = self._state
        if 0x0400 <= message_type <= 0x7FFF:
            raise VMError(PROTOCOL_VIOLATION, "Expected entry messages only when waiting replay entries")
        elif message_type == START:
            if state.__class__ is not WaitingStart:
                raise VMError(PROTOCOL_VIOLATION, f"Unexpected StartMessage in state {type(state).name}")  # type: ignore[attr-defined]
            self._on_start(frame, len(frame))
            self._set_state(WaitingReplayEntries(deque(), 0))
        elif message_type in (SUSPENSION, ERROR, END, PROPOSE_RUN_COMPLETION) or message_type >= 0xFC00:
            raise VMError(
                PROTOCOL_VIOLATION, f"Expected incoming message to be an entry, got type 0x{message_type:04X}"
            )
        else:
            raise VMError(PROTOCOL_VIOLATION, f"unknown protocol.message code 0x{message_type:04X}")

    def _count_replay_message(self, state: WaitingReplayEntries) -> None:
        state.received += 1
        if state.received == self._known:
            self._set_state(Replaying(state.commands))

    def _on_notification(self, state: object, message_type: int, body: bytes) -> None:
        cls = state.__class__
        if cls is Ended or cls is Suspended:
            return
        if cls is WaitingStart:
            raise unexpected_state(state, f"notification 0x{message_type:04X}")
        fast = _completion_notification(body, 0, len(body))
        if fast is not None:
            if cls is Processing and fast[0] >= self._next_completion_id:
                raise self._unknown_completion(message_type, fast[0])
            self._file(fast)
            if cls is WaitingReplayEntries:
                state.received += 1  # type: ignore[attr-defined]
                if state.received == self._known:  # type: ignore[attr-defined]
                    self._set_state(Replaying(state.commands))  # type: ignore[attr-defined]
            return
        notification: v5.NotificationTemplate = _decode(v5.NotificationTemplate, body)  # type: ignore[assignment]
        which_id = notification.WhichOneof("id")
        key: NotificationKey
        if which_id == "completion_id":
            key = notification.completion_id
            if cls is Processing and key >= self._next_completion_id:
                raise self._unknown_completion(message_type, key)
        elif which_id == "signal_id":
            key = -notification.signal_id
        elif which_id == "signal_name":
            key = notification.signal_name
        else:
            raise VMError(PROTOCOL_VIOLATION, f"Notification of type 0x{message_type:04X} without an id")
        which = notification.WhichOneof("result")
        value: Value | str
        if which == "value":
            value = Success(notification.value.content)
        elif which == "void":
            value = VOID
        elif which == "failure":
            value = failure_from(notification.failure)
        elif which == "invocation_id":
            value = notification.invocation_id
        elif which == "state_keys":
            value = StateKeys([key_.decode("utf-8", "replace") for key_ in notification.state_keys.keys])
        else:
            raise VMError(PROTOCOL_VIOLATION, f"Notification of type 0x{message_type:04X} without a result")
        if key == CANCEL:
            self._queue.append((key, value))  # (always queued: _resolve stops there)
        else:
            self._file((key, value))
        if cls is WaitingReplayEntries:
            self._count_replay_message(state)  # type: ignore[arg-type]

    def _file(self, notification: tuple[NotificationKey, Value | str]) -> None:
        """Queue an arrived notification, or put it in the ready map at once when that is the same.

        The Rust core queues every notification and files it in its ready map only when an
        await gets to it, over whatever is there. Filing at once is the same when nothing is
        queued before it, nothing is filed under its key, and its command exists: an eager
        command (state read) files its own result under its completion id when it is created,
        and a notification the runtime sent ahead for that id (which it should not) would go
        over it, or not, depending on when an await gets to it. Such notifications queue.
        (``_read_in_place`` applies the same rule inline.)"""
        key = notification[0]
        if self._queue or key in self._ready or (key.__class__ is int and key >= self._next_completion_id):
            self._queue.append(notification)
        else:
            self._ready[key] = notification[1]

    def _unknown_completion(self, message_type: int, completion_id: int) -> VMError:
        return VMError(
            PROTOCOL_VIOLATION,
            f"Received a notification (type 0x{message_type:04X}) for completion id {completion_id}, "
            "which no command of this invocation has",
        )

    def _on_input_closed(self) -> None:
        state = self._state
        cls = state.__class__
        if cls is Processing or cls is Replaying:
            handle = state.await_point  # type: ignore[attr-defined]
            if handle is not None:
                self._await(state, handle)
        elif cls is WaitingStart or cls is WaitingReplayEntries:
            raise VMError(
                PROTOCOL_VIOLATION, "The input was closed while still waiting to receive all journal to replay"
            )

    # ---- notifications ----

    def _resolve(self, key: NotificationKey, stop_at_cancel: bool = True) -> bool:
        """True if the notification ``key`` arrived; moves queued notifications to ready
        in arrival order until it is found (or, with ``stop_at_cancel``, the cancel signal)."""
        ready = self._ready
        if key in ready:
            return True
        queue = self._queue
        while queue:
            arrived, value = queue.popleft()
            ready[arrived] = value
            if arrived == key:
                return True
            if arrived == CANCEL and stop_at_cancel and not self._cancelled:
                return False
        return False

    def _cancel_pending(self) -> bool:
        return not self._cancelled and CANCEL in self._ready

    def _missing_call_id(self) -> int | None:
        """The first invocation-id completion still needed to cancel the calls made, if any."""
        for call in self._calls:
            if not self._resolve(call, stop_at_cancel=False):
                return call
        return None

    def _can_progress(self, key: NotificationKey) -> bool:
        """Whether ``take_async_result`` has something to return for ``key`` now."""
        found = self._resolve(key)
        if self._cancel_pending():
            return self._missing_call_id() is None
        return found

    def _take_arrived(self, key: NotificationKey) -> Value | str | None:
        """Remove and return notification ``key`` if it arrived (the result of a run the runtime
        journaled already, which the Rust core hands out through an await).

        As such an await does, the notifications queued ahead of it go to ready first, in
        arrival order, over what is there (a result filed for an eager state read, say). A
        cancellation among them is then reported at the next await (the Rust core reports it
        at the run's own await, which ``sys_run_enter`` has no way to).
        """
        ready = self._ready
        if key in ready:
            return ready.pop(key)
        queue = self._queue
        if queue and queue[0][0] == key:  # (replaying, the usual: the next one queued)
            return queue.popleft()[1]
        if all(arrived != key for arrived, _ in queue):
            return None  # (not arrived: everything stays queued)
        while True:
            arrived, value = queue.popleft()
            if arrived == key:
                return value
            ready[arrived] = value

    def _await(self, state: object, handle: int) -> None:
        """Check an await point; suspend (Processing, input closed) or fail (Replaying)
        when it cannot complete."""
        key = self._handles.get(handle)
        if key is None or self._can_progress(key):
            return
        if state.__class__ is Replaying:
            self._fail(self._uncompleted_await(key), related=self._run_related(key))
        elif self._input_closed:
            self._suspend(key)

    def _run_related(self, key: NotificationKey) -> Related:
        run = self._run_commands.get(key) if isinstance(key, int) and key > 0 else None
        if run is None:
            return False
        return (run[1], run[2], RUN)

    def _describe_key(self, key: NotificationKey) -> str:
        if isinstance(key, str):
            return f"Named signal: {key}"
        if key > 0:
            run = self._run_commands.get(key)
            return f"run [{run[2]}]" if run is not None else f"completion id {key}"
        if key == CANCEL:
            return "Cancellation"
        if -key >= FIRST_AWAKEABLE_SIGNAL_ID:
            return f"Awakeable {awakeable_id('sign_1', self._start.id, -key)}"
        return f"signal [{-key}]"

    def _uncompleted_await(self, key: NotificationKey) -> VMError:
        awaited = [key] if self._cancelled else [key, CANCEL]
        lines = "".join(f"\n - {self._describe_key(item)}" for item in awaited)
        return VMError(
            570,
            "Journal mismatch: an await could not be replayed, because the recorded journal holds none of the "
            "notifications it waits for. The code probably gained an await without being registered as a new "
            f"deployment. Awaited:{lines}",
        )

    def _suspend(self, key: NotificationKey) -> None:
        completions: list[int] = []
        signals: list[int] = []
        named: list[str] = []
        missing = self._missing_call_id() if self._cancel_pending() else None
        if missing is not None:
            # Cancelling, and the invocation id of a call to cancel is still missing.
            completions.append(missing)
        else:
            if isinstance(key, str):
                named.append(key)
            elif key > 0:
                completions.append(key)
            else:
                signals.append(-key)
            if not self._cancelled:
                signals.append(-CANCEL)
        if self._debug:
            logger.debug("suspending: completions %s, signals %s, named signals %s", completions, signals, named)
        self._write(wire.v5_suspension_frame(completions, signals, named))
        self._close_output()
        self._set_state(SUSPENDED)

    def _new_handle(self, key: NotificationKey) -> int:
        handle = self._next_handle
        self._next_handle = handle + 1
        self._handles[handle] = key
        return handle

    # ---- the journal ----

    def _advance(self, ty: int, name: str, event: str) -> object:
        """Move the journal position to a new command; returns the state (Replaying or Processing)."""
        self._command_index += 1
        self._command_type = ty
        self._command_name = name
        if self._run is not None:
            raise VMError(INTERNAL, "A syscall was invoked from within a run operation")
        state = self._state
        if state.__class__ is Processing or state.__class__ is Replaying:
            return state
        raise self._state_error(event)

    def _command(self, ty: int, frame: bytes, name: str, event: str) -> Message | None:
        """A command of type ``ty``; ``frame`` is that command as the code builds it now.

        Processing: write it. Replaying: pop the recorded command and check it
        against ``frame``. Returns ``None`` when the journal now holds exactly
        our command, else the recorded command (its ignored fields differ).
        """
        state = self._state
        if self._run is None:
            # The two common cases, inlined: a new command while processing, and replaying a
            # command identical to ours that is not the last one.
            if state.__class__ is Processing:
                self._command_index += 1
                self._command_type = ty
                self._command_name = name
                self._output.append(frame)
                state.first_entry = False
                return None
            if state.__class__ is Replaying:
                commands = state.commands
                if len(commands) > 1 and commands[0] == frame:
                    self._command_index = index = self._command_index + 1
                    self._command_type = ty
                    self._command_name = name
                    commands.popleft()
                    if self._debug:
                        logger.debug("replaying command %d: %s", index, _command_text(ty))
                    return None
        state = self._advance(ty, name, event)
        if state.__class__ is Processing:
            self._output.append(frame)
            state.first_entry = False
            return None
        recorded = self._pop(state)  # type: ignore[arg-type]
        if recorded == frame:
            return None
        return self._check(recorded, ty, frame)

    def _pop(self, state: Replaying) -> bytes:
        """The next recorded command (a whole frame)."""
        commands = state.commands
        if not commands:
            raise missing_entry(f"command {self._command_index}", _command_text(self._command_type))
        recorded = commands.popleft()
        if self._debug:
            if not commands:
                self._set_state(Processing(state.await_point))
            logger.debug("replaying command %d: %s", self._command_index, _command_text(_frame_type(recorded)))
        elif not commands:
            self._state = Processing(state.await_point)
        return recorded

    def _check(self, recorded_frame: bytes, ty: int, frame: bytes) -> Message:
        """The recorded command, if it matches ``frame`` on every compared field (not byte for byte)."""
        position = f"command {self._command_index}"
        recorded_type = _frame_type(recorded_frame)
        if recorded_type != ty:
            raise type_mismatch(position, _command_text(recorded_type), _command_text(ty))
        cls = v5.MESSAGE_CLASSES[ty]
        recorded = _decode(cls, recorded_frame[HEADER_SIZE:])
        current = cls.FromString(frame[HEADER_SIZE:])
        comparison = _COMPARISONS[ty]
        if not comparison.matches(recorded, current):
            raise field_mismatch(position, _COMMAND_NAMES[ty], comparison, recorded, current)
        return recorded

    def _next_id(self) -> int:
        completion_id = self._next_completion_id
        self._next_completion_id = completion_id + 1
        return completion_id

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
        cls = state.__class__
        if cls is not Processing and cls is not Replaying:
            if cls is not Failed and cls is not Ended and cls is not Suspended:
                self._fail(self._state_error("notify_await_point"))
            return
        try:
            key = self._handles.get(handle)
            if key is None:
                check_handle(handle)
                raise VMError(
                    INTERNAL,
                    f"Awaiting handle {handle}, which was never created or whose result was already taken",
                )
            point = state.await_point  # type: ignore[attr-defined]
            if point is not None and point != handle:
                raise VMError(
                    AWAITING_TWO_ASYNC_RESULTS,
                    f"Trying to await two async results at the same time: {point} and {handle}",
                )
            state.await_point = handle  # type: ignore[attr-defined]
            if cls is Processing and not self._input_closed:
                return  # nothing to decide: more input may come (take_async_result resolves it)
            ready = self._ready
            if key not in ready or CANCEL in ready:  # else: the result is there, nothing to decide
                self._await(state, handle)
        except VMError as error:
            self._fail(error)

    def take_async_result(self, handle: int) -> Value | None:
        state = self._state
        cls = state.__class__
        if cls is not Processing and cls is not Replaying:
            if cls is Suspended:
                raise SuspendedError()
            raise self._fail(self._state_error("take_async_result"))
        key = self._handles.get(handle)
        if key is None:
            check_handle(handle)
            return None
        try:
            ready = self._ready
            found = key in ready
            if not found and self._queue and (CANCEL not in ready or self._cancelled):
                # Look further in the queue (up to a cancellation at most), unless a cancellation
                # to report is in ready already (an await point moved it there).
                found = self._resolve(key)
            if CANCEL in ready and not self._cancelled:  # a cancellation to report
                if self._missing_call_id() is not None:
                    return None
                self._cancel_calls()
                # Forwarding the cancellation may have replayed the last recorded command: re-read the state.
                self._state.await_point = None  # type: ignore[attr-defined]
                return _CANCELLED
            if not found:
                return None
            del self._handles[handle]
            value = ready.pop(key)
            if value.__class__ is str:
                raise VMError(
                    PROTOCOL_VIOLATION,
                    f"Received an invocation id where the result of handle {handle} was expected",
                )
        except VMError as error:
            raise self._fail(error) from None
        if state.await_point == handle:  # type: ignore[attr-defined]
            state.await_point = None  # type: ignore[attr-defined]
        return value  # type: ignore[return-value]

    def _cancel_calls(self) -> None:
        """Forward the cancellation to every call made, then report it (once)."""
        for call in self._calls:
            target = self._ready[call]
            if target.__class__ is not str:
                # (The Rust core panics here.)
                raise VMError(
                    PROTOCOL_VIOLATION,
                    f"Cannot forward the cancellation: the notification for completion id {call} should "
                    f"carry the invocation id of a call, it carries {_describe_result(target)}",
                )
            command = v5.SendSignalCommandMessage(target_invocation_id=target, idx=v5.CANCEL_SIGNAL_ID)
            command.void.SetInParent()
            self._command(SEND_SIGNAL, encode_frame(SEND_SIGNAL, command.SerializeToString()), "", "cancel")
        self._calls.clear()
        del self._ready[CANCEL]
        self._cancelled = True
        if self._debug:
            logger.debug("cancelled")

    def sys_input(self) -> Input:
        try:
            state = self._state
            if state.__class__ is not Replaying:
                raise self._state_error("sys_input")
            self._command_index += 1
            self._command_type = INPUT
            self._command_name = ""
            recorded = self._pop(state)
            if recorded[0] != _INPUT_TYPE_HIGH or recorded[1] != _INPUT_TYPE_LOW:  # no field is compared
                raise type_mismatch("command 0", _command_text(_frame_type(recorded)), _command_text(INPUT))
            # The usual input command holds the headers and the value (a Value{content}): read
            # them without protobuf.
            content: bytes | None = None
            size = len(recorded)
            headers, position = input_headers(recorded)  # (past the end if unusual: protobuf reads it)
            if position == size:
                content = b""  # no value
            elif position == HEADER_SIZE and 12 <= size < 138 and recorded[9] == size - 10:
                # One-byte lengths: {value: 14 {content: 1}} and nothing else, or not this shape at all.
                if recorded[8] == 0x72 and recorded[10] == 0x0A and recorded[11] == size - 12:
                    content = recorded[12:]
            elif position < size:
                position = wire.content_start(recorded, 0x72, position)
                if position == size:
                    content = b""  # Value{}
                elif position > 0:
                    position = wire.content_start(recorded, 0x0A, position)
                    if position > 0:
                        content = recorded[position:]
            if content is None:
                command: v5.InputCommandMessage = _decode(v5.InputCommandMessage, recorded[HEADER_SIZE:])  # type: ignore[assignment]
                headers = [Header(header.key, header.value) for header in command.headers]
                content = command.value.content
            start = self._start
            assert start is not None
            # V6 carries the seed; V5 derives it from the invocation id.
            seed = start.random_seed if self._version >= _V6 else sha256_random_seed(start.id)
            return new_input(start.debug_id, seed, start.key, headers, content)
        except VMError as error:
            raise self._fail(error) from None

    def sys_state_get(self, key: str) -> int:
        try:
            try:
                key_bytes = key.encode()
            except AttributeError:
                raise TypeError(f"key must be str, not {type(key).__name__}") from None
            completion_id = self._next_completion_id
            self._next_completion_id = completion_id + 1
            state = self._advance(GET_EAGER_STATE, "", "sys_state_get")
            known = self._eager.get(key)
            if state.__class__ is Processing:
                if known is UNKNOWN:
                    self._command_type = GET_LAZY_STATE
                    self._output.append(encode_frame(GET_LAZY_STATE, wire.v5_get_lazy_state(key_bytes, completion_id)))
                else:
                    self._output.append(wire.v5_get_eager_state_frame(key_bytes, known))  # type: ignore[arg-type]
                    self._ready[completion_id] = VOID if known is None else new_success(known)  # type: ignore[arg-type]
                state.first_entry = False
            else:
                recorded = self._pop(state)  # type: ignore[arg-type]
                if known is not UNKNOWN and recorded == wire.v5_get_eager_state_frame(key_bytes, known):  # type: ignore[arg-type]
                    # The value read then is the value now (the usual while streaming).
                    self._ready[completion_id] = VOID if known is None else new_success(known)  # type: ignore[arg-type]
                else:
                    value = _recorded_eager_state(recorded, key_bytes)
                    if value is not None:
                        self._ready[completion_id] = value
                    else:
                        self._replay_get_state(recorded, key_bytes, completion_id)
            handle = self._next_handle
            self._next_handle = handle + 1
            self._handles[handle] = completion_id
            return handle
        except VMError as error:
            raise self._fail(error) from None

    def _replay_get_state(self, recorded: bytes, key_bytes: bytes, completion_id: int) -> None:
        """A recorded state read that is not our eager read byte for byte: lazy, or another value."""
        if _frame_type(recorded) == GET_LAZY_STATE:
            self._command_type = GET_LAZY_STATE
            self._check(
                recorded, GET_LAZY_STATE, encode_frame(GET_LAZY_STATE, wire.v5_get_lazy_state(key_bytes, completion_id))
            )
            return
        eager: v5.GetEagerStateCommandMessage = self._check(  # type: ignore[assignment]
            recorded, GET_EAGER_STATE, encode_frame(GET_EAGER_STATE, wire.v5_get_eager_state(key_bytes, None))
        )
        which = eager.WhichOneof("result")
        if which == "value":
            self._ready[completion_id] = Success(eager.value.content)
        elif which == "void":
            self._ready[completion_id] = VOID
        else:
            raise VMError(PROTOCOL_VIOLATION, "Unexpected empty value variant for get eager state.")

    def sys_state_get_keys(self) -> int:
        try:
            completion_id = self._next_id()
            state = self._advance(GET_EAGER_STATE_KEYS, "", "sys_state_get_keys")
            if state.__class__ is Processing:
                keys = self._eager.keys()
                if keys is None:
                    self._command_type = GET_LAZY_STATE_KEYS
                    lazy = v5.GetLazyStateKeysCommandMessage(result_completion_id=completion_id)
                    self._output.append(encode_frame(GET_LAZY_STATE_KEYS, lazy.SerializeToString()))
                else:
                    eager = v5.GetEagerStateKeysCommandMessage()
                    eager.value.keys.extend(key.encode() for key in keys)
                    self._ready[completion_id] = StateKeys(keys)
                    self._output.append(encode_frame(GET_EAGER_STATE_KEYS, eager.SerializeToString()))
                state.first_entry = False
            else:
                recorded = self._pop(state)  # type: ignore[arg-type]
                if _frame_type(recorded) == GET_LAZY_STATE_KEYS:
                    self._command_type = GET_LAZY_STATE_KEYS
                    lazy = v5.GetLazyStateKeysCommandMessage(result_completion_id=completion_id)
                    self._check(
                        recorded, GET_LAZY_STATE_KEYS, encode_frame(GET_LAZY_STATE_KEYS, lazy.SerializeToString())
                    )
                else:
                    eager = self._check(  # type: ignore[assignment]
                        recorded, GET_EAGER_STATE_KEYS, _EMPTY_EAGER_STATE_KEYS_FRAME
                    )
                    if not eager.HasField("value"):
                        raise VMError(PROTOCOL_VIOLATION, "Unexpected empty value variant for state keys.")
                    self._ready[completion_id] = StateKeys([key.decode("utf-8", "replace") for key in eager.value.keys])
            return self._new_handle(completion_id)
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
            if self._state.__class__ is not Failed:
                self._eager.set(key, value)
            self._command(SET_STATE, wire.v5_set_state_frame(key_bytes, value), "", "sys_state_set")
        except VMError as error:
            raise self._fail(error) from None

    def sys_state_clear(self, key: str) -> None:
        try:
            command = v5.ClearStateCommandMessage(key=utf8(key, "key"))
            if self._state.__class__ is not Failed:
                self._eager.clear(key)
            self._command(CLEAR_STATE, encode_frame(CLEAR_STATE, command.SerializeToString()), "", "sys_state_clear")
        except VMError as error:
            raise self._fail(error) from None

    def sys_state_clear_all(self) -> None:
        try:
            if self._state.__class__ is not Failed:
                self._eager.clear_all()
            self._command(CLEAR_ALL_STATE, _CLEAR_ALL_STATE_FRAME, "", "sys_state_clear_all")
        except VMError as error:
            raise self._fail(error) from None

    def sys_sleep(self, duration: timedelta) -> int:
        try:
            if duration.__class__ is not timedelta or duration < _ZERO:
                check_duration(duration, "duration")
            completion_id = self._next_completion_id
            self._next_completion_id = completion_id + 1
            state = self._state
            if state.__class__ is Replaying and state.commands and _unnamed_sleep(state.commands[0]):
                # The usual replayed sleep: it matches ours whatever its wake-up time.
                self._advance(SLEEP, "", "sys_sleep")
                self._pop(state)
            else:
                wake_up_time = epoch_millis_after(self._clock, duration)
                self._command(SLEEP, wire.v5_sleep_frame(wake_up_time, completion_id), "", "sys_sleep")
            handle = self._next_handle
            self._next_handle = handle + 1
            self._handles[handle] = completion_id
            return handle
        except VMError as error:
            raise self._fail(error) from None

    def sys_call(self, target: Target, input: bytes) -> int:
        try:
            if target.__class__ is not Target:
                check_target(target)
            if input.__class__ is not bytes:
                input = as_bytes(input, "input")
            # Two completion ids, taken only once the arguments proved valid.
            invocation_id_completion = self._next_completion_id
            result_completion = invocation_id_completion + 1
            try:
                body = wire.v5_call(
                    target.service, target.handler, input, target.key or "", invocation_id_completion, result_completion
                )
            except AttributeError:
                raise bad_target(target) from None
            self._next_completion_id = result_completion + 1
            size = len(body)
            frame = (_CALL_HEADERS[size] if size < SMALL_BODY else _pack_header(CALL, 0, size)) + body
            self._command(CALL, frame, "", "sys_call")
            self._calls.append(invocation_id_completion)
            handle = self._next_handle
            self._next_handle = handle + 1
            self._handles[handle] = result_completion
            return handle
        except VMError as error:
            raise self._fail(error) from None

    def sys_send(self, target: Target, input: bytes, delay: timedelta | None = None) -> None:
        try:
            check_target(target)
            invoke_time = 0 if delay is None else epoch_millis_after(self._clock, check_duration(delay, "delay"))
            completion_id = self._next_completion_id
            command = v5.OneWayCallCommandMessage(
                service_name=target.service,
                handler_name=target.handler,
                parameter=as_bytes(input, "input"),
                invoke_time=invoke_time,
                key=target.key or "",
                invocation_id_notification_idx=completion_id,
            )
            frame = encode_frame(ONE_WAY_CALL, command.SerializeToString())
            self._next_completion_id = completion_id + 1  # (once nothing can raise ValueError)
            self._command(ONE_WAY_CALL, frame, "", "sys_send")
        except VMError as error:
            raise self._fail(error) from None

    def sys_awakeable(self) -> tuple[str, int]:
        try:
            if self._run is not None:
                raise VMError(INTERNAL, "A syscall was invoked from within a run operation")
            state = self._state
            if state.__class__ is not Processing and state.__class__ is not Replaying:
                raise self._state_error("sys_awakeable")
            signal_id = self._next_signal_id
            self._next_signal_id = signal_id + 1
            start = self._start
            assert start is not None
            return awakeable_id("sign_1", start.id, signal_id), self._new_handle(-signal_id)
        except VMError as error:
            raise self._fail(error) from None

    def sys_complete_awakeable(self, awakeable_id: str, value: NonEmptyValue) -> None:
        try:
            command = v5.CompleteAwakeableCommandMessage(awakeable_id=check_str(awakeable_id, "awakeable_id"))
            _set_value(command, check_non_empty_value(value, "value"), "value", "failure")
            frame = encode_frame(COMPLETE_AWAKEABLE, command.SerializeToString())
            self._command(COMPLETE_AWAKEABLE, frame, "", "sys_complete_awakeable")
        except VMError as error:
            raise self._fail(error) from None

    def sys_get_promise(self, key: str) -> int:
        return self._promise_read(v5.GetPromiseCommandMessage, GET_PROMISE, key, "sys_get_promise")

    def sys_peek_promise(self, key: str) -> int:
        return self._promise_read(v5.PeekPromiseCommandMessage, PEEK_PROMISE, key, "sys_peek_promise")

    def _promise_read(self, cls: type[Message], ty: int, key: str, event: str) -> int:
        """Get or peek the durable promise ``key``: one command, one completion id."""
        try:
            check_str(key, "key")
            completion_id = self._next_completion_id
            frame = encode_frame(ty, cls(key=key, result_completion_id=completion_id).SerializeToString())
            self._next_completion_id = completion_id + 1  # (once nothing can raise ValueError)
            self._command(ty, frame, "", event)
            return self._new_handle(completion_id)
        except VMError as error:
            raise self._fail(error) from None

    def sys_complete_promise(self, key: str, value: NonEmptyValue) -> int:
        try:
            check_str(key, "key")
            check_non_empty_value(value, "value")
            completion_id = self._next_completion_id
            command = v5.CompletePromiseCommandMessage(key=key, result_completion_id=completion_id)
            _set_value(command, value, "completion_value", "completion_failure")
            frame = encode_frame(COMPLETE_PROMISE, command.SerializeToString())
            self._next_completion_id = completion_id + 1  # (once nothing can raise ValueError)
            self._command(COMPLETE_PROMISE, frame, "", "sys_complete_promise")
            return self._new_handle(completion_id)
        except VMError as error:
            raise self._fail(error) from None

    def sys_run_enter(self, name: str) -> Executed | NotExecuted:
        try:
            if name.__class__ is not str:
                check_str(name, "name")
            completion_id = self._next_completion_id
            frame = wire.v5_run_frame(completion_id, name)  # (first: a name that is not UTF-8 raises)
            self._next_completion_id = completion_id + 1
            # While processing, a run's result is in the journal only if the runtime sent it
            # ahead of the command (a malformed journal): usually there is nothing to look up.
            state = self._state
            fresh = state.__class__ is Processing and completion_id not in self._ready and not self._queue
            if fresh and self._run is None:
                # The usual: a new run while processing (_command's first case, inlined). Its
                # retries so far are none: the StartMessage's counters apply to a run whose
                # command was recorded (the last one replayed), never to a new one.
                self._command_index = index = self._command_index + 1
                self._command_type = RUN
                self._command_name = name
                self._output.append(frame)
                state.first_entry = False  # type: ignore[attr-defined]
                self._run = (completion_id, index, name, _FIRST_TRY)
                return _NOT_EXECUTED_FIRST_TRY
            self._command(RUN, frame, name, "sys_run_enter")
            if not fresh:
                value = self._take_arrived(completion_id)
                if value is not None:
                    # The runtime stored this run's result already: replay it, do not execute.
                    if value.__class__ is not Success and value.__class__ is not Failure:
                        raise VMError(
                            PROTOCOL_VIOLATION, f"The result of run '{name}' is neither a value nor a failure"
                        )
                    return new_executed(value)
            state = self._state
            start = self._start
            if state.__class__ is Processing and state.first_entry and start.retry_count_since_last_stored_entry:
                # The first command after the replayed ones: the StartMessage's counters apply.
                info = EntryRetryInfo(
                    start.retry_count_since_last_stored_entry,
                    timedelta(milliseconds=start.duration_since_last_stored_entry),
                )
                self._run = (completion_id, self._command_index, name, info)
                return NotExecuted(info)
            self._run = (completion_id, self._command_index, name, _FIRST_TRY)
            return _NOT_EXECUTED_FIRST_TRY
        except VMError as error:
            raise self._fail(error) from None

    def sys_run_exit(self, result: Success | Failure | RetryableFailure, retry_policy: RetryPolicy) -> int:
        try:
            state = self._state
            if state.__class__ is not Processing and state.__class__ is not Replaying:
                raise self._state_error("sys_run_exit")
            run = self._run
            if run is None:
                raise VMError(INTERNAL, "Invoked sys_run_exit without invoking sys_run_enter before")
            if retry_policy.__class__ is not RetryPolicy and not isinstance(retry_policy, RetryPolicy):
                raise TypeError(f"retry_policy must be a RetryPolicy, not {type(retry_policy).__name__}")
            completion_id, index, name, so_far = run
            value: Success | Failure
            if result.__class__ is Success:
                value = result
            elif result.__class__ is RetryableFailure:
                failure = check_failure(result.failure)
                related = (index, name, RUN)
                value = self._give_up_or_retry(failure, result.attempt_duration, so_far, retry_policy, related)
            else:
                value = check_non_empty_value(result, "result")  # type: ignore[arg-type]
            if value.__class__ is Success:
                payload = value.value
                if payload.__class__ is not bytes:
                    payload = as_bytes(payload, "Success.value")
                frame = wire.v5_propose_run_frame(completion_id, payload)
            else:
                failure_body = wire.failure(value.code, value.message)  # type: ignore[union-attr]
                body = wire.v5_propose_run_completion(completion_id, None, failure_body)
                frame = encode_frame(PROPOSE_RUN_COMPLETION, body)
            self._run = None
            self._run_commands[completion_id] = run
            self._output.append(frame)
            handle = self._next_handle
            self._next_handle = handle + 1
            self._handles[handle] = completion_id
            return handle
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
                frame = wire.v5_output_value_frame(payload)
            else:
                body = wire.v5_output(None, wire.failure(value.code, value.message))  # type: ignore[union-attr]
                frame = encode_frame(OUTPUT, body)
            self._command(OUTPUT, frame, "", "sys_write_output")
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
            # Ending creates no command: the error names none (as the Rust core's does not).
            raise self._fail(error, related=False) from None


register_model(CurrentVM, Version.V5, Version.V6)
