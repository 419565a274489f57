"""Upstream ``src/tests/suspensions.rs`` (core-v2.md §7.11).

Every case: start_message(1), I("my-data"), input left open by the test kit;
the handler closes it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from restate_core import CoreVM, Success, SuspendedError
from restate_core.protocol import v2
from restate_core.testing import Output

from .conftest import completion, end, feed, input_entry, invocation, output, start_message, suspension


def run_open(handler: Callable[[CoreVM], None]) -> Output:
    return invocation().input(start_message(1), input_entry(b"my-data")).run_without_closing_input(handler)


def test_suspension_should_be_triggered_in_notify_input_closed() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_state_get("Personaggio")
        assert vm.take_async_result(handle) is None
        # No await point yet: closing the input does not suspend.
        vm.notify_input_closed()
        # Awaiting after the input closed does.
        vm.notify_await_point(handle)
        with pytest.raises(SuspendedError):
            vm.take_async_result(handle)

    out = run_open(handler)

    assert out.messages == [v2.GetStateEntryMessage(key=b"Personaggio"), suspension(1)]


def test_suspension_should_be_triggered_with_correct_entry() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_awakeable()
        _, h2 = vm.sys_awakeable()
        assert vm.take_async_result(h2) is None
        vm.notify_await_point(h2)
        vm.notify_input_closed()
        with pytest.raises(SuspendedError):
            vm.take_async_result(h2)

    out = run_open(handler)

    assert out.messages == [v2.AwakeableEntryMessage(), v2.AwakeableEntryMessage(), suspension(2)]


def test_when_notify_completion_then_notify_await_point_then_notify_input_closed_then_no_suspension() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_awakeable()
        _, h2 = vm.sys_awakeable()
        assert vm.take_async_result(h2) is None
        feed(vm, completion(2, value=b"completion"))
        vm.notify_await_point(h2)
        vm.notify_input_closed()
        assert vm.take_async_result(h2) == Success(b"completion")
        vm.sys_write_output(Success(b"completion"))
        vm.sys_end()

    out = run_open(handler)

    assert out.messages == [v2.AwakeableEntryMessage(), v2.AwakeableEntryMessage(), output(b"completion"), end()]


def test_when_notify_await_point_then_notify_completion_then_notify_input_closed_then_no_suspension() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_awakeable()
        _, h2 = vm.sys_awakeable()
        assert vm.take_async_result(h2) is None
        vm.notify_await_point(h2)
        feed(vm, completion(2, value=b"completion"))
        vm.notify_input_closed()
        assert vm.take_async_result(h2) == Success(b"completion")
        vm.sys_write_output(Success(b"completion"))
        vm.sys_end()

    out = run_open(handler)

    assert out.messages == [v2.AwakeableEntryMessage(), v2.AwakeableEntryMessage(), output(b"completion"), end()]
