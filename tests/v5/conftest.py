"""Shared helpers of the protocol V5/V6 scenario tests.

They mirror the harness of the Rust core's ``src/tests/mod.rs`` (core-v5.md §7):
``start_message(n)`` and ``input_command(b)`` build the usual first two
messages, ``invocation()`` is ``VMTestCase::new()`` (on V6 unless told
otherwise), and ``suspended_waiting_completion(c)`` /
``suspended_waiting_signal(s)`` are the V5/V6 (flattened) form of the
upstream matchers. Test modules import them with ``from .conftest import ...``.

Upstream asserts a message at a time with ``next_decoded``; here the whole
decoded output (``Output.messages``) is compared with the expected protobuf
messages, which also checks that nothing else was written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest
from google.protobuf.message import Message

from restate_core import CoreVM, VMError
from restate_core.protocol import Version, v5
from restate_core.testing import Frame, Invocation, MessageLike, decode_output, encode_input, notification

#: The fixed clock of the tests: seconds since the UNIX epoch, and the same instant in ms.
NOW_SECONDS = 1000.0
NOW_MILLIS = 1_000_000

#: Run a test on both V5 and V6 (the default everywhere else is V6).
both_versions = pytest.mark.parametrize("version", [Version.V5, Version.V6], ids=str)

T = v5.MessageType
GET_LAZY_STATE_COMPLETION = int(T.GET_LAZY_STATE_COMPLETION_NOTIFICATION)
GET_LAZY_STATE_KEYS_COMPLETION = int(T.GET_LAZY_STATE_KEYS_COMPLETION_NOTIFICATION)
GET_PROMISE_COMPLETION = int(T.GET_PROMISE_COMPLETION_NOTIFICATION)
PEEK_PROMISE_COMPLETION = int(T.PEEK_PROMISE_COMPLETION_NOTIFICATION)
COMPLETE_PROMISE_COMPLETION = int(T.COMPLETE_PROMISE_COMPLETION_NOTIFICATION)
SLEEP_COMPLETION = int(T.SLEEP_COMPLETION_NOTIFICATION)
CALL_COMPLETION = int(T.CALL_COMPLETION_NOTIFICATION)
CALL_INVOCATION_ID_COMPLETION = int(T.CALL_INVOCATION_ID_COMPLETION_NOTIFICATION)
RUN_COMPLETION = int(T.RUN_COMPLETION_NOTIFICATION)
SIGNAL = int(T.SIGNAL_NOTIFICATION)


def start_message(
    known_entries: int,
    *,
    invocation_id: bytes = b"123",
    debug_id: str | None = None,
    partial_state: bool = True,
    state_map: Mapping[str, bytes] | None = None,
    key: str = "",
    retry_count: int = 0,
    retry_duration_ms: int = 0,
    random_seed: int = 0,
) -> v5.StartMessage:
    """``start_message(n)`` of the spec: id ``b"123"``, debug id ``"123"``, partial state.

    Tests that spell out ``StartMessage{..Default::default()}`` upstream pass
    ``partial_state=False`` (the proto default: complete state).
    """
    return v5.StartMessage(
        id=invocation_id,
        debug_id=invocation_id.decode() if debug_id is None else debug_id,
        known_entries=known_entries,
        state_map=[v5.StartMessage.StateEntry(key=k.encode(), value=v) for k, v in (state_map or {}).items()],
        partial_state=partial_state,
        key=key,
        retry_count_since_last_stored_entry=retry_count,
        duration_since_last_stored_entry=retry_duration_ms,
        random_seed=random_seed,
    )


def input_command(value: bytes | None = b"", headers: Iterable[tuple[str, str]] = ()) -> v5.InputCommandMessage:
    """``input_entry_message(b)`` of the spec; ``value=None`` is ``InputCommandMessage::default()``."""
    message = v5.InputCommandMessage(headers=[v5.Header(key=k, value=v) for k, v in headers])
    if value is not None:
        message.value.content = value
    return message


def invocation(version: Version = Version.V6, clock: float = NOW_SECONDS) -> Invocation:
    """A fresh invocation (``VMTestCase::new()``) with a fixed clock; checks the response head."""
    inv = Invocation(version, clock=lambda: clock)
    head = inv.vm.get_response_head()
    assert head.status_code == 200
    assert [(h.key, h.value) for h in head.headers] == [("content-type", version.content_type)]
    return inv


def new_vm(version: Version = Version.V6, clock: float = NOW_SECONDS) -> CoreVM:
    """A bare ``CoreVM``, for tests that drive it without the test kit."""
    return CoreVM([("content-type", version.content_type)], clock=lambda: clock)


def feed(vm: CoreVM, *messages: MessageLike, version: Version = Version.V6) -> None:
    """What a handler does upstream with its encoder: inject more runtime messages."""
    for message in messages:
        vm.notify_input(encode_input(version, [message]))


def drain(vm: CoreVM, version: Version = Version.V6) -> list[Message]:
    """Take the output until EOF (asserting that it closed) and decode it."""
    chunks = []
    while (chunk := vm.take_output()) is not None:
        assert chunk, "the output is still open"
        chunks.append(chunk)
    return decode_output(version, b"".join(chunks))


# ---- notifications ----


def cancel_signal_notification() -> Frame:
    """``cancel_signal_notification()``: ``SignalNotification{idx: 1, void}``."""
    return notification(SIGNAL, signal_id=1, void=True)


def signal_notification(signal_id: int, value: bytes) -> Frame:
    return notification(SIGNAL, signal_id=signal_id, value=value)


def invocation_id_notification(completion_id: int, invocation_id: str) -> Frame:
    return notification(CALL_INVOCATION_ID_COMPLETION, completion_id=completion_id, invocation_id=invocation_id)


# ---- expected output messages ----


def suspended_waiting_completion(completion_id: int) -> v5.SuspensionMessage:
    """``suspended_waiting_completion(c)``: ``{waiting_completions: [c], waiting_signals: [1]}``."""
    return v5.SuspensionMessage(waiting_completions=[completion_id], waiting_signals=[1])


def suspended_waiting_signal(signal_id: int) -> v5.SuspensionMessage:
    """``suspended_waiting_signal(s)``: the signal, then the cancel signal 1 (spec §3.6: ``[17, 1]``)."""
    return v5.SuspensionMessage(waiting_signals=[signal_id, 1])


def output_success(value: bytes) -> v5.OutputCommandMessage:
    """``is_output_with_success(b)``."""
    return v5.OutputCommandMessage(value=v5.Value(content=value))


def output_failure(code: int, message: str) -> v5.OutputCommandMessage:
    """``is_output_with_failure(code, message)``."""
    return v5.OutputCommandMessage(failure=v5.Failure(code=code, message=message))


def end() -> v5.EndMessage:
    return v5.EndMessage()


def value(content: bytes) -> v5.Value:
    return v5.Value(content=content)


def eager_get(key: bytes, content: bytes | None) -> v5.GetEagerStateCommandMessage:
    """``GetEagerState{key, value}``, or ``{key, void}`` for ``content=None``."""
    message = v5.GetEagerStateCommandMessage(key=key)
    if content is None:
        message.void.SetInParent()
    else:
        message.value.content = content
    return message


def cancel_send_signal(target: str) -> v5.SendSignalCommandMessage:
    """``SendSignal{target, idx: 1, void}``: forwards the cancellation to a call."""
    message = v5.SendSignalCommandMessage(target_invocation_id=target, idx=1)
    message.void.SetInParent()
    return message


def error_message(
    code: int,
    message: str,
    stacktrace: str = "",
    *,
    related: tuple[int, str, int] | None = None,
    next_retry_delay: int | None = None,
) -> v5.ErrorMessage:
    """An ErrorMessage; ``related`` is ``(index, name, type)`` (an empty name is left unset)."""
    error = v5.ErrorMessage(code=code, message=message, stacktrace=stacktrace)
    if related is not None:
        index, name, command_type = related
        error.related_command_index = index
        error.related_command_type = command_type
        if name:
            error.related_command_name = name
    if next_retry_delay is not None:
        error.next_retry_delay = next_retry_delay
    return error


def error_from(error: VMError, **kwargs: object) -> v5.ErrorMessage:
    """The ErrorMessage that carries ``error`` (``error_message_as_error``)."""
    return error_message(error.code, error.message, error.description, **kwargs)  # type: ignore[arg-type]


def raises_vm_error(call: object, *args: object) -> VMError:
    """Call ``call(*args)``, which must raise a ``VMError``; return it."""
    with pytest.raises(VMError) as info:
        call(*args)  # type: ignore[operator]
    return info.value
