"""Deliberate deviations from the Rust core v0.1.0 (core-v2.md §3.13), tested as such.

Each test says what the Rust core does instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from restate_core import CoreVM, Failure, StateKeys, Success, SuspendedError, Target, VMError
from restate_core.protocol import Encoder, Version, v2
from restate_core.testing import await_result

from .conftest import (
    NO_ENTRY,
    V2_CONTENT_TYPE,
    assert_related_entry,
    completion,
    drain,
    end,
    error_as_vm_error,
    feed,
    input_entry,
    invocation,
    output,
    start_message,
    suspension,
)

# ---- a second StartMessage ----


def test_second_start_message_is_a_protocol_violation() -> None:
    # Rust accepts a StartMessage in any state (it resets to WaitingReplayEntries); we reject it with 571.
    inv = invocation().input(start_message(1), input_entry(b"my-data"), start_message(1))

    with pytest.raises(VMError) as raised:
        inv.vm.is_ready_to_execute()
    assert raised.value.code == 571
    assert "StartMessage" in raised.value.message

    messages = drain(inv.vm)
    assert len(messages) == 1
    assert error_as_vm_error(messages[0]).code == 571
    assert_related_entry(messages[0], NO_ENTRY, "", 0)


def test_second_start_message_while_waiting_replay_entries() -> None:
    inv = invocation().input(start_message(2), input_entry(b"my-data"), start_message(2))

    with pytest.raises(VMError) as raised:
        inv.vm.is_ready_to_execute()
    assert raised.value.code == 571


def test_second_start_message_while_processing() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        feed(vm, start_message(1))  # never raises: becomes the sticky failure
        with pytest.raises(VMError) as raised:
            vm.sys_state_set("k", b"v")
        assert raised.value.code == 571

    out = invocation().input(start_message(1), input_entry(b"my-data")).run_without_closing_input(handler)

    assert len(out.messages) == 1
    assert error_as_vm_error(out.messages[0]).code == 571
    # The error was found in the input, after entry 0 (the input) was replayed.
    assert_related_entry(out.messages[0], 0, "", v2.MessageType.INPUT_ENTRY)


# ---- after suspension the VM stays Suspended ----


def _suspend(vm: CoreVM) -> int:
    vm.sys_input()
    handle = vm.sys_state_get("Personaggio")
    with pytest.raises(SuspendedError):
        await_result(vm, handle)
    return handle


def test_after_suspension_take_async_result_keeps_raising_suspended() -> None:
    # Rust resets its state to WaitingStart when a call fails after suspension, so its later
    # take_async_result returns a 571 instead of Suspended; we stay Suspended.
    def handler(vm: CoreVM) -> None:
        handle = _suspend(vm)
        with pytest.raises(VMError) as raised:
            vm.sys_state_get("another")
        assert raised.value.code == 571
        for _ in range(2):
            with pytest.raises(SuspendedError):
                vm.take_async_result(handle)

    out = invocation().input(start_message(1), input_entry(b"my-data")).run(handler)

    assert out.messages == [v2.GetStateEntryMessage(key=b"Personaggio"), suspension(1)]


@pytest.mark.parametrize(
    "syscall",
    [
        pytest.param(lambda vm: vm.sys_state_get("k"), id="sys_state_get"),
        pytest.param(lambda vm: vm.sys_state_get_keys(), id="sys_state_get_keys"),
        pytest.param(lambda vm: vm.sys_state_set("k", b"v"), id="sys_state_set"),
        pytest.param(lambda vm: vm.sys_state_clear("k"), id="sys_state_clear"),
        pytest.param(lambda vm: vm.sys_state_clear_all(), id="sys_state_clear_all"),
        pytest.param(lambda vm: vm.sys_sleep(timedelta(seconds=1)), id="sys_sleep"),
        pytest.param(lambda vm: vm.sys_call(Target("S", "h"), b""), id="sys_call"),
        pytest.param(lambda vm: vm.sys_send(Target("S", "h"), b""), id="sys_send"),
        pytest.param(lambda vm: vm.sys_awakeable(), id="sys_awakeable"),
        pytest.param(lambda vm: vm.sys_complete_awakeable("prom_1", Success(b"")), id="sys_complete_awakeable"),
        pytest.param(lambda vm: vm.sys_get_promise("p"), id="sys_get_promise"),
        pytest.param(lambda vm: vm.sys_peek_promise("p"), id="sys_peek_promise"),
        pytest.param(lambda vm: vm.sys_complete_promise("p", Success(b"")), id="sys_complete_promise"),
        pytest.param(lambda vm: vm.sys_run_enter("r"), id="sys_run_enter"),
        pytest.param(lambda vm: vm.sys_write_output(Success(b"")), id="sys_write_output"),
        pytest.param(lambda vm: vm.sys_input(), id="sys_input"),
        pytest.param(lambda vm: vm.is_ready_to_execute(), id="is_ready_to_execute"),
    ],
)
@pytest.mark.parametrize("closed_by", ["suspension", "end"])
def test_after_suspension_or_end_syscalls_raise_571_and_write_nothing(
    syscall: Callable[[CoreVM], object], closed_by: str
) -> None:
    def handler(vm: CoreVM) -> None:
        if closed_by == "suspension":
            _suspend(vm)
        else:
            vm.sys_input()
            vm.sys_end()
        for _ in range(2):  # the state is kept: the second call behaves as the first
            with pytest.raises(VMError) as raised:
                syscall(vm)
            assert raised.value.code == 571
        vm.sys_end()  # a no-op once closed
        vm.notify_error("ignored")  # a no-op once closed
        vm.notify_await_point(1)  # silent once closed

    out = invocation().input(start_message(1), input_entry(b"my-data")).run(handler)

    if closed_by == "suspension":
        assert out.messages == [v2.GetStateEntryMessage(key=b"Personaggio"), suspension(1)]
    else:
        assert out.messages == [end()]
    assert out.eof


def test_after_end_take_async_result_raises_571_and_stays_ended() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_end()
        for _ in range(2):
            with pytest.raises(VMError) as raised:
                vm.take_async_result(1)
            assert raised.value.code == 571
        with pytest.raises(VMError) as raised:
            vm.is_ready_to_execute()
        assert raised.value.code == 571

    out = invocation().input(start_message(1), input_entry(b"my-data")).run(handler)

    assert out.messages == [end()]


# ---- duplicate completions ----


def _get_and_write(vm: CoreVM) -> None:
    vm.sys_input()
    value = await_result(vm, vm.sys_state_get("STATE"))
    assert isinstance(value, (Success, Failure)), value
    vm.sys_write_output(value)
    vm.sys_end()


def test_duplicate_completion_before_the_entry_the_first_wins() -> None:
    # Rust panics on a second completion for the same index; we ignore it.
    out = (
        invocation()
        .input(
            start_message(1),
            input_entry(),
            completion(1, value=b"first"),
            completion(1, value=b"second"),
        )
        .run(_get_and_write)
    )

    assert out.messages == [v2.GetStateEntryMessage(key=b"STATE"), output(b"first"), end()]


def test_duplicate_completion_after_the_entry_the_first_wins() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_state_get("STATE")
        vm.notify_await_point(handle)
        feed(vm, completion(1, value=b"first"), completion(1, failure=(500, "second")))
        vm.notify_input_closed()
        value = vm.take_async_result(handle)
        assert value == Success(b"first")
        vm.sys_write_output(value)
        vm.sys_end()

    out = invocation().input(start_message(1), input_entry()).run_without_closing_input(handler)

    assert out.messages == [v2.GetStateEntryMessage(key=b"STATE"), output(b"first"), end()]


def test_duplicate_completion_after_the_result_was_taken_is_ignored() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_state_get("STATE")
        vm.notify_await_point(handle)
        feed(vm, completion(1, value=b"first"))
        assert vm.take_async_result(handle) == Success(b"first")
        feed(vm, completion(1, value=b"second"))
        assert vm.take_async_result(handle) is None  # a result is taken once
        vm.sys_write_output(Success(b"first"))
        vm.sys_end()

    out = invocation().input(start_message(1), input_entry()).run_without_closing_input(handler)

    assert out.messages == [v2.GetStateEntryMessage(key=b"STATE"), output(b"first"), end()]


def test_completion_for_an_entry_replayed_with_its_result_is_ignored() -> None:
    out = (
        invocation()
        .input(
            start_message(2),
            input_entry(),
            v2.GetStateEntryMessage(key=b"STATE", value=b"journal"),
            completion(1, value=b"completion"),
        )
        .run(_get_and_write)
    )

    assert out.messages == [output(b"journal"), end()]


# ---- eager state keys after a clear ----


def test_eager_state_keys_do_not_list_cleared_keys() -> None:
    # Rust lists keys cleared with sys_state_clear in complete eager state (its map keeps them as None);
    # we answer what the runtime itself would answer.
    keys = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_state_clear("A")
        vm.sys_state_set("C", b"3")
        keys.append(await_result(vm, vm.sys_state_get_keys()))
        vm.sys_end()

    out = (
        invocation()
        .input(start_message(1, partial_state=False, state_map={"A": b"1", "B": b"2"}), input_entry())
        .run(handler)
    )

    assert keys == [StateKeys(["B", "C"])]
    assert out.messages == [
        v2.ClearStateEntryMessage(key=b"A"),
        v2.SetStateEntryMessage(key=b"C", value=b"3"),
        v2.GetStateKeysEntryMessage(value=v2.GetStateKeysEntryMessage.StateKeys(keys=[b"B", b"C"])),
        end(),
    ]


def test_eager_state_keys_after_clear_all_are_known_and_empty() -> None:
    keys = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_state_clear_all()
        keys.append(await_result(vm, vm.sys_state_get_keys()))
        vm.sys_end()

    # Partial state becomes complete after clear all.
    out = invocation().input(start_message(1, state_map={"A": b"1"}), input_entry()).run(handler)

    assert keys == [StateKeys([])]
    assert out.messages == [
        v2.ClearAllStateEntryMessage(),
        v2.GetStateKeysEntryMessage(value=v2.GetStateKeysEntryMessage.StateKeys()),
        end(),
    ]


# ---- the input closing in the middle of a frame ----


def test_input_closed_in_the_middle_of_a_frame_before_ready() -> None:
    # Rust silently drops the incomplete bytes; we report a protocol violation.
    vm = CoreVM([("content-type", V2_CONTENT_TYPE)])
    encoder = Encoder(Version.V2)
    vm.notify_input(encoder.encode(start_message(1)))
    vm.notify_input(encoder.encode(input_entry(b"my-data"))[:10])
    vm.notify_input_closed()

    with pytest.raises(VMError) as raised:
        vm.is_ready_to_execute()
    assert raised.value.code == 571

    messages = drain(vm)
    assert len(messages) == 1
    assert error_as_vm_error(messages[0]).code == 571


def test_input_closed_in_the_middle_of_a_frame_while_awaiting() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_state_get("STATE")
        vm.notify_await_point(handle)
        vm.notify_input(Encoder(Version.V2).encode(completion(1, value=b"Francesco"))[:4])
        vm.notify_input_closed()
        with pytest.raises(VMError) as raised:
            vm.take_async_result(handle)
        assert raised.value.code == 571

    out = invocation().input(start_message(1), input_entry()).run_without_closing_input(handler)

    assert out.messages[0] == v2.GetStateEntryMessage(key=b"STATE")
    assert len(out.messages) == 2
    assert error_as_vm_error(out.messages[1]).code == 571
