"""What this port decided where the spec leaves room (core-v5.md §3.12 quirks, §4.2 and the
"(derived)" points), on V5/V6. Each test says which decision it pins down.

Tested elsewhere: the one-shot cancellation (test_implicit_cancellation.py:
``test_cancellation_is_reported_once``, ``test_suspension_after_the_cancellation_does_not_list_
signal_1``); the related command and delay of a run retry (test_run.py ``TestRetryPolicy``);
the 570 of an await that the journal cannot satisfy (test_failures.py ``add_await_*``).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from restate_core import (
    VOID,
    CoreVM,
    EntryRetryInfo,
    Failure,
    NotExecuted,
    RetryableFailure,
    RetryPolicy,
    StateKeys,
    Success,
    SuspendedError,
    Target,
    VMError,
)
from restate_core.protocol import Version, encode_frame, v5
from restate_core.testing import await_result, notification

from .conftest import (
    GET_LAZY_STATE_COMPLETION,
    NOW_MILLIS,
    SLEEP_COMPLETION,
    both_versions,
    drain,
    eager_get,
    end,
    error_from,
    error_message,
    feed,
    input_command,
    invocation,
    new_vm,
    start_message,
    suspended_waiting_completion,
)


def processing_vm(version: Version = Version.V6) -> CoreVM:
    """A VM past its input: Processing, the input still open."""
    vm = new_vm(version)
    feed(vm, start_message(1), input_command(b"my-data"), version=version)
    vm.sys_input()
    return vm


def sticky(vm: CoreVM) -> VMError:
    """The VM failed: the next call raises the stored error."""
    with pytest.raises(VMError) as info:
        vm.is_ready_to_execute()
    return info.value


# ---- input the VM rejects (protocol violations, 571; no related command) ----


@both_versions
def test_second_start_message_while_waiting_for_the_journal(version: Version) -> None:
    # §3.12.2: the Rust core accepts a StartMessage in any state (and resets). The port: 571.
    vm = new_vm(version)
    feed(vm, start_message(2), input_command(), start_message(1), version=version)

    error = sticky(vm)
    assert error.code == 571
    assert drain(vm, version) == [error_from(error)]


def test_second_start_message_while_processing() -> None:
    vm = processing_vm()
    feed(vm, start_message(1))

    error = sticky(vm)
    assert error.code == 571
    # An error caused by the input names no command, even though the input command exists.
    assert drain(vm) == [error_from(error)]


def test_notification_for_an_unallocated_completion_id_while_processing() -> None:
    # The runtime only completes ids that a command it received carries: while processing, a
    # completion for an id no command allocated yet is a protocol violation (571). (While
    # replaying it is fine: the code has not reached the command yet, see test_state.py
    # ``test_new_entry_completed_later``.)
    vm = processing_vm()
    feed(vm, notification(SLEEP_COMPLETION, completion_id=1, void=True))

    error = sticky(vm)
    assert error.code == 571
    assert "completion id 1" in error.message
    assert drain(vm) == [error_from(error)]


def test_notification_for_an_allocated_completion_id_while_processing() -> None:
    # The counterpart: once the sleep allocated id 1, its completion is accepted.
    vm = processing_vm()
    handle = vm.sys_sleep(timedelta(seconds=1))
    feed(vm, notification(SLEEP_COMPLETION, completion_id=1, void=True))
    vm.notify_input_closed()
    assert await_result(vm, handle) == VOID
    vm.sys_end()

    assert drain(vm) == [v5.SleepCommandMessage(wake_up_time=NOW_MILLIS + 1000, result_completion_id=1), end()]


@pytest.mark.parametrize("processing", [False, True], ids=["replaying", "processing"])
def test_command_after_the_journal(processing: bool) -> None:
    # Commands come only as the journal to replay (§3.3): one after it is a 571.
    vm = new_vm()
    feed(vm, start_message(1), input_command())
    if processing:
        vm.sys_input()
    feed(vm, v5.SleepCommandMessage(result_completion_id=1))

    error = sticky(vm)
    assert error == VMError(571, "Expected entry messages only when waiting replay entries")
    assert drain(vm) == [error_from(error)]


@pytest.mark.parametrize("code", [0x0004, 0x0006, 0x0007, 0x0100], ids=lambda c: f"0x{c:04X}")
def test_unknown_message_type(code: int) -> None:
    # §2.1: the V6 core answers 500 for an unknown control code. The port: 571 (CommandAck 0x0004
    # is unused by V5/V6; 0x0006 and 0x0007 are V7 messages).
    vm = new_vm()
    feed(vm, start_message(1))
    vm.notify_input(encode_frame(code, b""))

    error = sticky(vm)
    assert error == VMError(571, f"unknown protocol.message code 0x{code:04X}")
    assert drain(vm) == [error_from(error)]


@pytest.mark.parametrize("code", [0x0003, 0x0005, 0xFC00], ids=lambda c: f"0x{c:04X}")
def test_message_the_runtime_does_not_send(code: int) -> None:
    # End, ProposeRunCompletion (service → runtime only) and custom entries ≥ 0xFC00: 571.
    vm = new_vm()
    feed(vm, start_message(1))
    vm.notify_input(encode_frame(code, b""))

    error = sticky(vm)
    assert error.code == 571
    assert "Expected incoming message to be an entry" in error.message
    assert drain(vm) == [error_from(error)]


def test_unknown_command_code_in_the_journal() -> None:
    # §3.12.1 (kept): an unknown code in 0x0400-0x7FFF is a command. In the journal it is accepted
    # and counted, and replaying it against what the code does is a type mismatch (570).
    errors: list[VMError] = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(VMError) as info:
            vm.sys_sleep(timedelta(seconds=1))
        errors.append(info.value)

    inv = invocation().input(start_message(2), input_command())
    inv.vm.notify_input(encode_frame(0x0420, b""))
    out = inv.run(handler)

    (error,) = errors
    assert error.code == 570
    assert "0x0420" in error.message
    assert out.messages == [error_from(error, related=(1, "", 0x040C))]


def test_unknown_notification_code() -> None:
    # §3.12.1 (kept): an unknown code in 0x8000-0xFBFF is a notification, decoded through the
    # generic template: only its id and result matter.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        _, handle = vm.sys_awakeable()
        assert await_result(vm, handle) == Success(b"q")
        vm.sys_end()

    out = (
        invocation()
        .input(start_message(1), input_command(), notification(0x8100, signal_id=17, value=b"q"))
        .run(handler)
    )

    assert out.messages == [end()]


def test_input_closed_in_the_middle_of_a_frame() -> None:
    # A truncated last frame is a protocol violation when the input closes (571), not silence.
    vm = new_vm()
    feed(vm, start_message(1), input_command())
    vm.notify_input(encode_frame(0x8002, b"\x08\x01\x22\x00")[:5])
    vm.notify_input_closed()

    error = sticky(vm)
    assert error.code == 571
    assert "in the middle of a message" in error.message
    assert drain(vm) == [error_from(error)]


# ---- handles and awaits ----


@both_versions
def test_taking_a_handle_twice_returns_none_and_awaiting_it_fails(version: Version) -> None:
    # §4.2 step 6: the HEAD core returns None for a handle already taken; so does the port.
    # Awaiting it again is an SDK bug that would otherwise wait forever: a sticky 500 that names
    # the current position.
    errors: list[VMError] = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        _, handle = vm.sys_awakeable()
        assert await_result(vm, handle) == Success(b"x")
        assert vm.take_async_result(handle) is None
        vm.notify_await_point(handle)
        with pytest.raises(VMError) as info:
            vm.take_async_result(handle)
        errors.append(info.value)

    out = (
        invocation(version)
        .input(start_message(1), input_command(), notification(0xFBFF, signal_id=17, value=b"x"))
        .run(handler)
    )

    (error,) = errors
    assert error.code == 500
    assert "already taken" in error.message
    (message,) = out.messages
    assert isinstance(message, v5.ErrorMessage)
    assert message.code == 500
    assert message.related_command_index == 0
    assert message.related_command_type == 0x0400


def test_await_a_different_handle_while_one_is_pending() -> None:
    # §4.2 step 2: the old API's "awaiting two async results" check is kept, with code 572.
    # notify_await_point never raises: the error surfaces at the next call. It is a misuse by
    # the SDK, so the ErrorMessage names the current journal position (here the input, 0).
    errors: list[VMError] = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        _, h1 = vm.sys_awakeable()
        _, h2 = vm.sys_awakeable()
        vm.notify_await_point(h1)
        assert vm.take_async_result(h1) is None
        vm.notify_await_point(h2)
        with pytest.raises(VMError) as info:
            vm.take_async_result(h2)
        errors.append(info.value)
        # Sticky.
        with pytest.raises(VMError) as again:
            vm.sys_awakeable()
        assert again.value is info.value

    out = invocation().input(start_message(1), input_command()).run_without_closing_input(handler)

    (error,) = errors
    assert error.code == 572
    (message,) = out.messages
    assert isinstance(message, v5.ErrorMessage)
    assert (message.code, message.related_command_index, message.related_command_type) == (572, 0, 0x0400)


def test_await_the_same_handle_after_taking_another() -> None:
    # Taking the pending handle clears the await point: awaiting another one is then fine.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        _, h1 = vm.sys_awakeable()
        _, h2 = vm.sys_awakeable()
        assert await_result(vm, h1) == Success(b"1")
        assert await_result(vm, h2) == Success(b"2")
        vm.sys_end()

    out = (
        invocation()
        .input(
            start_message(1),
            input_command(),
            notification(0xFBFF, signal_id=18, value=b"2"),
            notification(0xFBFF, signal_id=17, value=b"1"),
        )
        .run(handler)
    )

    assert out.messages == [end()]


@both_versions
def test_await_while_replaying_not_in_the_journal(version: Version) -> None:
    # §4.2 step 4: an await while commands are left to replay, whose notification is not in the
    # journal, proves the code changed: 570, even though the input is still open.
    errors: list[VMError] = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_sleep(timedelta(seconds=1))
        vm.notify_await_point(handle)
        with pytest.raises(VMError) as info:
            vm.take_async_result(handle)
        errors.append(info.value)

    out = (
        invocation(version)
        .input(
            start_message(3),
            input_command(),
            v5.SleepCommandMessage(wake_up_time=1, result_completion_id=1),
            v5.OutputCommandMessage(value=v5.Value(content=b"done")),
        )
        .run_without_closing_input(handler)
    )

    (error,) = errors
    assert error.code == 570
    assert out.messages == [error_from(error)]


def test_await_after_the_last_replayed_command_waits_for_input() -> None:
    # The counterpart: once the last command was replayed the VM processes, and the same await
    # with the input open is simply not ready.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_sleep(timedelta(seconds=1))
        assert await_result(vm, handle) is None
        vm.notify_input_closed()
        with pytest.raises(SuspendedError):
            vm.take_async_result(handle)

    out = (
        invocation()
        .input(start_message(2), input_command(), v5.SleepCommandMessage(wake_up_time=1, result_completion_id=1))
        .run_without_closing_input(handler)
    )

    assert out.messages == [suspended_waiting_completion(1)]


# ---- after the output closed ----


def suspended_vm(version: Version = Version.V6) -> tuple[CoreVM, int]:
    vm = new_vm(version)
    feed(vm, start_message(1), input_command(), version=version)
    vm.notify_input_closed()
    vm.sys_input()
    handle = vm.sys_sleep(timedelta(seconds=1))
    vm.notify_await_point(handle)
    assert drain(vm, version) == [
        v5.SleepCommandMessage(wake_up_time=NOW_MILLIS + 1000, result_completion_id=1),
        suspended_waiting_completion(1),
    ]
    return vm, handle


SYS_CALLS = {
    "sys_input": lambda vm: vm.sys_input(),
    "sys_state_get": lambda vm: vm.sys_state_get("k"),
    "sys_state_get_keys": lambda vm: vm.sys_state_get_keys(),
    "sys_state_set": lambda vm: vm.sys_state_set("k", b"v"),
    "sys_state_clear": lambda vm: vm.sys_state_clear("k"),
    "sys_state_clear_all": lambda vm: vm.sys_state_clear_all(),
    "sys_sleep": lambda vm: vm.sys_sleep(timedelta(seconds=1)),
    "sys_call": lambda vm: vm.sys_call(Target("S", "h"), b""),
    "sys_send": lambda vm: vm.sys_send(Target("S", "h"), b""),
    "sys_awakeable": lambda vm: vm.sys_awakeable(),
    "sys_complete_awakeable": lambda vm: vm.sys_complete_awakeable("sign_1x", Success(b"")),
    "sys_get_promise": lambda vm: vm.sys_get_promise("p"),
    "sys_peek_promise": lambda vm: vm.sys_peek_promise("p"),
    "sys_complete_promise": lambda vm: vm.sys_complete_promise("p", Failure(500, "x")),
    "sys_run_enter": lambda vm: vm.sys_run_enter("r"),
    "sys_run_exit": lambda vm: vm.sys_run_exit(Success(b""), RetryPolicy.infinite()),
    "sys_write_output": lambda vm: vm.sys_write_output(Success(b"")),
    "is_ready_to_execute": lambda vm: vm.is_ready_to_execute(),
}


@both_versions
def test_after_suspension(version: Version) -> None:
    # §4.2: after the suspension, take_async_result raises SuspendedError (the HEAD core: 598);
    # every sys_* raises 598 "closed" and writes nothing; sys_end is a no-op.
    vm, handle = suspended_vm(version)

    for name, call in SYS_CALLS.items():
        with pytest.raises(VMError) as info:
            call(vm)
        assert info.value.code == 598, name
        assert "closed" in info.value.message, name
    vm.sys_end()
    vm.notify_await_point(handle)
    vm.notify_error("ignored")
    vm.notify_input(b"\xff" * 20)
    vm.notify_input_closed()

    # Still suspended, and nothing more was written.
    with pytest.raises(SuspendedError):
        vm.take_async_result(handle)
    with pytest.raises(SuspendedError):
        vm.take_async_result(12345)
    assert vm.take_output() is None


@both_versions
def test_after_end(version: Version) -> None:
    # §3.11: after End, sys_end is a no-op; every other call that can raise raises 598 and writes
    # nothing (take_async_result too: the invocation did not suspend).
    vm = processing_vm(version)
    handle = vm.sys_sleep(timedelta(seconds=1))
    vm.sys_end()
    assert drain(vm, version) == [
        v5.SleepCommandMessage(wake_up_time=NOW_MILLIS + 1000, result_completion_id=1),
        end(),
    ]

    vm.sys_end()
    for name, call in SYS_CALLS.items():
        with pytest.raises(VMError) as info:
            call(vm)
        assert info.value.code == 598, name
    with pytest.raises(VMError) as taken:
        vm.take_async_result(handle)
    assert taken.value.code == 598
    vm.notify_await_point(handle)
    vm.notify_error("ignored")
    assert vm.take_output() is None


def test_sys_end_while_replaying() -> None:
    # §3.11: sys_end with commands left to replay is a 571 (unexpected state). Ending creates no
    # command, so the ErrorMessage names none (as the Rust core's does not).
    errors: list[VMError] = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(VMError) as info:
            vm.sys_end()
        errors.append(info.value)

    out = (
        invocation()
        .input(start_message(2), input_command(), v5.OutputCommandMessage(value=v5.Value(content=b"x")))
        .run(handler)
    )

    (error,) = errors
    assert error.code == 571
    assert out.messages == [error_from(error)]
    assert not out.messages[0].HasField("related_command_index")


# ---- related command of an ErrorMessage ----


def test_related_command_of_a_sys_call_error() -> None:
    # A sys-call error names the command being created: index, type and name.
    errors: list[VMError] = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_state_set("a", b"1")
        with pytest.raises(VMError) as info:
            vm.sys_run_enter("my-run")
        errors.append(info.value)

    out = (
        invocation()
        .input(
            start_message(3),
            input_command(),
            v5.SetStateCommandMessage(key=b"a", value=v5.Value(content=b"1")),
            v5.RunCommandMessage(result_completion_id=1, name="another-run"),
        )
        .run(handler)
    )

    (error,) = errors
    assert error.code == 570
    assert out.messages == [error_from(error, related=(2, "my-run", 0x0411))]


def test_related_command_of_notify_error() -> None:
    # notify_error names the last command created ("Last", core-v5.md §4.1).
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_state_set("a", b"1")
        vm.sys_sleep(timedelta(seconds=1))
        vm.notify_error("boom", "trace", timedelta(milliseconds=1500))

    out = invocation().input(start_message(1), input_command()).run(handler)

    assert out.messages == [
        v5.SetStateCommandMessage(key=b"a", value=v5.Value(content=b"1")),
        v5.SleepCommandMessage(wake_up_time=NOW_MILLIS + 1000, result_completion_id=1),
        error_message(500, "boom", "trace", related=(2, "", 0x040C), next_retry_delay=1500),
    ]


def test_notify_error_before_any_command() -> None:
    # §3.12.9 has no counterpart (no relationship argument): before the first command there is no
    # journal position, so the ErrorMessage names none.
    vm = new_vm()
    feed(vm, start_message(1), input_command())
    vm.notify_error("early")

    assert drain(vm) == [error_message(500, "early")]


def test_run_retry_error_names_the_run_and_the_delay() -> None:
    # §4.3: a retried run fails the attempt with the run's error, the run command {index, name,
    # 0x0411} as related command, and next_retry_delay in ms.
    errors: list[VMError] = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_state_set("a", b"1")
        vm.sys_state_clear("b")
        assert vm.sys_run_enter("flaky") == NotExecuted(EntryRetryInfo())
        with pytest.raises(VMError) as info:
            vm.sys_run_exit(
                RetryableFailure(Failure(503, "unavailable"), timedelta(milliseconds=10)),
                RetryPolicy.exponential(timedelta(milliseconds=250), 2.0, max_attempts=5),
            )
        errors.append(info.value)

    out = invocation().input(start_message(1), input_command()).run(handler)

    assert errors == [VMError(503, "unavailable")]
    assert out.messages == [
        v5.SetStateCommandMessage(key=b"a", value=v5.Value(content=b"1")),
        v5.ClearStateCommandMessage(key=b"b"),
        v5.RunCommandMessage(result_completion_id=1, name="flaky"),
        error_message(503, "unavailable", related=(3, "flaky", 0x0411), next_retry_delay=250),
    ]


# ---- state ----


@both_versions
def test_eager_state_keys_do_not_list_cleared_keys(version: Version) -> None:
    # §3.12.3, a deliberate deviation: the Rust core lists keys cleared with clear(k) among the
    # eager keys; the port lists what the runtime would answer: the keys that hold a value, sorted.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_state_set("c", b"3")
        vm.sys_state_clear("b")
        vm.sys_state_clear("never-set")
        result = await_result(vm, vm.sys_state_get_keys())
        assert result == StateKeys(["a", "c", "d"])
        vm.sys_end()

    out = (
        invocation(version)
        .input(start_message(1, partial_state=False, state_map={"d": b"4", "b": b"2", "a": b"1"}), input_command())
        .run(handler)
    )

    assert out.messages == [
        v5.SetStateCommandMessage(key=b"c", value=v5.Value(content=b"3")),
        v5.ClearStateCommandMessage(key=b"b"),
        v5.ClearStateCommandMessage(key=b"never-set"),
        v5.GetEagerStateKeysCommandMessage(value=v5.StateKeys(keys=[b"a", b"c", b"d"])),
        end(),
    ]


def test_eager_state_keys_after_clear_all() -> None:
    # clear_all makes the state complete and empty: eager keys are then known, even if the state
    # was partial before.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_state_clear_all()
        vm.sys_state_set("z", b"1")
        vm.sys_state_set("y", b"2")
        assert await_result(vm, vm.sys_state_get_keys()) == StateKeys(["y", "z"])
        vm.sys_end()

    out = invocation().input(start_message(1, state_map={"a": b"1"}), input_command()).run(handler)

    assert out.messages == [
        v5.ClearAllStateCommandMessage(),
        v5.SetStateCommandMessage(key=b"z", value=v5.Value(content=b"1")),
        v5.SetStateCommandMessage(key=b"y", value=v5.Value(content=b"2")),
        v5.GetEagerStateKeysCommandMessage(value=v5.StateKeys(keys=[b"y", b"z"])),
        end(),
    ]


def test_lazy_get_does_not_populate_the_eager_state() -> None:
    # §3.12.6 (kept): the value a lazy get fetched is not remembered; the next get is lazy again
    # (with its own completion id).
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert await_result(vm, vm.sys_state_get("STATE")) == Success(b"Francesco")
        assert await_result(vm, vm.sys_state_get("STATE")) == Success(b"Francesco")
        vm.sys_end()

    out = (
        invocation()
        .input(
            start_message(1),
            input_command(),
            notification(GET_LAZY_STATE_COMPLETION, completion_id=1, value=b"Francesco"),
            notification(GET_LAZY_STATE_COMPLETION, completion_id=2, value=b"Francesco"),
        )
        .run(handler)
    )

    assert out.messages == [
        v5.GetLazyStateCommandMessage(key=b"STATE", result_completion_id=1),
        v5.GetLazyStateCommandMessage(key=b"STATE", result_completion_id=2),
        end(),
    ]


def test_eager_get_replayed_as_lazy() -> None:
    # §3.5: a state get replays whichever variant was recorded; a recorded lazy get is not
    # a mismatch even though the state map now knows the key.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert await_result(vm, vm.sys_state_get("STATE")) == Success(b"old")
        assert await_result(vm, vm.sys_state_get("STATE")) == Success(b"new")
        vm.sys_end()

    out = (
        invocation()
        .input(
            start_message(3, partial_state=False, state_map={"STATE": b"new"}),
            input_command(),
            v5.GetLazyStateCommandMessage(key=b"STATE", result_completion_id=1),
            notification(GET_LAZY_STATE_COMPLETION, completion_id=1, value=b"old"),
        )
        .run(handler)
    )

    assert out.messages == [eager_get(b"STATE", b"new"), end()]


# ---- replay checks ----


def test_sleep_completion_id_is_not_compared_on_replay() -> None:
    # §3.12.5 (kept): a sleep is compared on its name only; the awaited id is the one allocated now.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_sleep(timedelta(seconds=1))
        with pytest.raises(SuspendedError):
            await_result(vm, handle)

    out = (
        invocation()
        .input(start_message(2), input_command(), v5.SleepCommandMessage(wake_up_time=5, result_completion_id=7))
        .run(handler)
    )

    assert out.messages == [suspended_waiting_completion(1)]


def test_type_mismatch_names_recorded_then_current() -> None:
    # §3.12.4: the Rust core's type-mismatch message swaps the two names; the port does not.
    errors: list[VMError] = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(VMError) as info:
            vm.sys_state_set("my-key", b"v")
        errors.append(info.value)

    invocation().input(start_message(2), input_command(), v5.SleepCommandMessage(result_completion_id=1)).run(handler)

    (error,) = errors
    assert error.code == 570
    recorded = error.message.index("SleepCommandMessage")
    current = error.message.index("SetStateCommandMessage")
    assert recorded < current
    assert "recorded" in error.message[:recorded]


def test_run_proposal_while_replaying() -> None:
    # §3.12.8 / §4.3: the Rust core ignores a proposal outside Processing; the old API executes
    # runs eagerly, so the port sends it at once, also while replaying. Replay goes on normally.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert vm.sys_run_enter("r") == NotExecuted(EntryRetryInfo())
        handle = vm.sys_run_exit(Success(b"v"), RetryPolicy.infinite())
        vm.sys_sleep(timedelta(seconds=1))
        with pytest.raises(SuspendedError):
            await_result(vm, handle)

    out = (
        invocation()
        .input(
            start_message(3),
            input_command(),
            v5.RunCommandMessage(result_completion_id=1, name="r"),
            v5.SleepCommandMessage(wake_up_time=1, result_completion_id=2),
        )
        .run(handler)
    )

    assert out.messages == [
        v5.ProposeRunCompletionMessage(result_completion_id=1, value=b"v"),
        suspended_waiting_completion(1),
    ]


# A notification the runtime sends for the completion id of an eager state read (it should not:
# the command carries its own result). The Rust core queues every notification and files it
# only when an await gets to it, over whatever is filed under its id; this port does the same.


def test_a_notification_ahead_of_an_eager_read_loses_to_an_await_on_that_read() -> None:
    # The await asks for the read's own completion id, which is filed: nothing is taken from the queue.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert await_result(vm, vm.sys_state_get("a")) == VOID
        vm.sys_end()

    out = (
        invocation()
        .input(
            start_message(1, partial_state=False),
            input_command(),
            notification(GET_LAZY_STATE_COMPLETION, completion_id=1, value=b"runtime"),
        )
        .run(handler)
    )
    assert out.messages == [v5.GetEagerStateCommandMessage(key=b"a", void=v5.Void()), end()]


def test_a_notification_ahead_of_an_eager_read_wins_once_an_await_went_past_it() -> None:
    # The sleep's await files the queued notifications up to the sleep's: the one for the read's
    # completion id goes over the read's own result.
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        read = vm.sys_state_get("a")
        assert await_result(vm, vm.sys_sleep(timedelta(0))) == VOID
        assert await_result(vm, read) == Success(b"runtime")
        vm.sys_end()

    invocation().input(
        start_message(1, partial_state=False),
        input_command(),
        notification(GET_LAZY_STATE_COMPLETION, completion_id=1, value=b"runtime"),
        notification(SLEEP_COMPLETION, completion_id=2, void=True),
    ).run(handler)
