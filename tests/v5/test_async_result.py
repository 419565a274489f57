"""Upstream ``src/tests/async_result.rs`` (core-v5.md §7, "async_result.rs").

``await_twice_the_same_handle`` (upstream module ``do_progress``/top level) and the
``reverse_await_order`` sub-module (a test class here) are ported. Skipped: the 18
``do_await::*`` tests and ``awaiting_on_shrinks_across_calls`` ([comb]/[V7]: combinators over
several handles), and ``combinators::replay_with_combinator_and_entry_afterwards`` ([comb]).
"""

from __future__ import annotations

import pytest

from restate_core import CoreVM, Success, SuspendedError, Target
from restate_core.protocol import Version, v5
from restate_core.testing import Frame, await_result, notification

from .conftest import (
    CALL_COMPLETION,
    both_versions,
    end,
    input_command,
    invocation,
    invocation_id_notification,
    output_success,
    start_message,
    suspended_waiting_completion,
    suspended_waiting_signal,
)

GREETER = Target("Greeter", "greeter")


def call_command(parameter: bytes, id_completion: int, result_completion: int) -> v5.CallCommandMessage:
    return v5.CallCommandMessage(
        service_name="Greeter",
        handler_name="greeter",
        parameter=parameter,
        invocation_id_notification_idx=id_completion,
        result_completion_id=result_completion,
    )


def dont_await_call_handler(vm: CoreVM) -> None:
    vm.sys_input()
    vm.sys_call(GREETER, b"Francesco")
    vm.sys_write_output(Success(b"Whatever"))
    vm.sys_end()


@both_versions
def test_dont_await_call(version: Version) -> None:
    out = (
        invocation(version)
        .input(start_message(1, partial_state=False), input_command(None))
        .run(dont_await_call_handler)
    )

    assert out.messages == [call_command(b"Francesco", 1, 2), output_success(b"Whatever"), end()]


def test_dont_await_call_dont_notify_input_closed() -> None:
    out = (
        invocation()
        .input(start_message(1, partial_state=False), input_command(None))
        .run_without_closing_input(dont_await_call_handler)
    )

    assert out.messages == [call_command(b"Francesco", 1, 2), output_success(b"Whatever"), end()]


def test_await_twice_the_same_handle() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        _, handle = vm.sys_awakeable()
        # Upstream: ReadFromInput twice. Here: two awaits on the same handle, both not ready; awaiting
        # the same handle again is no "two async results" error.
        vm.notify_await_point(handle)
        assert vm.take_async_result(handle) is None
        vm.notify_await_point(handle)
        assert vm.take_async_result(handle) is None
        # The await point is pending: closing the input suspends.
        vm.notify_input_closed()
        with pytest.raises(SuspendedError):
            vm.take_async_result(handle)

    out = (
        invocation()
        .input(start_message(1, partial_state=False), input_command(b"my-data"))
        .run_without_closing_input(handler)
    )

    assert out.messages == [suspended_waiting_signal(17)]


def reverse_await_order_handler(vm: CoreVM) -> None:
    vm.sys_input()
    h1 = vm.sys_call(GREETER, b"Francesco")
    h2 = vm.sys_call(GREETER, b"Till")

    h2_value = await_result(vm, h2)
    assert isinstance(h2_value, Success), h2_value
    vm.sys_state_set("A2", h2_value.value)

    h1_value = await_result(vm, h1)
    assert isinstance(h1_value, Success), h1_value

    vm.sys_write_output(Success(h1_value.value + b"-" + h2_value.value))
    vm.sys_end()


def call_result(completion_id: int, content: bytes) -> Frame:
    return notification(CALL_COMPLETION, completion_id=completion_id, value=content)


CALLS = (call_command(b"Francesco", 1, 2), call_command(b"Till", 3, 4))
SET_A2 = v5.SetStateCommandMessage(key=b"A2", value=v5.Value(content=b"TILL"))


class TestReverseAwaitOrder:
    @staticmethod
    def start() -> v5.StartMessage:
        return start_message(1, invocation_id=b"abc")

    @both_versions
    def test_none_completed(self, version: Version) -> None:
        out = invocation(version).input(self.start(), input_command(None)).run(reverse_await_order_handler)

        assert out.messages == [*CALLS, suspended_waiting_completion(4)]

    @both_versions
    def test_a1_and_a2_completed_later(self, version: Version) -> None:
        out = (
            invocation(version)
            .input(
                self.start(),
                input_command(None),
                invocation_id_notification(1, "a1"),
                invocation_id_notification(3, "a2"),
                call_result(2, b"FRANCESCO"),
                call_result(4, b"TILL"),
            )
            .run(reverse_await_order_handler)
        )

        assert out.messages == [*CALLS, SET_A2, output_success(b"FRANCESCO-TILL"), end()]

    def test_a2_and_a1_completed_later(self) -> None:
        out = (
            invocation()
            .input(self.start(), input_command(None), call_result(4, b"TILL"), call_result(2, b"FRANCESCO"))
            .run(reverse_await_order_handler)
        )

        assert out.messages == [*CALLS, SET_A2, output_success(b"FRANCESCO-TILL"), end()]

    def test_only_a2_completed(self) -> None:
        out = (
            invocation()
            .input(self.start(), input_command(None), call_result(4, b"TILL"))
            .run(reverse_await_order_handler)
        )

        assert out.messages == [*CALLS, SET_A2, suspended_waiting_completion(2)]

    def test_only_a1_completed(self) -> None:
        out = (
            invocation()
            .input(self.start(), input_command(None), call_result(2, b"FRANCESCO"))
            .run(reverse_await_order_handler)
        )

        assert out.messages == [*CALLS, suspended_waiting_completion(4)]
