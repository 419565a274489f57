"""Shared helpers of the protocol V2 scenario tests.

They mirror the harness of the Rust core's ``src/tests/mod.rs`` (core-v2.md §7.1):
``start_message(n)`` and ``input_entry(b)`` build the usual first two messages,
``invocation()`` is ``VMTestCase::new()``. Test modules import them with
``from conftest import ...``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from google.protobuf.message import Message

from restate_core import CoreVM, VMError
from restate_core.protocol import Version, v2
from restate_core.testing import Invocation, decode_output, encode_input

#: ``related_entry_index`` of an ErrorMessage written before any journal entry exists.
NO_ENTRY = 0xFFFFFFFF

#: The fixed clock of the tests that check a wake-up time: seconds since the UNIX epoch.
NOW_SECONDS = 1000.0
NOW_MILLIS = 1_000_000

V2_CONTENT_TYPE = "application/vnd.restate.invocation.v2"


def start_message(
    known_entries: int,
    *,
    invocation_id: str = "123",
    partial_state: bool = True,
    state_map: Mapping[str, bytes] | None = None,
    key: str = "",
    retry_count: int = 0,
    retry_duration_ms: int = 0,
) -> v2.StartMessage:
    """``start_message(n)`` of the spec: id ``b"123"``, debug id ``"123"``, partial state.

    The tests that spell out ``StartMessage{..Default::default()}`` upstream pass
    ``partial_state=False`` (the proto default: complete state).
    """
    return v2.StartMessage(
        id=invocation_id.encode(),
        debug_id=invocation_id,
        known_entries=known_entries,
        state_map=[v2.StartMessage.StateEntry(key=k.encode(), value=v) for k, v in (state_map or {}).items()],
        partial_state=partial_state,
        key=key,
        retry_count_since_last_stored_entry=retry_count,
        duration_since_last_stored_entry=retry_duration_ms,
    )


def input_entry(value: bytes = b"", headers: Iterable[tuple[str, str]] = ()) -> v2.InputEntryMessage:
    """``input_entry_message(b)`` of the spec."""
    return v2.InputEntryMessage(headers=[v2.Header(key=k, value=v) for k, v in headers], value=value)


def invocation(clock: float = NOW_SECONDS) -> Invocation:
    """A fresh V2 invocation (``VMTestCase::new()``), with a fixed clock."""
    inv = Invocation(Version.V2, clock=lambda: clock)
    head = inv.vm.get_response_head()
    assert head.status_code == 200
    assert [(h.key, h.value) for h in head.headers] == [("content-type", V2_CONTENT_TYPE)]
    return inv


def new_vm(clock: float = NOW_SECONDS) -> CoreVM:
    """A bare V2 ``CoreVM``, for tests that drive it without the test kit."""
    return CoreVM([("content-type", V2_CONTENT_TYPE)], clock=lambda: clock)


def feed(vm: CoreVM, *messages: Message) -> None:
    """What a handler does upstream with its encoder: inject more runtime messages."""
    for message in messages:
        vm.notify_input(encode_input(Version.V2, [message]))


def completion(
    index: int,
    *,
    value: bytes | None = None,
    empty: bool = False,
    failure: tuple[int, str] | None = None,
) -> v2.CompletionMessage:
    """``C(i, res)``: a CompletionMessage with one result."""
    message = v2.CompletionMessage(entry_index=index)
    if value is not None:
        message.value = value
    elif empty:
        message.empty.SetInParent()
    elif failure is not None:
        message.failure.code, message.failure.message = failure
    return message


def ack(index: int) -> v2.EntryAckMessage:
    """``Ack(i)``."""
    return v2.EntryAckMessage(entry_index=index)


def output(value: bytes | None = None, *, failure: tuple[int, str] | None = None) -> v2.OutputEntryMessage:
    """``O(v)`` or ``O(F(code, message))``."""
    if failure is not None:
        return v2.OutputEntryMessage(failure=v2.Failure(code=failure[0], message=failure[1]))
    assert value is not None
    return v2.OutputEntryMessage(value=value)


def suspension(*indexes: int) -> v2.SuspensionMessage:
    """``Susp([i, ...])``."""
    return v2.SuspensionMessage(entry_indexes=list(indexes))


def end() -> v2.EndMessage:
    return v2.EndMessage()


def error_as_vm_error(message: Message) -> VMError:
    """``error_message_as_vm_error``: an ErrorMessage's code, message and description only."""
    assert isinstance(message, v2.ErrorMessage), f"expected an ErrorMessage, got {type(message).__name__}: {message}"
    return VMError(message.code, message.message, message.description)


def assert_related_entry(message: Message, index: int, name: str, entry_type: int) -> None:
    """The journal position an ErrorMessage names (spec §3.3: the three fields are always present)."""
    assert isinstance(message, v2.ErrorMessage)
    assert message.HasField("related_entry_index")
    assert message.HasField("related_entry_name")
    assert message.HasField("related_entry_type")
    assert (message.related_entry_index, message.related_entry_name, message.related_entry_type) == (
        index,
        name,
        entry_type,
    )


def assert_journal_mismatch(error: VMError, index: int, field: str, recorded: str, current: str) -> None:
    """A 570 that names the entry index and, on one line, the differing field with both values.

    The exact upstream text (Rust ``Debug`` of prost structs) is not reproduced.
    """
    assert error.code == 570, error
    assert f"entry {index}" in error.message, error.message
    lines = [line for line in error.message.splitlines() if field in line and recorded in line and current in line]
    assert lines, f"no line names {field!r} with {recorded!r} and {current!r}: {error.message}"


def drain(vm: CoreVM) -> list[Message]:
    """Take the output until EOF (asserting that it closed) and decode it."""
    chunks = []
    while (chunk := vm.take_output()) is not None:
        assert chunk, "the output is still open"
        chunks.append(chunk)
    return decode_output(Version.V2, b"".join(chunks))
