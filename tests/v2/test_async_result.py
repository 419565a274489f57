"""Upstream ``src/tests/async_result.rs`` (core-v2.md §7.7).

The upstream sub-modules ``notify_await_point`` and ``reverse_await_order`` are
test classes here.
"""

from __future__ import annotations

import pytest

from restate_core import CoreVM, Success, SuspendedError, Target, VMError
from restate_core.protocol import v2
from restate_core.testing import await_result

from .conftest import (
    assert_related_entry,
    completion,
    end,
    error_as_vm_error,
    input_entry,
    invocation,
    output,
    start_message,
    suspension,
)

GREETER = Target("Greeter", "greeter")


def call_entry(parameter: bytes) -> v2.CallEntryMessage:
    return v2.CallEntryMessage(service_name="Greeter", handler_name="greeter", parameter=parameter)


def dont_await_call_handler(vm: CoreVM) -> None:
    vm.sys_input()
    vm.sys_call(GREETER, b"Francesco")
    vm.sys_write_output(Success(b"Whatever"))
    vm.sys_end()


def test_dont_await_call() -> None:
    out = invocation().input(start_message(1, partial_state=False), input_entry()).run(dont_await_call_handler)

    assert out.messages == [call_entry(b"Francesco"), output(b"Whatever"), end()]
    call = out.messages[0]
    assert (call.key, list(call.headers), call.name) == ("", [], "")


def test_dont_await_call_dont_notify_input_closed() -> None:
    out = (
        invocation()
        .input(start_message(1, partial_state=False), input_entry())
        .run_without_closing_input(dont_await_call_handler)
    )

    assert out.messages == [call_entry(b"Francesco"), output(b"Whatever"), end()]


class TestNotifyAwaitPoint:
    def test_await_twice_the_same_handle(self) -> None:
        def handler(vm: CoreVM) -> None:
            vm.sys_input()
            _, handle = vm.sys_awakeable()
            assert handle == 1
            vm.notify_await_point(handle)
            vm.notify_await_point(handle)
            vm.notify_input_closed()

        out = (
            invocation()
            .input(start_message(1, partial_state=False), input_entry(b"my-data"))
            .run_without_closing_input(handler)
        )

        assert out.messages == [v2.AwakeableEntryMessage(), suspension(1)]

    def test_await_two_handles_at_same_time(self) -> None:
        def handler(vm: CoreVM) -> None:
            vm.sys_input()
            _, h1 = vm.sys_awakeable()
            _, h2 = vm.sys_awakeable()
            assert (h1, h2) == (1, 2)
            vm.notify_await_point(h1)
            vm.notify_await_point(h2)  # never raises: the error becomes the sticky failure
            vm.notify_input_closed()  # no-op, the VM failed
            with pytest.raises(VMError) as raised:
                vm.take_async_result(h2)
            assert raised.value == VMError(500, "Trying to await two async results at the same time: 1 and 2")

        out = (
            invocation()
            .input(start_message(1, partial_state=False), input_entry(b"my-data"))
            .run_without_closing_input(handler)
        )

        assert out.messages[:2] == [v2.AwakeableEntryMessage(), v2.AwakeableEntryMessage()]
        assert len(out.messages) == 3
        assert error_as_vm_error(out.messages[2]) == VMError(
            500, "Trying to await two async results at the same time: 1 and 2"
        )
        # The ErrorMessage names the current journal position: the second awakeable.
        assert_related_entry(out.messages[2], 2, "", v2.MessageType.AWAKEABLE_ENTRY)


class TestReverseAwaitOrder:
    @staticmethod
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        h1 = vm.sys_call(GREETER, b"Francesco")
        h2 = vm.sys_call(GREETER, b"Till")

        try:
            value2 = await_result(vm, h2)
        except SuspendedError:
            return
        assert isinstance(value2, Success)
        vm.sys_state_set("A2", value2.value)

        try:
            value1 = await_result(vm, h1)
        except SuspendedError:
            return
        assert isinstance(value1, Success)

        vm.sys_write_output(Success(value1.value + b"-" + value2.value))
        vm.sys_end()

    @classmethod
    def run(cls, *completions: v2.CompletionMessage) -> list[object]:
        out = invocation().input(start_message(1, invocation_id="abc"), input_entry(), *completions).run(cls.handler)
        return list(out.messages)

    def test_none_completed(self) -> None:
        assert self.run() == [call_entry(b"Francesco"), call_entry(b"Till"), suspension(2)]

    def test_a1_and_a2_completed_later(self) -> None:
        assert self.run(completion(1, value=b"FRANCESCO"), completion(2, value=b"TILL")) == [
            call_entry(b"Francesco"),
            call_entry(b"Till"),
            v2.SetStateEntryMessage(key=b"A2", value=b"TILL"),
            output(b"FRANCESCO-TILL"),
            end(),
        ]

    def test_a2_and_a1_completed_later(self) -> None:
        assert self.run(completion(2, value=b"TILL"), completion(1, value=b"FRANCESCO")) == [
            call_entry(b"Francesco"),
            call_entry(b"Till"),
            v2.SetStateEntryMessage(key=b"A2", value=b"TILL"),
            output(b"FRANCESCO-TILL"),
            end(),
        ]

    def test_only_a2_completed(self) -> None:
        assert self.run(completion(2, value=b"TILL")) == [
            call_entry(b"Francesco"),
            call_entry(b"Till"),
            v2.SetStateEntryMessage(key=b"A2", value=b"TILL"),
            suspension(1),
        ]

    def test_only_a1_completed(self) -> None:
        assert self.run(completion(1, value=b"FRANCESCO")) == [
            call_entry(b"Francesco"),
            call_entry(b"Till"),
            suspension(2),
        ]
