"""Upstream ``src/tests/suspensions.rs`` (core-v5.md §7, "suspensions.rs"; §3.6, §4.2).

Old API mapping: an upstream ``do_progress`` that suspends is ``notify_await_point`` (which
suspends when the input is closed) followed by a take that raises ``SuspendedError``.
Skipped: ``await_many_notifications`` [comb] awaits three handles at once (incl. a named signal).
"""

from __future__ import annotations

import pytest

from restate_core import CoreVM, Success, SuspendedError
from restate_core.protocol import Version, v5

from .conftest import (
    both_versions,
    end,
    feed,
    input_command,
    invocation,
    output_success,
    signal_notification,
    start_message,
    suspended_waiting_completion,
    suspended_waiting_signal,
)


@both_versions
def test_trigger_suspension_with_get_state(version: Version) -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_state_get("Personaggio")
        # Not ready yet: None, and nothing is suspended by a take.
        assert vm.take_async_result(handle) is None
        # No await point is pending: closing the input does not suspend by itself.
        vm.notify_input_closed()
        assert vm.is_ready_to_execute()
        vm.notify_await_point(handle)
        with pytest.raises(SuspendedError):
            vm.take_async_result(handle)

    out = invocation(version).input(start_message(1), input_command(b"my-data")).run_without_closing_input(handler)

    assert out.messages == [
        v5.GetLazyStateCommandMessage(key=b"Personaggio", result_completion_id=1),
        suspended_waiting_completion(1),
    ]


def test_trigger_suspension_when_the_input_closes_during_an_await() -> None:
    # Not upstream: the other suspension point of the old API (§4.2): the await point is registered
    # while the input is open, and closing the input suspends.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_state_get("Personaggio")
        vm.notify_await_point(handle)
        assert vm.take_async_result(handle) is None
        vm.notify_input_closed()
        with pytest.raises(SuspendedError):
            vm.take_async_result(handle)

    out = invocation().input(start_message(1), input_command(b"my-data")).run_without_closing_input(handler)

    assert out.messages == [
        v5.GetLazyStateCommandMessage(key=b"Personaggio", result_completion_id=1),
        suspended_waiting_completion(1),
    ]


@both_versions
def test_trigger_suspension_with_correct_awakeable(version: Version) -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_awakeable()
        _, h2 = vm.sys_awakeable()
        assert vm.take_async_result(h2) is None
        vm.notify_input_closed()
        vm.notify_await_point(h2)
        with pytest.raises(SuspendedError):
            vm.take_async_result(h2)

    out = invocation(version).input(start_message(1), input_command(b"my-data")).run_without_closing_input(handler)

    # Awakeables write no command; the second one waits for signal 18.
    assert out.messages == [suspended_waiting_signal(18)]


def test_when_notify_completion_then_notify_await_point_then_notify_input_closed_then_no_suspension() -> None:
    # Upstream awaits any of (h1, h2); the old API awaits one handle: h2, the one that completes.
    completion = b"completion"

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_awakeable()
        _, h2 = vm.sys_awakeable()

        # Needs more input.
        vm.notify_await_point(h2)
        assert vm.take_async_result(h2) is None

        feed(vm, signal_notification(18, completion))
        # The awaited notification arrived: closing the input does not suspend.
        vm.notify_input_closed()
        vm.notify_await_point(h2)
        assert vm.take_async_result(h2) == Success(completion)

        vm.sys_write_output(Success(completion))
        vm.sys_end()

    out = invocation().input(start_message(1), input_command(b"my-data")).run_without_closing_input(handler)

    assert out.messages == [output_success(completion), end()]
