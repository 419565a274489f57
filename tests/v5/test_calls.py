"""Upstream ``src/tests/calls.rs`` (core-v5.md §7, "calls.rs") and the call/send mapping of §4.1.

Skipped upstream tests:

* ``call_then_get_invocation_id_then_cancel_invocation`` and
  ``send_then_get_invocation_id_then_cancel_invocation``: they take the invocation id handle and
  call ``sys_cancel_invocation``; the old API has neither.
* ``call_with_scope_and_limit_key_propagates_to_message``, ``send_with_scope_and_limit_key_...``,
  ``call_with_empty_scope_errors``, ``call_with_empty_limit_key_errors`` [V7], and
  ``call_with_scope_on_v6_returns_unsupported_feature``,
  ``call_with_limit_key_on_v6_returns_unsupported_feature`` [V6]: our ``Target`` has no scope or
  limit key.

The tests below check the §4.1 mapping of ``sys_call`` / ``sys_send`` instead.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from restate_core import CoreVM, Failure, Success, Target
from restate_core.protocol import Version, v5
from restate_core.testing import await_result, notification

from .conftest import (
    CALL_COMPLETION,
    NOW_MILLIS,
    both_versions,
    end,
    input_command,
    invocation,
    invocation_id_notification,
    output_failure,
    output_success,
    start_message,
)


@both_versions
def test_call_with_key_and_failure_result(version: Version) -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        result = await_result(vm, vm.sys_call(Target("Counter", "add", "my-key"), b"1"))
        assert result == Failure(500, "boom")
        vm.sys_write_output(result)
        vm.sys_end()

    out = (
        invocation(version)
        .input(
            start_message(1),
            input_command(),
            invocation_id_notification(1, "inv_child"),
            notification(CALL_COMPLETION, completion_id=2, failure=(500, "boom")),
        )
        .run(handler)
    )

    # Two completion ids: c1 for the invocation id, c2 for the result; no headers, no idempotency key.
    call = v5.CallCommandMessage(
        service_name="Counter",
        handler_name="add",
        parameter=b"1",
        key="my-key",
        invocation_id_notification_idx=1,
        result_completion_id=2,
    )
    assert out.messages == [call, output_failure(500, "boom"), end()]
    assert not out.messages[0].HasField("idempotency_key")


@pytest.mark.parametrize(
    ("delay", "invoke_time"),
    [(None, 0), (timedelta(0), NOW_MILLIS), (timedelta(seconds=5), NOW_MILLIS + 5000)],
    ids=["now", "zero-delay", "five-seconds"],
)
def test_send_invoke_time(delay: timedelta | None, invoke_time: int) -> None:
    # API.md "Delayed sends": None sends now (0 on the wire); a timedelta, even zero, is clock + delay.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_send(Target("Greeter", "greet"), b"hi", delay)
        vm.sys_write_output(Success(b""))
        vm.sys_end()

    out = invocation().input(start_message(1), input_command()).run(handler)

    send = v5.OneWayCallCommandMessage(
        service_name="Greeter",
        handler_name="greet",
        parameter=b"hi",
        invoke_time=invoke_time,
        invocation_id_notification_idx=1,
    )
    assert out.messages == [send, output_success(b""), end()]


def test_send_then_call_completion_ids() -> None:
    # A send allocates one completion id, a call two: the call after a send uses 2 and 3.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_send(Target("Greeter", "greet"), b"")
        result = await_result(vm, vm.sys_call(Target("Greeter", "greet"), b""))
        assert isinstance(result, Success)
        vm.sys_write_output(result)
        vm.sys_end()

    out = (
        invocation()
        .input(
            start_message(1),
            input_command(),
            invocation_id_notification(1, "inv_send"),
            notification(CALL_COMPLETION, completion_id=3, value=b"hello"),
        )
        .run(handler)
    )

    assert out.messages == [
        v5.OneWayCallCommandMessage(service_name="Greeter", handler_name="greet", invocation_id_notification_idx=1),
        v5.CallCommandMessage(
            service_name="Greeter", handler_name="greet", invocation_id_notification_idx=2, result_completion_id=3
        ),
        output_success(b"hello"),
        end(),
    ]
