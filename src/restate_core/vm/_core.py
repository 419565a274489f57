"""CoreVM: negotiation, the output buffer, sticky failure, and the public contract.

``CoreVM(headers)`` reads the content type, picks the protocol version and
returns an instance of the journal model that speaks it: ``LegacyVM``
(V1/V2, ``_legacy.py``) or ``CurrentVM`` (V5/V6, ``_current.py``). Both are
subclasses of ``CoreVM``; this module holds what they share and documents the
public methods, which the models implement.

Errors. The first error moves the VM to ``Failed``: one ErrorMessage is
written, the output closes, and every later call that can raise raises the
same ``VMError``. Once the output closed normally (End or Suspension) a
misuse raises a ``VMError`` but changes nothing: the state, and what
``take_async_result`` reports, stay as they were.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable
from datetime import timedelta
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar, Final, NoReturn

from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from .._errors import INTERNAL, PROTOCOL_VIOLATION, UNSUPPORTED_MEDIA_TYPE, VMError
from .._values import EntryRetryInfo, Failure, Header, Input, NonEmptyValue, ResponseHead, Target, Value
from ..headers import HeadersLike, header_value, lookup
from ..protocol._framing import DEFAULT_MAX_MESSAGE_SIZE, HEADER_SIZE, Decoder
from ..protocol._version import CONTENT_TYPE_PREFIX, SUPPORTED_VERSIONS, Version
from ._args import check_duration
from ._eager import EagerState

if TYPE_CHECKING:
    from .._values import Executed, NotExecuted, RetryableFailure, Success
    from ..retries import RetryPolicy

__all__ = [
    "ENDED",
    "SUSPENDED",
    "CoreVM",
    "Ended",
    "Failed",
    "Related",
    "Suspended",
    "input_headers",
    "logger",
    "negotiate",
    "read_headers",
    "register_model",
]

logger = logging.getLogger("restate_core")

_MODELS: dict[Version, type[CoreVM]] = {}

#: Which journal position an ErrorMessage names: see ``CoreVM._fail``.
Related = bool | tuple[int, str, int]


#: Exact content type -> (version, model): the negotiation of a well-formed request in one lookup.
_NEGOTIATED: dict[str, tuple[Version, type[CoreVM]]] = {}


def register_model(cls: type[CoreVM], *versions: Version) -> None:
    """Make ``CoreVM`` use ``cls`` for ``versions``."""
    for version in versions:
        _MODELS[version] = cls
        _NEGOTIATED[version.content_type] = (version, cls)


def _supported_text() -> str:
    return ", ".join(str(v) for v in SUPPORTED_VERSIONS)


def negotiate(request_headers: HeadersLike) -> Version:
    """The protocol version named by the ``content-type`` header, or ``VMError`` 415."""
    content_type = header_value(request_headers, "content-type")
    if content_type is None:
        raise VMError(
            UNSUPPORTED_MEDIA_TYPE,
            "Missing content type when invoking the service deployment; "
            f"expected one of the invocation content types for {_supported_text()}",
        )
    content_type = content_type.strip()
    version = Version.from_content_type(content_type)
    if version is None:
        if content_type.startswith(CONTENT_TYPE_PREFIX):
            raise VMError(
                UNSUPPORTED_MEDIA_TYPE,
                f"unsupported protocol version '{content_type}'; supported: {_supported_text()}",
            )
        raise VMError(
            UNSUPPORTED_MEDIA_TYPE,
            f"unrecognized content-type '{content_type}', this is not a Restate invocation content type "
            f"(supported: {_supported_text()}). Invoke the service through the Restate server.",
        )
    if version not in _MODELS:
        raise VMError(
            UNSUPPORTED_MEDIA_TYPE,
            f"Unsupported protocol version {version}; supported: {_supported_text()}. "
            "The service may need to be registered again so the server picks a supported version.",
        )
    return version


# ---- states and helpers shared by both models ----

# The key of StartMessage.state_map (field 4, length-delimited) is the byte 0x22, or 0xA2 when
# written as an over-long varint; a body with neither byte has no eager state. (Ints: `int in
# bytes` is a byte search, several times cheaper than `bytes in bytes` for short frames.)
_STATE_MAP_TAG: Final = 0x22
_STATE_MAP_TAG_LONG: Final = 0xA2
#: StartMessage frames from this size on are parsed through a memoryview instead of a copy.
_PARSE_IN_PLACE: Final = 4096


class WaitingStart:
    """Nothing received yet: the StartMessage comes first."""

    __slots__ = ()
    name: ClassVar[str] = "WaitingStart"


WAITING_START = WaitingStart()


_first_byte = itemgetter(0)
_unpack_length_from = struct.Struct(">I").unpack_from

#: Stands in for a frame already handled and let go (a header of type 0: not a journal entry).
RELEASED_FRAME: Final = bytes(HEADER_SIZE)


class _IdleDecoder(Decoder):
    """The decoder of every VM until input comes that the VM does not read in place (most
    requests have none): empty, shared, never fed."""

    __slots__ = ()

    def _never(self, *args: object) -> NoReturn:
        raise AssertionError("the shared idle decoder is never fed")

    push = feed = feed_from = _never  # type: ignore[assignment]


_IDLE_DECODER: Final = _IdleDecoder(DEFAULT_MAX_MESSAGE_SIZE)


def first_bytes(frames: list[bytes]) -> bytes:
    """The first header byte of each frame (the high byte of its type), at C speed: searched with
    a regular expression, it finds where a run of journal messages ends without a Python loop."""
    return bytes(map(_first_byte, frames))


def _check_chunk(buffer: object) -> None:
    """``TypeError`` unless ``buffer`` is bytes-like (what ``notify_input`` takes)."""
    try:
        memoryview(buffer)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"notify_input takes a bytes-like buffer, not {type(buffer).__name__}") from None


def unexpected_state(state: object, event: str) -> VMError:
    """571: ``event`` is not allowed in ``state``."""
    return VMError(PROTOCOL_VIOLATION, f"Unexpected state {type(state).name} when invoking '{event}'")  # type: ignore[attr-defined]


#: What parsing a malformed message raises: upb reports every fault as DecodeError, protobuf's
#: pure-Python runtime (PyPy's) a string that is not UTF-8 as UnicodeDecodeError.
PARSE_ERRORS: Final = (DecodeError, UnicodeDecodeError)


#: Header values by their encoding (the body of a Header message), shared by every VM: the same
#: headers come with one invocation after another, and a Header is immutable. Emptied when full.
_HEADERS: dict[bytes, Header] = {}
_HEADERS_LIMIT: Final = 1024


def read_headers(data: bytes, position: int) -> tuple[list[Header], int] | None:
    """The ``headers`` (``repeated Header{key: 1, value: 2}`` as field 1) of an input entry or
    command at ``data[position:]``, read without protobuf, and where they end. ``None`` if one
    is not the usual shape: one-byte lengths, the key and then the value (either left out when
    empty), UTF-8 (the caller then decodes the message with protobuf, which decides)."""
    headers: list[Header] = []
    append = headers.append
    size = len(data)
    known = _HEADERS
    while position < size and data[position] == 0x0A:
        if position + 1 == size:
            return None
        length = data[position + 1]
        end = position + 2 + length
        if length >= 0x80 or end > size:
            return None
        encoded = data[position + 2 : end]
        header = known.get(encoded)
        if header is None:
            header = _header(encoded)
            if header is None:
                return None
            if len(known) >= _HEADERS_LIMIT:
                known.clear()
            known[encoded] = header
        append(header)
        position = end
    return headers, position


def input_headers(frame: bytes) -> tuple[list[Header], int]:
    """The headers of an input entry or command ``frame`` (whole, header included) and where
    they end; the position is past the frame's end when they are not the usual shape (see
    ``read_headers``)."""
    if len(frame) > HEADER_SIZE and frame[HEADER_SIZE] == 0x0A:
        read = read_headers(frame, HEADER_SIZE)
        return read if read is not None else ([], len(frame) + 1)
    return [], HEADER_SIZE


def _header(encoded: bytes) -> Header | None:
    # (``encoded`` is under 128 bytes: a length byte of 0x80 or more, the start of a longer
    # varint, always runs past its end.)
    size = len(encoded)
    key = value = b""
    position = 0
    if size >= 2 and encoded[0] == 0x0A:  # 1: key
        end = 2 + encoded[1]
        if end > size:
            return None
        key = encoded[2:end]
        position = end
    if position + 2 <= size and encoded[position] == 0x12:  # 2: value
        end = position + 2 + encoded[position + 1]
        if end > size:
            return None
        value = encoded[position + 2 : end]
        position = end
    if position != size:
        return None
    try:
        return Header(key.decode(), value.decode())
    except UnicodeDecodeError:
        return None


def decode_body(cls: type[Message], body: bytes, code: int) -> Message:
    """Decode a message body; a malformed one is a ``VMError`` with ``code``."""
    try:
        return cls.FromString(body)
    except PARSE_ERRORS as error:
        raise VMError(code, f"cannot decode protocol message {cls.__name__}: {error}") from None


def failure_from(message: Any) -> Failure:
    """A protocol ``Failure`` message (either version) as a value; codes are u16, larger ones truncated as
    the Rust core does."""
    return Failure(message.code & 0xFFFF, message.message)


class Ended:
    """The invocation wrote its End message; the output is closed."""

    __slots__ = ()
    name: ClassVar[str] = "Ended"


class Suspended:
    """The invocation suspended; the output is closed."""

    __slots__ = ()
    name: ClassVar[str] = "Suspended"


class Failed:
    """The VM failed with ``error``; the ErrorMessage was written and the output closed."""

    __slots__ = ("error",)
    name: ClassVar[str] = "Failed"

    def __init__(self, error: VMError) -> None:
        self.error = error


ENDED = Ended()
SUSPENDED = Suspended()


class CoreVM:
    """The state machine of one invocation attempt (sans-IO).

    ``CoreVM(request_headers, *, clock=time.time)`` negotiates the protocol
    version from the ``content-type`` header (``VMError`` 415 when missing or
    unsupported) and returns the journal model for it. ``clock`` returns
    seconds since the UNIX epoch; it dates sleeps and delayed sends.
    """

    __slots__ = (
        "_clock",
        "_debug",
        "_decoder",
        "_eager",
        "_input_closed",
        "_known",
        "_output",
        "_output_closed",
        "_start",
        "_state",
        "_version",
    )

    _version: Version
    _state: object
    _clock: Callable[[], float]
    _output: list[bytes]
    _output_closed: bool
    _decoder: Decoder
    _input_closed: bool
    _eager: EagerState
    _debug: bool
    #: Set by each model: the classes its StartMessage is read as (see ``_on_start``) and the
    #: error code of a malformed one.
    _START_VIEW: ClassVar[Any]
    _START_MESSAGE: ClassVar[type[Message]]
    _START_ERROR: ClassVar[int]
    #: The StartMessage (once received), and its known_entries.
    _start: Any
    _known: int

    def __new__(cls, request_headers: HeadersLike, *, clock: Callable[[], float] = time.time) -> CoreVM:
        # All set-up happens here (no __init__): one call builds the VM of the negotiated model.
        content_type = lookup(request_headers, "content-type")
        found = _NEGOTIATED.get(content_type) if content_type is not None else None
        if found is None:
            version = negotiate(request_headers)
            found = (version, _MODELS[version])
        version, model = found
        if cls is not CoreVM and not issubclass(model, cls):
            raise VMError(UNSUPPORTED_MEDIA_TYPE, f"{cls.__name__} does not speak protocol {version}")
        if clock is not time.time and not callable(clock):
            raise TypeError("clock must be a callable returning seconds since the UNIX epoch")
        vm = object.__new__(model)
        vm._version = version
        vm._clock = clock
        vm._output = []
        vm._output_closed = False
        vm._decoder = _IDLE_DECODER  # (replaced by its own once one is needed: see notify_input)
        vm._input_closed = False
        vm._eager = EagerState()
        vm._start = None
        vm._known = 0
        vm._debug = debug = logger.isEnabledFor(logging.DEBUG)
        vm._setup()
        if debug:
            logger.debug("negotiated protocol %s", version)
        return vm

    def _setup(self) -> None:
        """Set the model's own fields (called once, by ``__new__``)."""
        raise NotImplementedError

    # ---- shared machinery ----

    @property
    def version(self) -> Version:
        """The negotiated protocol version."""
        return self._version

    def _write(self, frame: bytes) -> None:
        if not self._output_closed:
            self._output.append(frame)

    def _close_output(self) -> None:
        self._output_closed = True

    def _set_state(self, state: object) -> None:
        if self._debug:
            logger.debug("state %s -> %s", type(self._state).__name__, type(state).__name__)
        self._state = state

    def _fail(self, error: VMError, next_retry_delay: timedelta | None = None, related: Related = True) -> VMError:
        """Make ``error`` the sticky failure (once) and return the error to raise.

        In ``Failed`` the stored error is returned. After End or Suspension
        nothing is written and nothing changes: ``error`` is returned as is.
        ``related`` says which journal position the ErrorMessage names: the
        current one (``True``), none (``False``, for errors in the runtime's
        input), or an explicit ``(index, name, type)``. V1/V2 always name the
        current one, as the protocol's original core does.
        """
        state = self._state
        if state.__class__ is Failed:
            return state.error
        if state.__class__ is Ended or state.__class__ is Suspended:
            return error
        self._write(self._error_frame(error, next_retry_delay, related))
        self._close_output()
        if self._debug:
            logger.debug("failed: %s", error)
        self._state = Failed(error)
        return error

    def _error_frame(self, error: VMError, next_retry_delay: timedelta | None, related: Related) -> bytes:
        raise NotImplementedError

    def _on_start(self, buffer: bytes, end: int) -> None:
        """Decode the StartMessage that is ``buffer[:end]`` (header included) and set up what it
        carries: the eager state, and how many journal messages follow. ``VMError`` with the
        model's ``_START_ERROR`` code if it is malformed. The caller then moves to the state that
        takes the journal in.

        It is read as the model's ``_START_VIEW`` (protocol/_start_view.py), whose eager state is
        a map to look values up in; only if that fails or drops a state entry, as the declared
        ``_START_MESSAGE``, which tells a malformed message from a state key that is not UTF-8
        (each its own error)."""
        # A large body (eager state) is parsed in place: copying it out would double its memory.
        # Without the byte that starts field 4 anywhere in a small body, the state map is empty.
        # (A large body is not searched: it nearly always holds a state map anyway.)
        if end < _PARSE_IN_PLACE:
            body: bytes | memoryview = buffer[HEADER_SIZE:end]
            has_state = _STATE_MAP_TAG in body or _STATE_MAP_TAG_LONG in body
        else:
            body = memoryview(buffer)[HEADER_SIZE:end]
            has_state = True
        try:
            start: Any = self._START_VIEW.FromString(body)
        except PARSE_ERRORS:
            start = None
        if start is not None and has_state and len(UnknownFieldSet(start)):
            # upb keeps a state entry it cannot put in the map (one with fields StateEntry does not
            # declare) as an unknown field instead: then only the declared message has every entry.
            start = None
        if start is None:
            message_class = self._START_MESSAGE
            try:
                start = message_class.FromString(body)  # type: ignore[arg-type]  # (any buffer will do)
            except PARSE_ERRORS as error:
                raise VMError(
                    self._START_ERROR, f"cannot decode protocol message {message_class.__name__}: {error}"
                ) from None
            self._start = start
            self._eager.load(start.state_map, start.partial_state)  # raises for a key that is not UTF-8
        else:
            self._start = start
            if has_state:
                self._eager.use(start.state_map, start.partial_state)
            else:
                self._eager.partial = start.partial_state  # (saves creating the map's container)
        self._known = known = start.known_entries
        if known == 0:
            raise VMError(INTERNAL, "Known entries is zero, expected >= 1")
        if self._debug:
            logger.debug(
                "start: invocation %s, %d known entries, %d eager state entries (partial: %s)",
                start.debug_id,
                known,
                len(start.state_map),
                start.partial_state,
            )

    def _give_up_or_retry(
        self, failure: Failure, attempt: timedelta, so_far: EntryRetryInfo, policy: RetryPolicy, related: Related
    ) -> Failure:
        """A run failed with a retryable ``failure``: ask ``policy``.

        To retry, the attempt fails (ErrorMessage with the failure's code and
        the policy's delay) and this raises the ``VMError``; otherwise the
        failure is returned, to become the run's terminal result.
        """
        check_duration(attempt, "attempt_duration")
        decision = policy.decide(EntryRetryInfo(so_far.retry_count + 1, so_far.retry_loop_duration + attempt))
        if decision.retry:
            raise self._fail(VMError(failure.code, failure.message), decision.delay, related)
        return failure

    def _on_frames(self, frames: list[bytes]) -> None:
        """Handle input messages, whole frames (header included), in order."""
        raise NotImplementedError

    def _on_input_closed(self) -> None:
        raise NotImplementedError

    # ---- the public API: input and output ----

    def get_response_head(self) -> ResponseHead:
        """Status 200 and the negotiated content type, for the HTTP response."""
        return ResponseHead(200, [Header("content-type", self._version.content_type)])

    def notify_input(self, buffer: bytes | bytearray | memoryview) -> None:
        """Feed bytes of the request body, split anywhere.

        Never raises for what the bytes contain: a protocol violation becomes
        the sticky failure. Raises ``TypeError`` for a non bytes-like buffer.
        """
        if self._state.__class__ is Failed:
            if buffer.__class__ is not bytes:
                _check_chunk(buffer)
            return
        decoder = self._decoder
        try:
            pending = decoder._buffer
            if decoder._offset != len(pending):
                # Bytes pending: nothing to do until the chunk completes the pending message; then
                # the pending bytes and the chunk, joined, are read as a chunk of their own.
                if pending.__class__ is bytearray and len(pending) - decoder._offset + len(buffer) < decoder._need:
                    pending += buffer  # (Decoder.join's first case, inlined: small chunks)
                    return
                joined = decoder.join(buffer)
                if joined is None:
                    return
                buffer = joined
            # Nothing pending: the model may take the usual messages where they lie.
            if self._start is not None:
                start = self._read_in_place(buffer) if buffer.__class__ is bytes else 0
                if start and start == len(buffer):
                    return
            elif buffer.__class__ is bytes:  # (no StartMessage yet)
                start = self._start_in_place(buffer) if buffer else 0
                if start == len(buffer):
                    return
            else:
                start = 0
            if decoder is _IDLE_DECODER:  # the first bytes the VM does not take in place
                decoder = self._decoder = Decoder(DEFAULT_MAX_MESSAGE_SIZE)
            frames = decoder.feed_from(buffer, start) if start else decoder.feed(buffer)
            if frames:
                self._on_frames(frames)
            if not decoder._need:
                # The decoder stopped at a header announcing a body over the limit: raise it now.
                decoder.frames()
        except VMError as error:
            self._fail(error, related=False)
        except TypeError:
            _check_chunk(buffer)  # (the clear message if the chunk is the cause)
            raise

    def _read_in_place(self, buffer: bytes) -> int:
        """Take the whole messages at the start of ``buffer`` (a chunk that begins with a frame) that
        the model reads without cutting the chunk into frames: the usual completions while the
        handler runs, and journal messages while the journal arrives. Returns how many bytes were
        taken (the decoder gets the rest)."""
        return 0

    def _start_in_place(self, buffer: bytes) -> int:
        """Where the decoder is to start in ``buffer``: after the StartMessage that begins the chunk
        whole, which is decoded here; else 0. A large one (eager state) is decoded where it lies,
        never copied out. (``notify_input`` calls it with nothing pending in the decoder.)"""
        if self._state.__class__ is WaitingStart and len(buffer) >= HEADER_SIZE and not buffer[0] and not buffer[1]:
            size = len(buffer)
            end: int = HEADER_SIZE + _unpack_length_from(buffer, 4)[0]
            if end <= size and end - HEADER_SIZE <= self._decoder._max:
                self._on_start(buffer, end)
                return self._journal_in_place(buffer, end)
        return 0

    def _journal_in_place(self, buffer: bytes, offset: int) -> int:
        """Right after ``_on_start``: take the journal messages to replay that follow the
        StartMessage in its chunk, from ``offset`` (the usual request holds its whole journal in
        one chunk), up to the first that the model does not take this way; then move to the state
        that replays them, or that waits for the rest. Returns where the decoder is to go on."""
        raise NotImplementedError

    def _take_frames(
        self, buffer: bytes, offset: int, heads: bytes, wanted: int, append: Callable[[bytes], object]
    ) -> tuple[int, int]:
        """Slice up to ``wanted`` whole frames from ``buffer`` at ``offset`` and ``append`` each, while
        ``heads[first header byte]`` is set; stops at anything else, a frame the chunk does not hold
        whole, or one over the size limit (the decoder reports it). Returns (offset, frames taken)."""
        size = len(buffer)
        last = size - HEADER_SIZE  # a header fits if offset <= last
        limit = self._decoder._max
        unpack = _unpack_length_from
        left = wanted
        while left and offset <= last and heads[buffer[offset]]:
            length = unpack(buffer, offset + 4)[0]
            end = offset + HEADER_SIZE + length
            if end > size or length > limit:
                break
            append(buffer[offset:end])
            left -= 1
            offset = end
        return offset, wanted - left

    def notify_input_closed(self) -> None:
        """The request body ended. May suspend the invocation (see the contract)."""
        self._input_closed = True
        if self._state.__class__ is Failed:
            return
        try:
            decoder = self._decoder
            pending = len(decoder._buffer) - decoder._offset
            if pending:
                raise VMError(
                    PROTOCOL_VIOLATION,
                    f"The input closed in the middle of a message: {pending} bytes of an incomplete message",
                )
            self._on_input_closed()
        except VMError as error:
            self._fail(error, related=False)

    def notify_error(self, message: str, description: str = "", next_retry_delay: timedelta | None = None) -> None:
        """Fail the attempt with code 500: one ErrorMessage, then the output closes.

        ``next_retry_delay`` asks the runtime to retry after that delay (V2+).
        A no-op once the output is closed.
        """
        if not isinstance(message, str) or not isinstance(description, str):
            raise TypeError("message and description must be str")
        if next_retry_delay is not None and not isinstance(next_retry_delay, timedelta):
            raise TypeError("next_retry_delay must be a datetime.timedelta or None")
        self._fail(VMError(INTERNAL, message, description), next_retry_delay)

    def take_output(self) -> bytes | None:
        """Everything written since the last call; ``b""`` if nothing; ``None`` at EOF.

        EOF means the output was closed (End, Suspension or Error) and all of it
        was taken.
        """
        output = self._output
        if output:
            data = output[0] if len(output) == 1 else b"".join(output)
            output.clear()
            return data
        if self._output_closed:
            return None
        return b""

    # ---- the public API: execution (implemented by the journal models) ----

    def is_ready_to_execute(self) -> bool:
        """True once the StartMessage and the journal to replay arrived.

        Raises the sticky ``VMError`` if the VM failed, and a ``VMError`` once
        the output is closed.
        """
        raise NotImplementedError

    def notify_await_point(self, handle: int) -> None:
        """User code now waits for ``handle``. Suspends if the input is closed and
        the result cannot arrive any more. Never raises for protocol reasons."""
        raise NotImplementedError

    def take_async_result(self, handle: int) -> Value | None:
        """The result of ``handle``, or ``None`` if not ready yet (feed more input).

        A result is returned once. Raises ``SuspendedError`` once the
        invocation suspended and ``VMError`` on failure.
        """
        raise NotImplementedError

    def sys_input(self) -> Input:
        """The invocation's input (the first journal entry); call it first, once."""
        raise NotImplementedError

    def sys_state_get(self, key: str) -> int:
        """Read state ``key``; the handle resolves to ``Success``, or ``Void`` when unset."""
        raise NotImplementedError

    def sys_state_get_keys(self) -> int:
        """List the state keys; the handle resolves to ``StateKeys``."""
        raise NotImplementedError

    def sys_state_set(self, key: str, value: bytes) -> None:
        """Set state ``key`` to ``value``."""
        raise NotImplementedError

    def sys_state_clear(self, key: str) -> None:
        """Remove state ``key``."""
        raise NotImplementedError

    def sys_state_clear_all(self) -> None:
        """Remove every state key."""
        raise NotImplementedError

    def sys_sleep(self, duration: timedelta) -> int:
        """Sleep durably for ``duration`` (from now by the VM's clock); the handle resolves to ``Void``."""
        raise NotImplementedError

    def sys_call(self, target: Target, input: bytes) -> int:
        """Call a handler; the handle resolves to its ``Success`` or ``Failure``."""
        raise NotImplementedError

    def sys_send(self, target: Target, input: bytes, delay: timedelta | None = None) -> None:
        """Send a one-way call, now (``delay=None``) or at clock + ``delay``."""
        raise NotImplementedError

    def sys_awakeable(self) -> tuple[str, int]:
        """A new awakeable: its id (for whoever completes it) and the handle to await it."""
        raise NotImplementedError

    def sys_complete_awakeable(self, awakeable_id: str, value: NonEmptyValue) -> None:
        """Resolve (``Success``) or reject (``Failure``) the awakeable ``awakeable_id``."""
        raise NotImplementedError

    def sys_get_promise(self, key: str) -> int:
        """Await the workflow's durable promise ``key``."""
        raise NotImplementedError

    def sys_peek_promise(self, key: str) -> int:
        """Peek the durable promise ``key``: ``Void`` if not completed yet."""
        raise NotImplementedError

    def sys_complete_promise(self, key: str, value: NonEmptyValue) -> int:
        """Complete the durable promise ``key``; resolves to ``Void``, or ``Failure`` if already completed."""
        raise NotImplementedError

    def sys_run_enter(self, name: str) -> Executed | NotExecuted:
        """Start the run ``name``: ``Executed`` when journaled (do not run it), else ``NotExecuted``."""
        raise NotImplementedError

    def sys_run_exit(self, result: Success | Failure | RetryableFailure, retry_policy: RetryPolicy) -> int:
        """Record the run's outcome; the handle resolves once the runtime stored it.

        A ``RetryableFailure`` asks ``retry_policy``: to retry, the attempt
        fails (``VMError`` with the failure's code) and the runtime retries the
        invocation; otherwise the failure becomes the run's terminal result.
        """
        raise NotImplementedError

    def sys_write_output(self, value: NonEmptyValue) -> None:
        """Write the handler's result."""
        raise NotImplementedError

    def sys_end(self) -> None:
        """End the invocation: write End and close the output. A no-op once closed."""
        raise NotImplementedError
