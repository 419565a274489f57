"""Upstream ``src/tests/failures.rs`` (core-v5.md §7, "failures.rs"; §3.4, §3.11).

The ``journal_mismatch`` sub-module is a test class here. The port's error texts differ from the
Rust core's (the spec leaves them free); the tests check the code, the journal position, and the
differing field with both values, and compare the full ErrorMessage with the raised error.

Skipped upstream tests:

* ``notify_error_with_should_pause`` [V7] and ``notify_error_with_should_pause_on_v6_emits_
  unsupported_feature`` [V6]: ``notify_error`` has no pause behaviour in our API.
* ``journal_mismatch::pause_retry_policy_sets_pause_behavior_on_mismatch``,
  ``fail_retry_policy_sets_fail_behavior_on_mismatch``,
  ``follow_retry_policy_keeps_retry_behavior_on_mismatch`` [V7], and
  ``pause_retry_policy_on_v6_keeps_retry_behavior``, ``fail_retry_policy_on_v6_keeps_retry_behavior``
  [V6]: our API has no journal-mismatch retry option.
* ``journal_mismatch::disable_non_deterministic_payload_checks_on_vm`` and the seven
  ``*_with_unstable_payload`` tests: our API has no payload-checks option nor per-call payload
  options.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from google.protobuf.message import Message

from restate_core import CoreVM, EntryRetryInfo, NotExecuted, RetryPolicy, Success, Target, VMError
from restate_core.protocol import Version, v5
from restate_core.testing import notification

from .conftest import (
    SLEEP_COMPLETION,
    both_versions,
    drain,
    error_from,
    error_message,
    feed,
    input_command,
    invocation,
    new_vm,
    start_message,
)

INPUT_CLOSED_WHILE_WAITING_ENTRIES = VMError(
    571, "The input was closed while still waiting to receive all journal to replay"
)


@both_versions
def test_got_closed_stream_before_end_of_replay(version: Version) -> None:
    vm = new_vm(version)
    # 2 expected entries, only the input arrives.
    feed(vm, start_message(2, partial_state=False), input_command(None), version=version)
    vm.notify_input_closed()

    with pytest.raises(VMError) as info:
        vm.is_ready_to_execute()
    assert info.value == INPUT_CLOSED_WHILE_WAITING_ENTRIES

    # An error caused by the input: no related command.
    assert drain(vm, version) == [error_from(INPUT_CLOSED_WHILE_WAITING_ENTRIES)]


def test_known_entries_zero() -> None:
    # Not upstream (§3.3): a StartMessage announcing no journal at all is a 500.
    vm = new_vm()
    feed(vm, start_message(0))

    with pytest.raises(VMError) as info:
        vm.is_ready_to_execute()
    assert info.value == VMError(500, "Known entries is zero, expected >= 1")
    assert drain(vm) == [error_from(info.value)]


def test_eager_state_key_not_utf8() -> None:
    # Not upstream (§3.3): state keys must be UTF-8: 500.
    start = start_message(1)
    start.state_map.add(key=b"\xff\xfe", value=b"v")
    vm = new_vm()
    feed(vm, start)

    with pytest.raises(VMError) as info:
        vm.is_ready_to_execute()
    assert info.value.code == 500
    assert info.value.message.startswith("Cannot convert a eager state key into UTF-8 String")
    assert drain(vm) == [error_from(info.value)]


def test_input_closed_before_the_start_message() -> None:
    # Not upstream (§3.3): closing the input before the journal arrived is a 571.
    vm = new_vm()
    vm.notify_input_closed()

    with pytest.raises(VMError) as info:
        vm.is_ready_to_execute()
    assert info.value == INPUT_CLOSED_WHILE_WAITING_ENTRIES
    assert drain(vm) == [error_from(INPUT_CLOSED_WHILE_WAITING_ENTRIES)]


def test_sys_input_twice() -> None:
    # Not upstream (§3.3): the second sys_input is in Processing: 571, naming the input command.
    errors: list[VMError] = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(VMError) as info:
            vm.sys_input()
        errors.append(info.value)

    out = invocation().input(start_message(1), input_command()).run(handler)

    (error,) = errors
    assert error.code == 571
    assert out.messages == [error_from(error, related=(0, "", 0x0400))]


def test_explicit_error_notification() -> None:
    # Upstream passes relationship Next{Call} and expects index 1, type 0x040D. The old API's
    # notify_error has no relationship: it names the current journal position ("Last", core-v5.md
    # §4.1), here the input command (index 0, type 0x0400, no name).
    out = (
        invocation()
        .input(start_message(1), input_command(b"my-data"))
        .run(lambda vm: (vm.sys_input(), vm.notify_error("my-error", next_retry_delay=timedelta(seconds=10))))
    )

    assert out.messages == [error_message(500, "my-error", related=(0, "", 0x0400), next_retry_delay=10_000)]


def assert_mismatch(error: VMError, index: int, field: str, recorded: str, current: str) -> None:
    """A 570 naming the command index and, on one line, the differing field with both values."""
    assert error.code == 570, error
    assert f"command {index}" in error.message, error.message
    lines = [line for line in error.message.splitlines() if field in line and recorded in line and current in line]
    assert lines, f"no line names {field!r} with {recorded!r} and {current!r}: {error.message}"


class TestJournalMismatch:
    @staticmethod
    def expect_mismatch_on_replay(
        recorded: Message,
        command_type: int,
        user_code: Callable[[CoreVM], object],
        difference: tuple[str, str, str],
        version: Version = Version.V6,
    ) -> None:
        errors: list[VMError] = []

        def handler(vm: CoreVM) -> None:
            vm.sys_input()
            with pytest.raises(VMError) as info:
                user_code(vm)
            errors.append(info.value)
            # Sticky: the next call raises the same error.
            with pytest.raises(VMError) as again:
                vm.sys_end()
            assert again.value is info.value

        out = (
            invocation(version)
            .input(start_message(2, partial_state=True), input_command(b"my-data"), recorded)
            .run(handler)
        )

        (error,) = errors
        assert_mismatch(error, 1, *difference)
        # A sys-call error names the command it was replaying: index 1 and its type.
        assert out.messages == [error_from(error, related=(1, "", command_type))]

    @both_versions
    def test_get_lazy_state_mismatch(self, version: Version) -> None:
        self.expect_mismatch_on_replay(
            v5.GetLazyStateCommandMessage(key=b"my-key", result_completion_id=1),
            0x0402,
            lambda vm: vm.sys_state_get("another-key"),
            ("key", "'my-key'", "'another-key'"),
            version,
        )

    def test_set_state_mismatch(self) -> None:
        self.expect_mismatch_on_replay(
            v5.SetStateCommandMessage(key=b"my-key", value=v5.Value(content=b"my-value")),
            0x0403,
            lambda vm: vm.sys_state_set("my-key", b"another-value"),
            ("value", "'my-value'", "'another-value'"),
        )

    def test_one_way_call_mismatch(self) -> None:
        self.expect_mismatch_on_replay(
            v5.OneWayCallCommandMessage(
                service_name="greeter",
                handler_name="greet",
                key="my-key",
                parameter=b"123",
                invocation_id_notification_idx=1,
            ),
            0x040E,
            lambda vm: vm.sys_send(Target("greeter", "greet", "my-key"), b"456"),
            ("parameter", "'123'", "'456'"),
        )

    def test_type_mismatch(self) -> None:
        # Not upstream: a recorded command of another type (a sleep where the code now sets state).
        errors: list[VMError] = []

        def handler(vm: CoreVM) -> None:
            vm.sys_input()
            with pytest.raises(VMError) as info:
                vm.sys_state_set("my-key", b"v")
            errors.append(info.value)

        out = (
            invocation()
            .input(start_message(2), input_command(), v5.SleepCommandMessage(result_completion_id=1))
            .run(handler)
        )

        (error,) = errors
        assert error.code == 570
        assert "SleepCommandMessage" in error.message and "SetStateCommandMessage" in error.message
        assert out.messages == [error_from(error, related=(1, "", 0x0403))]

    @both_versions
    def test_add_await_run_after_progress_was_made(self, version: Version) -> None:
        errors: list[VMError] = []

        def handler(vm: CoreVM) -> None:
            vm.sys_input()
            # The run's completion is not in the journal: the old API executes it and proposes
            # its result right away (core-v5.md §4.3), still while replaying.
            assert vm.sys_run_enter("my-side-effect") == NotExecuted(EntryRetryInfo())
            handle = vm.sys_run_exit(Success(b"123"), RetryPolicy.infinite())
            # Awaiting it while commands are left to replay cannot be satisfied: 570.
            vm.notify_await_point(handle)
            with pytest.raises(VMError) as info:
                vm.take_async_result(handle)
            errors.append(info.value)

        out = (
            invocation(version)
            .input(
                start_message(4),
                input_command(b"my-data"),
                # We have a run, then a sleep that is already completed.
                v5.RunCommandMessage(result_completion_id=1, name="my-side-effect"),
                v5.SleepCommandMessage(wake_up_time=0, result_completion_id=2),
                notification(SLEEP_COMPLETION, completion_id=2, void=True),
            )
            .run(handler)
        )

        (error,) = errors
        assert error.code == 570
        assert error.message.endswith("\n - run [my-side-effect]\n - Cancellation"), error.message
        # Upstream expects only the ErrorMessage: upstream proposes only after an ExecuteRun await,
        # which cannot happen while replaying. The related command is the run.
        assert out.messages == [
            v5.ProposeRunCompletionMessage(result_completion_id=1, value=b"123"),
            error_from(error, related=(1, "my-side-effect", 0x0411)),
        ]

    def test_add_await_sleep_after_progress_was_made(self) -> None:
        # The user code is `await sleep(); await sleep()`, but the journal could only have been
        # made by `sleep(); await sleep()`: the first sleep's notification would be in it otherwise.
        errors: list[VMError] = []

        def handler(vm: CoreVM) -> None:
            vm.sys_input()
            handle = vm.sys_sleep(timedelta(0))
            vm.notify_await_point(handle)
            with pytest.raises(VMError) as info:
                vm.take_async_result(handle)
            errors.append(info.value)

        out = (
            invocation()
            .input(
                start_message(4),
                input_command(b"my-data"),
                v5.SleepCommandMessage(wake_up_time=0, result_completion_id=1),
                v5.SleepCommandMessage(wake_up_time=0, result_completion_id=2),
                notification(SLEEP_COMPLETION, completion_id=2, void=True),
            )
            .run(handler)
        )

        (error,) = errors
        assert error.code == 570
        assert error.message.endswith("\n - completion id 1\n - Cancellation"), error.message
        # Not a run: no related command.
        assert out.messages == [error_from(error)]

    def test_add_await_awakeable_after_progress_was_made(self) -> None:
        # `await awakeable(); await sleep()` vs a journal made by `awakeable(); await sleep()`.
        errors: list[VMError] = []

        def handler(vm: CoreVM) -> None:
            vm.sys_input()
            _, handle = vm.sys_awakeable()
            vm.notify_await_point(handle)
            with pytest.raises(VMError) as info:
                vm.take_async_result(handle)
            errors.append(info.value)

        out = (
            invocation()
            .input(
                start_message(3),
                input_command(b"my-data"),
                v5.SleepCommandMessage(wake_up_time=0, result_completion_id=2),
                notification(SLEEP_COMPLETION, completion_id=2, void=True),
            )
            .run(handler)
        )

        (error,) = errors
        assert error.code == 570
        assert error.message.endswith("\n - Awakeable sign_1MTIzAAAAEQ\n - Cancellation"), error.message
        assert out.messages == [error_from(error)]
