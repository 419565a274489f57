"""Upstream ``src/tests/implicit_cancellation.rs`` (core-v5.md §7; §3.10 and §4.2).

Old API mapping: upstream's ``CancelSignalReceived`` is ``take_async_result`` returning
``Failure(409, "cancelled")``, after the VM wrote a ``SendSignal{child, idx 1, void}`` for each call
this invocation made. Upstream awaits of several handles at once await one of them here.

Skipped (our API has no VM options): ``call_then_then_cancel_disabling_children_cancellation``
(``cancel_children_calls=false``) and ``disabled_implicit_cancellation``
(``ImplicitCancellationOption::Disabled``).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from restate_core import VOID, CoreVM, Executed, Failure, Success, SuspendedError, Target, VMError
from restate_core.protocol import Version, v5
from restate_core.testing import await_result, notification

from .conftest import (
    CALL_COMPLETION,
    NOW_MILLIS,
    RUN_COMPLETION,
    SLEEP_COMPLETION,
    both_versions,
    cancel_send_signal,
    cancel_signal_notification,
    end,
    error_from,
    feed,
    input_command,
    invocation,
    invocation_id_notification,
    output_failure,
    output_success,
    start_message,
    suspended_waiting_completion,
)

MY_SVC = Target("MySvc", "MyHandler")
CANCELLED = Failure(409, "cancelled")


def call_command(id_completion: int = 1, result_completion: int = 2) -> v5.CallCommandMessage:
    return v5.CallCommandMessage(
        service_name="MySvc",
        handler_name="MyHandler",
        invocation_id_notification_idx=id_completion,
        result_completion_id=result_completion,
    )


def sleep_command(completion_id: int) -> v5.SleepCommandMessage:
    return v5.SleepCommandMessage(wake_up_time=NOW_MILLIS + 1000, result_completion_id=completion_id)


def call_and_await(vm: CoreVM) -> None:
    vm.sys_input()
    handle = vm.sys_call(MY_SVC, b"")
    assert await_result(vm, handle) == CANCELLED
    vm.sys_end()


def test_call_then_get_invocation_id_then_cancel() -> None:
    # Upstream takes the invocation id explicitly before the cancel arrives; the old API has no
    # handle for it. Here the id arrives first, the await is not ready, then the cancel arrives.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_call(MY_SVC, b"")
        feed(vm, invocation_id_notification(1, "my-id"))
        assert await_result(vm, handle) is None
        feed(vm, cancel_signal_notification())
        vm.notify_input_closed()
        assert await_result(vm, handle) == CANCELLED
        vm.sys_end()

    out = invocation().input(start_message(1), input_command(b"my-data")).run_without_closing_input(handler)

    assert out.messages == [call_command(), cancel_send_signal("my-id"), end()]


@both_versions
def test_call_then_cancel(version: Version) -> None:
    # The id notification is only buffered: the VM resolves it itself to send the cancel.
    out = (
        invocation(version)
        .input(
            start_message(1),
            input_command(b"my-data"),
            invocation_id_notification(1, "my-id"),
            cancel_signal_notification(),
        )
        .run(call_and_await)
    )

    assert out.messages == [call_command(), cancel_send_signal("my-id"), end()]


@both_versions
def test_call_then_cancel_without_invocation_id(version: Version) -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_call(MY_SVC, b"")
        # Suspends: the invocation id needed to forward the cancellation is missing.
        with pytest.raises(SuspendedError):
            await_result(vm, handle)

    out = (
        invocation(version)
        .input(start_message(1), input_command(b"my-data"), cancel_signal_notification())
        .run(handler)
    )

    # Waiting only on the id's completion, without signal 1.
    assert out.messages == [call_command(), v5.SuspensionMessage(waiting_completions=[1])]


def test_call_then_cancel_then_invocation_id() -> None:
    # Not upstream: the same with the input open: the await is not ready until the id arrives,
    # then the cancellation is forwarded and reported.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_call(MY_SVC, b"")
        assert await_result(vm, handle) is None
        feed(vm, invocation_id_notification(1, "my-id"))
        assert await_result(vm, handle) == CANCELLED
        vm.sys_end()

    out = (
        invocation()
        .input(start_message(1), input_command(b"my-data"), cancel_signal_notification())
        .run_without_closing_input(handler)
    )

    assert out.messages == [call_command(), cancel_send_signal("my-id"), end()]


@both_versions
def test_replay_while_cancelling(version: Version) -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        h1 = vm.sys_call(MY_SVC, b"")
        vm.sys_call(MY_SVC, b"")
        # Still replaying (the first SendSignal is in the journal): it is replayed and matched,
        # the second one is written.
        assert await_result(vm, h1) == CANCELLED
        vm.sys_end()

    out = (
        invocation(version)
        .input(
            start_message(7),
            input_command(b"my-data"),
            call_command(1, 2),
            invocation_id_notification(1, "my-id-1"),
            call_command(3, 4),
            invocation_id_notification(3, "my-id-2"),
            cancel_signal_notification(),
            cancel_send_signal("my-id-1"),
        )
        .run(handler)
    )

    assert out.messages == [cancel_send_signal("my-id-2"), end()]


def test_replay_while_cancelling_mismatch() -> None:
    # Not upstream: the SendSignal commands are replay-checked like any command (§3.10 step 2).
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        h1 = vm.sys_call(MY_SVC, b"")
        vm.notify_await_point(h1)
        vm.take_async_result(h1)

    inv = invocation().input(
        start_message(5),
        input_command(b"my-data"),
        call_command(1, 2),
        invocation_id_notification(1, "my-id-1"),
        cancel_signal_notification(),
        cancel_send_signal("another-id"),
    )
    with pytest.raises(VMError) as info:
        inv.run(handler)
    error = info.value
    assert error.code == 570
    assert "target_invocation_id: recorded 'another-id', now 'my-id-1'" in error.message
    out = inv.collect()
    # The related command is the SendSignal (index 2, after Input 0 and Call 1).
    assert out.eof
    assert out.messages == [error_from(error, related=(2, "", 0x0410))]


@pytest.mark.parametrize(
    ("result", "described"),
    [({"value": b"v"}, "a value"), ({"void": True}, "no value (void)"), ({"failure": (500, "no")}, "a failure")],
)
def test_cancel_with_a_call_whose_invocation_id_is_not_one(result: dict[str, object], described: str) -> None:
    # Not upstream (the Rust core panics): the runtime completed the call's invocation-id
    # completion with something else, so the cancellation cannot be forwarded to it.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_call(MY_SVC, b"")
        await_result(vm, handle)

    inv = invocation().input(
        start_message(1),
        input_command(b"my-data"),
        notification(0x800E, completion_id=1, **result),  # type: ignore[arg-type]
        cancel_signal_notification(),
    )
    with pytest.raises(VMError) as info:
        inv.run(handler)
    error = info.value
    assert error.code == 571
    assert error.message == (
        "Cannot forward the cancellation: the notification for completion id 1 should carry the "
        f"invocation id of a call, it carries {described}"
    )
    out = inv.collect()
    assert out.eof
    assert out.messages == [call_command(), error_from(error, related=(1, "", 0x040D))]


def test_cancel_while_awaiting_a_sleep_without_calls() -> None:
    # Not upstream: with no call to forward it to, the cancellation only resolves the await.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        result = await_result(vm, vm.sys_sleep(timedelta(seconds=1)))
        assert isinstance(result, Failure)
        vm.sys_write_output(result)
        vm.sys_end()

    out = invocation().input(start_message(1), input_command(), cancel_signal_notification()).run(handler)

    assert out.messages == [sleep_command(1), output_failure(409, "cancelled"), end()]


def test_sends_are_not_cancelled() -> None:
    # Not upstream: the default is cancel_children_one_way_calls=false (§3.10): a one-way call
    # gets no SendSignal, even though its invocation id is known.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_send(MY_SVC, b"")
        _, handle = vm.sys_awakeable()
        assert await_result(vm, handle) == CANCELLED
        vm.sys_end()

    out = (
        invocation()
        .input(
            start_message(1),
            input_command(),
            invocation_id_notification(1, "my-send-id"),
            cancel_signal_notification(),
        )
        .run(handler)
    )

    assert out.messages == [
        v5.OneWayCallCommandMessage(service_name="MySvc", handler_name="MyHandler", invocation_id_notification_idx=1),
        end(),
    ]


def test_cancel_arriving_before_the_result_is_reported_first() -> None:
    # Not upstream: notifications are consumed in arrival order (§4.2 resolve stops at signal 1):
    # the cancel signal that arrived before the awaited result is reported first, and the value
    # stays for a later await.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_sleep(timedelta(seconds=1))
        assert await_result(vm, handle) == CANCELLED
        assert await_result(vm, handle) == VOID
        vm.sys_write_output(Success(b"done"))
        vm.sys_end()

    out = (
        invocation()
        .input(
            start_message(1),
            input_command(),
            cancel_signal_notification(),
            notification(SLEEP_COMPLETION, completion_id=1, void=True),
        )
        .run(handler)
    )

    assert out.messages == [sleep_command(1), output_success(b"done"), end()]


def test_suspension_before_the_cancel_lists_signal_1() -> None:
    # The runtime can wake a suspended invocation to cancel it: every suspension lists signal 1.
    out = invocation().input(start_message(1), input_command()).run(call_and_await)

    assert out.messages == [call_command(), suspended_waiting_completion(2)]


def test_cancellation_is_reported_once() -> None:
    # Port decision (core-v5.md §3.10 "HEAD quirk": keep the V6 core's one-shot semantics): after
    # the cancellation was reported, a later await of a ready handle returns its value.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_call(MY_SVC, b"")
        assert await_result(vm, handle) == CANCELLED
        assert await_result(vm, handle) == Success(b"ok")
        vm.sys_write_output(Success(b"ok"))
        vm.sys_end()

    out = (
        invocation()
        .input(
            start_message(1),
            input_command(),
            invocation_id_notification(1, "my-id"),
            cancel_signal_notification(),
            notification(CALL_COMPLETION, completion_id=2, value=b"ok"),
        )
        .run(handler)
    )

    # One SendSignal only.
    assert out.messages == [call_command(), cancel_send_signal("my-id"), output_success(b"ok"), end()]


@both_versions
def test_suspension_after_the_cancellation_does_not_list_signal_1(version: Version) -> None:
    # Port decision (one-shot cancellation): once reported, the cancel signal is no longer awaited.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert await_result(vm, vm.sys_sleep(timedelta(seconds=1))) == CANCELLED
        second = vm.sys_sleep(timedelta(seconds=1))
        with pytest.raises(SuspendedError):
            await_result(vm, second)

    out = invocation(version).input(start_message(1), input_command(), cancel_signal_notification()).run(handler)

    assert out.messages == [sleep_command(1), sleep_command(2), v5.SuspensionMessage(waiting_completions=[2])]


@both_versions
def test_a_cancellation_queued_ahead_of_a_journaled_run_result_is_reported_at_the_next_await(
    version: Version,
) -> None:
    # The runtime sent the cancel signal, then the result of the run the handler is about to
    # enter. The run takes its result (executed); the cancellation is not lost: the next await,
    # whose own result is ready, reports it. (The Rust core reports it at the run's own await;
    # sys_run_enter hands the result out directly.)
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert vm.sys_run_enter("r") == Executed(Success(b"ran"))
        state = vm.sys_state_get("a")
        assert await_result(vm, state) == CANCELLED
        vm.sys_write_output(Success(b"done"))
        vm.sys_end()

    out = (
        invocation(version)
        .input(
            start_message(1, partial_state=False),
            input_command(),
            cancel_signal_notification(),
            notification(RUN_COMPLETION, completion_id=1, value=b"ran"),
        )
        .run(handler)
    )

    assert [type(message).__name__ for message in out.messages] == [
        "RunCommandMessage",
        "GetEagerStateCommandMessage",
        "OutputCommandMessage",
        "EndMessage",
    ]
