"""The error catalogue of core-v2.md §3.12 and the ErrorMessage composition of §3.3.

Not upstream scenario tests: each case checks the error code, the essential
text of the message, that exactly one ErrorMessage is written before EOF, and
the journal position it names (``related_entry_*``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from google.protobuf.message import Message

from restate_core import CoreVM, RetryPolicy, Success, SuspendedError, VMError
from restate_core.protocol import COMPLETED, encode_frame, v2
from restate_core.testing import Frame, Invocation, Output, await_result

from .conftest import (
    NO_ENTRY,
    V2_CONTENT_TYPE,
    assert_journal_mismatch,
    assert_related_entry,
    completion,
    drain,
    error_as_vm_error,
    input_entry,
    invocation,
    output,
    start_message,
)

T = v2.MessageType


def failed_before_execution(inv: Invocation, code: int, text: str) -> v2.ErrorMessage:
    """The VM failed on its input: is_ready_to_execute raises, one ErrorMessage, EOF."""
    with pytest.raises(VMError) as raised:
        inv.vm.is_ready_to_execute()
    assert raised.value.code == code
    assert text in raised.value.message
    assert raised.value.description == ""
    (message,) = drain(inv.vm)
    assert error_as_vm_error(message) == raised.value
    return message  # type: ignore[return-value]


def single_error(out: Output, code: int, text: str) -> v2.ErrorMessage:
    errors = [m for m in out.messages if isinstance(m, v2.ErrorMessage)]
    assert len(errors) == 1
    assert out.messages[-1] is errors[0], "the ErrorMessage is the last message"
    error = errors[0]
    assert error.code == code
    assert text in error.message
    return error


# ---- content type negotiation (415) ----


def test_missing_content_type() -> None:
    with pytest.raises(VMError) as raised:
        CoreVM([])
    assert raised.value.code == 415
    assert "Missing content type" in raised.value.message


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/vnd.restate.invocation.v3", "application/vnd.restate.invocation.v2; x=y"],
)
def test_unsupported_content_type(content_type: str) -> None:
    with pytest.raises(VMError) as raised:
        CoreVM([("content-type", content_type)])
    assert raised.value.code == 415
    assert "V2" in raised.value.message  # names the supported range


def test_content_type_header_name_is_case_insensitive() -> None:
    vm = CoreVM([("Content-Type", V2_CONTENT_TYPE)])
    head = vm.get_response_head()
    assert (head.status_code, [(h.key, h.value) for h in head.headers]) == (200, [("content-type", V2_CONTENT_TYPE)])


# ---- errors in the runtime's input (before any entry: related index 0xFFFFFFFF) ----


def test_known_entries_is_zero() -> None:
    message = failed_before_execution(invocation().input(start_message(0)), 500, "Known entries is zero")
    assert_related_entry(message, NO_ENTRY, "", 0)


def test_bad_eager_state_key() -> None:
    start = v2.StartMessage(id=b"123", known_entries=1, state_map=[v2.StartMessage.StateEntry(key=b"\xff", value=b"")])
    message = failed_before_execution(invocation().input(start), 500, "Cannot convert a eager state key into UTF-8")
    assert_related_entry(message, NO_ENTRY, "", 0)


def test_unknown_message_type() -> None:
    inv = invocation()
    inv.vm.notify_input(encode_frame(0x0006, b""))
    failed_before_execution(inv, 500, "unknown protocol.message code 0x0006")


def test_undecodable_message() -> None:
    inv = invocation()
    inv.vm.notify_input(encode_frame(T.START, b"\xff\xff\xff"))
    failed_before_execution(inv, 500, "cannot decode protocol message")


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(v2.SuspensionMessage(entry_indexes=[1]), id="suspension"),
        pytest.param(v2.ErrorMessage(code=500), id="error"),
        pytest.param(v2.EndMessage(), id="end"),
    ],
)
def test_messages_the_runtime_never_sends(message: Message) -> None:
    inv = invocation().input(start_message(1), input_entry(), message)
    failed_before_execution(inv, 571, "Expected input message to be entry")


def test_entry_after_the_known_entries() -> None:
    inv = invocation().input(start_message(1), input_entry(), input_entry())
    failed_before_execution(inv, 571, "Expected entry messages only when waiting replay entries")


def test_completion_without_result() -> None:
    inv = invocation().input(start_message(1), input_entry(), v2.CompletionMessage(entry_index=1))
    failed_before_execution(inv, 571, "The completion message MUST contain a result")


@pytest.mark.parametrize(
    "message",
    [pytest.param(completion(1, value=b""), id="completion"), pytest.param(v2.EntryAckMessage(), id="ack")],
)
def test_completion_or_ack_before_start(message: Message) -> None:
    failed_before_execution(invocation().input(message), 571, "Unexpected state")


def test_input_closed_before_start() -> None:
    inv = invocation()
    inv.vm.notify_input_closed()
    failed_before_execution(inv, 571, "The input was closed while still waiting to receive all the `known_entries`")


def test_custom_entry_is_buffered_but_cannot_be_replayed() -> None:
    # §1.1 quirk: any code with a bit of 0xFC00 is an entry; replaying it is a journal mismatch.
    inv = invocation().input(start_message(2), input_entry())
    inv.vm.notify_input(encode_frame(0x0402, b""))
    inv.vm.notify_input_closed()
    assert inv.vm.is_ready_to_execute()
    inv.vm.sys_input()
    with pytest.raises(VMError) as raised:
        inv.vm.sys_state_get("k")
    assert raised.value.code == 570
    assert "entry 1" in raised.value.message
    assert "0x0402" in raised.value.message


def test_entry_type_mismatch_names_both_types() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(VMError) as raised:
            vm.sys_sleep(timedelta(seconds=1))
        assert raised.value.code == 570
        assert "entry 1" in raised.value.message
        assert "0x0C02" in raised.value.message  # recorded: one way call
        assert "0x0C00" in raised.value.message  # now: sleep

    out = (
        invocation()
        .input(start_message(2), input_entry(), v2.OneWayCallEntryMessage(service_name="s", handler_name="h"))
        .run(handler)
    )
    error = single_error(out, 570, "entry 1")
    assert_related_entry(error, 1, "", T.SLEEP_ENTRY)


# ---- errors of the state keys completion (571) ----


@pytest.mark.parametrize(
    ("entry_completion", "text"),
    [
        pytest.param(completion(1, empty=True), "Unexpected empty value variant for state keys", id="empty"),
        pytest.param(completion(1, value=b"\xff\xff"), "Cannot decode state keys message", id="not-protobuf"),
        pytest.param(
            completion(1, value=v2.GetStateKeysEntryMessage.StateKeys(keys=[b"\xff"]).SerializeToString()),
            "Cannot decode state keys message",
            id="key-not-utf8",
        ),
    ],
)
def test_bad_state_keys_completion(entry_completion: v2.CompletionMessage, text: str) -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(VMError) as raised:
            await_result(vm, vm.sys_state_get_keys())
        assert raised.value.code == 571

    out = invocation().input(start_message(1), input_entry(), entry_completion).run(handler)

    assert out.messages[0] == v2.GetStateKeysEntryMessage()
    error = single_error(out, 571, text)
    assert_related_entry(error, 1, "", T.GET_STATE_KEYS_ENTRY)


# ---- misuse ----


def test_replayed_run_without_result() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(VMError) as raised:
            vm.sys_run_enter("my-run")
        assert raised.value == VMError(571, "Expected RunEntryMessage to contain a result")

    out = invocation().input(start_message(2), input_entry(), v2.RunEntryMessage(name="my-run")).run(handler)

    error = single_error(out, 571, "Expected RunEntryMessage to contain a result")
    assert_related_entry(error, 1, "my-run", T.RUN_ENTRY)


def test_replayed_run_with_another_name() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(VMError) as raised:
            vm.sys_run_enter("my-run")
        assert_journal_mismatch(raised.value, 1, "name", "other", "my-run")

    out = invocation().input(start_message(2), input_entry(), v2.RunEntryMessage(name="other", value=b"1")).run(handler)

    error = single_error(out, 570, "entry 1")
    assert_related_entry(error, 1, "my-run", T.RUN_ENTRY)


def test_sys_input_twice() -> None:
    # The journal advances before the state check (§3.1): the error names entry 1, an input entry.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(VMError) as raised:
            vm.sys_input()
        assert raised.value.code == 571

    out = invocation().input(start_message(1), input_entry()).run(handler)

    error = single_error(out, 571, "Unexpected state")
    assert_related_entry(error, 1, "", T.INPUT_ENTRY)


def test_sys_input_inside_a_run() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_run_enter("my-run")
        with pytest.raises(VMError) as raised:
            vm.sys_input()
        assert raised.value == VMError(500, "A syscall was invoked from within a run operation")

    out = invocation().input(start_message(1), input_entry()).run(handler)

    error = single_error(out, 500, "A syscall was invoked from within a run operation")
    assert_related_entry(error, 2, "", T.INPUT_ENTRY)


def test_run_enter_inside_a_run() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_run_enter("outer")
        with pytest.raises(VMError) as raised:
            vm.sys_run_enter("inner")
        assert raised.value.code == 500

    out = invocation().input(start_message(1), input_entry()).run(handler)

    error = single_error(out, 500, "A syscall was invoked from within a run operation")
    assert_related_entry(error, 2, "inner", T.RUN_ENTRY)


def test_sys_end_while_replaying() -> None:
    def handler(vm: CoreVM) -> None:
        with pytest.raises(VMError) as raised:
            vm.sys_end()
        assert raised.value.code == 571

    out = invocation().input(start_message(2), input_entry(), output(b"x")).run(handler)

    error = single_error(out, 571, "Unexpected state")
    # sys_end does not advance the journal: no entry yet.
    assert_related_entry(error, NO_ENTRY, "", 0)


def test_sys_run_exit_while_replaying() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(VMError) as raised:
            vm.sys_run_exit(Success(b""), RetryPolicy.infinite())
        assert raised.value.code == 571

    out = invocation().input(start_message(2), input_entry(), output(b"x")).run(handler)

    error = single_error(out, 571, "Unexpected state")
    # sys_run_exit does not advance the journal either.
    assert_related_entry(error, 0, "", T.INPUT_ENTRY)


@pytest.mark.parametrize(
    ("call", "raises"),
    [
        pytest.param(lambda vm: vm.take_async_result(1), True, id="take_async_result"),
        pytest.param(lambda vm: vm.sys_state_get("k"), True, id="sys_state_get"),
        pytest.param(lambda vm: vm.notify_await_point(1), False, id="notify_await_point"),
    ],
)
def test_calls_before_start(call: Callable[[CoreVM], object], raises: bool) -> None:
    inv = invocation()
    if raises:
        with pytest.raises(VMError) as raised:
            call(inv.vm)
        assert raised.value.code == 571
    else:
        call(inv.vm)  # a void call: the failure becomes sticky
    with pytest.raises(VMError) as raised:
        inv.vm.is_ready_to_execute()
    assert raised.value.code == 571
    (message,) = drain(inv.vm)
    assert error_as_vm_error(message).code == 571


def test_notify_error_with_next_retry_delay() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.notify_error("boom", "the description", timedelta(milliseconds=1500))

    out = invocation().input(start_message(1), input_entry()).run(handler)

    error = single_error(out, 500, "boom")
    assert error_as_vm_error(error) == VMError(500, "boom", "the description")
    assert error.next_retry_delay == 1500
    assert_related_entry(error, 0, "", T.INPUT_ENTRY)


# ---- sticky failure ----


def test_the_first_error_is_sticky() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(VMError) as raised:
            vm.sys_run_exit(Success(b""), RetryPolicy.infinite())
        first = raised.value
        later: list[Callable[[], object]] = [
            lambda: vm.sys_state_get("a"),
            lambda: vm.take_async_result(1),
            vm.is_ready_to_execute,
            vm.sys_end,
            vm.sys_input,
        ]
        for call in later:
            with pytest.raises(VMError) as raised:
                call()
            assert raised.value == first
        # These never raise, and write nothing more.
        vm.notify_error("another")
        vm.notify_input(b"garbage")
        vm.notify_input_closed()
        vm.notify_await_point(3)

    out = invocation().input(start_message(1), input_entry()).run(handler)

    (error,) = out.messages
    assert error_as_vm_error(error) == VMError(500, "Invoked sys_run_exit without invoking sys_run_enter before")


# ---- the VM reads results from the protobuf, never from the COMPLETED flag (§1.1) ----


def test_replayed_result_without_completed_flag_is_used() -> None:
    values = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        values.append(await_result(vm, vm.sys_state_get("k")))
        vm.sys_end()

    entry = Frame(T.GET_STATE_ENTRY, v2.GetStateEntryMessage(key=b"k", value=b"v"), flags=0)
    invocation().input(start_message(2), input_entry(), entry).run(handler)

    assert values == [Success(b"v")]


def test_completed_flag_without_result_waits_for_a_completion() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(SuspendedError):
            await_result(vm, vm.sys_state_get("k"))

    entry = Frame(T.GET_STATE_ENTRY, v2.GetStateEntryMessage(key=b"k"), flags=COMPLETED)
    out = invocation().input(start_message(2), input_entry(), entry).run(handler)

    assert out.messages == [v2.SuspensionMessage(entry_indexes=[1])]
