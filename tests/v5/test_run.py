"""Upstream ``src/tests/run.rs`` (core-v5.md §7, "run.rs"; §3.7 and the old-API mapping §4.3).

Old API mapping: upstream ``sys_run`` + an await answering ``ExecuteRun`` + ``propose_run_completion``
is ``sys_run_enter`` (``NotExecuted``) + ``sys_run_exit``, which writes the ProposeRunCompletion at
once. A run whose RunCompletion is already in the journal is ``Executed(value)`` (upstream
``replayed = true``). The runtime's echo is a RunCompletionNotification (0x8011) for the run's
completion id. The ``retry_policy`` sub-module is a test class.

Skipped upstream tests: ``replay_without_completion_with_any`` [comb] (awaits any of a run and a
sleep); ``v7_with_ack::*`` [V7] (4 tests); the pause-policy tests
``exit_with_retryable_error_fixed_delay_pause_on_max_attempts``, ``..._pause_on_max_duration``,
``exit_with_retryable_error_exponential_pause_on_max_attempts`` [V7] and
``propose_run_completion_with_pause_policy_on_v6_returns_unsupported_feature`` [V6]: our
``RetryPolicy`` has no pause behaviour.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from restate_core import (
    CoreVM,
    EntryRetryInfo,
    Executed,
    Failure,
    NotExecuted,
    RetryableFailure,
    RetryPolicy,
    Success,
    SuspendedError,
    VMError,
)
from restate_core.protocol import Version, v5
from restate_core.testing import Frame, await_result, notification

from .conftest import (
    NOW_MILLIS,
    RUN_COMPLETION,
    both_versions,
    end,
    error_message,
    feed,
    input_command,
    invocation,
    output_failure,
    output_success,
    start_message,
    suspended_waiting_completion,
)

RUN = v5.RunCommandMessage(result_completion_id=1, name="my-side-effect")
PROPOSE_123 = v5.ProposeRunCompletionMessage(result_completion_id=1, value=b"123")


def run_completion(completion_id: int, *, value: bytes | None = None, failure: tuple[int, str] | None = None) -> Frame:
    return notification(RUN_COMPLETION, completion_id=completion_id, value=value, failure=failure)


def start() -> v5.StartMessage:
    return start_message(1, partial_state=False)


@both_versions
def test_enter_then_propose_completion_then_suspend(version: Version) -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert vm.sys_run_enter("my-side-effect") == NotExecuted(EntryRetryInfo())
        handle = vm.sys_run_exit(Success(b"123"), RetryPolicy.infinite())
        # Not yet closed: the completion could still arrive.
        assert await_result(vm, handle) is None
        # Input closed: the completion will not arrive any more; the pending await suspends.
        vm.notify_input_closed()
        with pytest.raises(SuspendedError):
            vm.take_async_result(handle)

    out = invocation(version).input(start(), input_command(b"my-data")).run_without_closing_input(handler)

    assert out.messages == [RUN, PROPOSE_123, suspended_waiting_completion(1)]


@both_versions
def test_enter_then_propose_completion_then_complete(version: Version) -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert vm.sys_run_enter("my-side-effect") == NotExecuted(EntryRetryInfo())
        handle = vm.sys_run_exit(Success(b"123"), RetryPolicy.infinite())
        feed(vm, run_completion(1, value=b"123"), version=version)
        vm.notify_input_closed()
        result = await_result(vm, handle)
        assert result == Success(b"123")
        vm.sys_write_output(result)
        vm.sys_end()

    out = invocation(version).input(start(), input_command(b"my-data")).run_without_closing_input(handler)

    assert out.messages == [RUN, PROPOSE_123, output_success(b"123"), end()]


def test_enter_then_propose_completion_then_complete_with_failure() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_run_enter("my-side-effect")
        handle = vm.sys_run_exit(Failure(500, "my-failure"), RetryPolicy.infinite())
        feed(vm, run_completion(1, failure=(500, "my-failure")))
        vm.notify_input_closed()
        result = await_result(vm, handle)
        assert result == Failure(500, "my-failure")
        vm.sys_write_output(result)
        vm.sys_end()

    out = invocation().input(start(), input_command(b"my-data")).run_without_closing_input(handler)

    assert out.messages == [
        RUN,
        v5.ProposeRunCompletionMessage(result_completion_id=1, failure=v5.Failure(code=500, message="my-failure")),
        output_failure(500, "my-failure"),
        end(),
    ]


def test_enter_then_notify_input_closed_then_propose_completion() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_run_enter("my-side-effect")
        # The input closes while the run executes: nothing is awaited, nothing suspends yet.
        vm.notify_input_closed()
        handle = vm.sys_run_exit(Success(b"123"), RetryPolicy.infinite())
        with pytest.raises(SuspendedError):
            await_result(vm, handle)

    out = invocation().input(start(), input_command(b"my-data")).run_without_closing_input(handler)

    assert out.messages == [RUN, PROPOSE_123, suspended_waiting_completion(1)]


@both_versions
def test_replay_without_completion(version: Version) -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert vm.sys_run_enter("my-side-effect") == NotExecuted(EntryRetryInfo())
        handle = vm.sys_run_exit(Success(b"123"), RetryPolicy.infinite())
        with pytest.raises(SuspendedError):
            await_result(vm, handle)

    out = invocation(version).input(start_message(2), input_command(b"my-data"), RUN).run(handler)

    # The Run command was replayed: only the proposal is new.
    assert out.messages == [PROPOSE_123, suspended_waiting_completion(1)]


@both_versions
def test_replay_with_completion(version: Version) -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        result = vm.sys_run_enter("my-side-effect")
        assert result == Executed(Success(b"123"))
        vm.sys_write_output(result.value)
        vm.sys_end()

    out = (
        invocation(version)
        .input(start_message(3), input_command(b"my-data"), RUN, run_completion(1, value=b"123"))
        .run(handler)
    )

    assert out.messages == [output_success(b"123"), end()]


def test_replay_with_completion_followed_by_another_command_is_replayed() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        # Still replaying, the completion is further down the journal: not executed.
        result = vm.sys_run_enter("my-side-effect")
        assert result == Executed(Success(b"123"))
        # Replay the trailing command too.
        vm.sys_sleep(timedelta(0))
        vm.sys_write_output(result.value)
        vm.sys_end()

    out = (
        invocation()
        .input(
            start_message(4),
            input_command(b"my-data"),
            RUN,
            v5.SleepCommandMessage(wake_up_time=0, result_completion_id=2),
            run_completion(1, value=b"123"),
        )
        .run(handler)
    )

    # Neither a Run nor a ProposeRunCompletion is written.
    assert out.messages == [output_success(b"123"), end()]


def test_enter_then_notify_error() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert vm.sys_run_enter("my-side-effect") == NotExecuted(EntryRetryInfo())
        vm.notify_error("my-error", "my-error-description")

    out = invocation().input(start_message(1), input_command(b"my-data")).run(handler)

    # Upstream passes no relationship (no related command); the old API's notify_error names the
    # current journal position, here the run (core-v5.md §4.1, "Last").
    assert out.messages == [
        RUN,
        error_message(500, "my-error", "my-error-description", related=(1, "my-side-effect", 0x0411)),
    ]


class TestRetryPolicy:
    @staticmethod
    def should_stop_retrying(
        retry_count: int,
        retry_duration: timedelta,
        attempt_duration: timedelta,
        retry_policy: RetryPolicy,
        version: Version = Version.V6,
    ) -> None:
        # The Run was stored by an earlier attempt and is the last replayed command: the
        # StartMessage's retry counters apply (§3.7). The policy gives up: the failure is proposed
        # as the run's terminal result, and the runtime echoes it.
        def handler(vm: CoreVM) -> None:
            vm.sys_input()
            expected_info = EntryRetryInfo(retry_count, retry_duration if retry_count else timedelta(0))
            assert vm.sys_run_enter("my-side-effect") == NotExecuted(expected_info)
            handle = vm.sys_run_exit(RetryableFailure(Failure(500, "my-error"), attempt_duration), retry_policy)
            feed(vm, run_completion(1, failure=(500, "my-error")), version=version)
            vm.notify_input_closed()
            result = await_result(vm, handle)
            assert result == Failure(500, "my-error")
            vm.sys_write_output(result)
            vm.sys_end()

        out = (
            invocation(version)
            .input(
                start_message(
                    2, retry_count=retry_count, retry_duration_ms=retry_duration // timedelta(milliseconds=1)
                ),
                input_command(b"my-data"),
                RUN,
            )
            .run_without_closing_input(handler)
        )

        assert out.messages == [
            v5.ProposeRunCompletionMessage(result_completion_id=1, failure=v5.Failure(code=500, message="my-error")),
            output_failure(500, "my-error"),
            end(),
        ]

    @staticmethod
    def should_continue_retrying(
        retry_count: int,
        retry_duration: timedelta,
        attempt_duration: timedelta,
        retry_policy: RetryPolicy,
        next_retry_delay_ms: int | None,
        version: Version = Version.V6,
    ) -> None:
        # A fresh Run: the policy retries, so the attempt fails with the run's error, naming the run
        # command and the delay; nothing is proposed. Upstream also expects the error's stacktrace;
        # the old API's RetryableFailure carries none.
        errors: list[VMError] = []

        def handler(vm: CoreVM) -> None:
            vm.sys_input()
            vm.sys_run_enter("my-side-effect")
            with pytest.raises(VMError) as info:
                vm.sys_run_exit(RetryableFailure(Failure(500, "my-error"), attempt_duration), retry_policy)
            errors.append(info.value)

        out = (
            invocation(version)
            .input(
                start_message(
                    1, retry_count=retry_count, retry_duration_ms=retry_duration // timedelta(milliseconds=1)
                ),
                input_command(b"my-data"),
            )
            .run(handler)
        )

        assert errors == [VMError(500, "my-error")]
        assert out.messages == [
            RUN,
            error_message(500, "my-error", related=(1, "my-side-effect", 0x0411), next_retry_delay=next_retry_delay_ms),
        ]

    @both_versions
    def test_exit_with_retryable_error_no_retry_policy(self, version: Version) -> None:
        # Infinite: retry, and let the runtime pick the delay (no next_retry_delay).
        self.should_continue_retrying(0, timedelta(0), timedelta(0), RetryPolicy.infinite(), None, version)

    @pytest.mark.parametrize(
        ("retry_count", "max_attempts"), [(0, 0), (0, 1), (1, 2), (2, 2), (2, 1), (2, 0), (99, 100)]
    )
    def test_should_stop_retrying_with_retry_count_and_max_attempts(self, retry_count: int, max_attempts: int) -> None:
        self.should_stop_retrying(
            retry_count,
            timedelta(seconds=1),
            timedelta(seconds=1),
            RetryPolicy.exponential(timedelta(seconds=1), 1.0, max_attempts=max_attempts),
        )

    @pytest.mark.parametrize(("retry_count", "max_attempts"), [(0, 2), (1, 3), (99, 101)])
    def test_should_continue_retrying_with_retry_count_and_max_attempts(
        self, retry_count: int, max_attempts: int
    ) -> None:
        self.should_continue_retrying(
            retry_count,
            timedelta(0),
            timedelta(0),
            RetryPolicy.exponential(timedelta(seconds=1), 1.0, max_attempts=max_attempts),
            1000,
        )

    def test_exit_with_retryable_error_retry_policy_duration(self) -> None:
        self.should_stop_retrying(
            0,
            timedelta(0),
            timedelta(seconds=1),
            RetryPolicy.exponential(timedelta(seconds=1), 1.0, max_duration=timedelta(seconds=1)),
        )

    @both_versions
    def test_exit_with_retryable_error_retry_policy_none(self, version: Version) -> None:
        self.should_stop_retrying(0, timedelta(0), timedelta(0), RetryPolicy.none(), version)

    def test_exit_with_retryable_error_retry_policy_fixed(self) -> None:
        self.should_continue_retrying(
            0, timedelta(0), timedelta(0), RetryPolicy.fixed_delay(timedelta(seconds=1)), 1000
        )

    def test_exit_with_retryable_error_retry_policy_exhausted_max_duration(self) -> None:
        self.should_stop_retrying(
            1,
            timedelta(seconds=1),
            timedelta(seconds=1),
            RetryPolicy.fixed_delay(timedelta(seconds=1), max_duration=timedelta(seconds=2)),
        )

    def test_exit_with_retryable_error_retry_policy_exhausted_max_attempts(self) -> None:
        self.should_stop_retrying(
            9,
            timedelta(seconds=1),
            timedelta(seconds=1),
            RetryPolicy.fixed_delay(timedelta(seconds=1), max_attempts=10),
        )

    def test_exit_with_retryable_error_retry_policy_exhausted_max_attempts_0(self) -> None:
        self.should_stop_retrying(
            0,
            timedelta(seconds=1),
            timedelta(seconds=1),
            RetryPolicy.exponential(timedelta(seconds=1), 1.0, max_attempts=0),
        )

    def test_exit_with_retryable_error_retry_policy_exhausted_max_attempts_1(self) -> None:
        self.should_stop_retrying(
            1,
            timedelta(seconds=1),
            timedelta(seconds=1),
            RetryPolicy.exponential(timedelta(seconds=1), 1.0, max_attempts=0),
        )

    @both_versions
    def test_retry_info_is_zero_when_entry_is_the_one_after_the_first_new_entry(self, version: Version) -> None:
        errors: list[VMError] = []

        def handler(vm: CoreVM) -> None:
            vm.sys_input()
            # Just create another journal entry.
            vm.sys_sleep(timedelta(seconds=100))
            # The start counters (10, 10 s) do not apply any more.
            assert vm.sys_run_enter("my-side-effect") == NotExecuted(EntryRetryInfo())
            with pytest.raises(VMError) as info:
                vm.sys_run_exit(
                    RetryableFailure(Failure(500, "my-error"), timedelta(milliseconds=99)),
                    RetryPolicy.fixed_delay(
                        timedelta(seconds=1), max_attempts=2, max_duration=timedelta(milliseconds=100)
                    ),
                )
            errors.append(info.value)

        out = (
            invocation(version)
            .input(start_message(1, retry_count=10, retry_duration_ms=10_000), input_command(b"my-data"))
            .run(handler)
        )

        assert errors == [VMError(500, "my-error")]
        assert out.messages == [
            v5.SleepCommandMessage(wake_up_time=NOW_MILLIS + 100_000, result_completion_id=1),
            v5.RunCommandMessage(result_completion_id=2, name="my-side-effect"),
            error_message(500, "my-error", related=(2, "my-side-effect", 0x0411), next_retry_delay=1000),
        ]


def test_syscall_inside_run() -> None:
    # Old-API error kept (core-v5.md §4.3): a syscall between enter and exit is a 500.
    errors: list[VMError] = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_run_enter("my-side-effect")
        with pytest.raises(VMError) as info:
            vm.sys_state_get("key")
        errors.append(info.value)

    out = invocation().input(start(), input_command()).run(handler)

    (error,) = errors
    assert error.code == 500
    assert "from within a run" in error.message
    assert out.messages == [RUN, error_message(500, error.message, related=(2, "", 0x0407))]


def test_exit_without_enter() -> None:
    # Old-API error kept (core-v5.md §4.3): exit without enter is a 500.
    errors: list[VMError] = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(VMError) as info:
            vm.sys_run_exit(Success(b""), RetryPolicy.infinite())
        errors.append(info.value)

    out = invocation().input(start(), input_command()).run(handler)

    (error,) = errors
    assert error.code == 500
    assert out.messages == [error_message(500, error.message, related=(0, "", 0x0400))]
