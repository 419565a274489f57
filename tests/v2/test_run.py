"""Upstream ``src/tests/run.rs`` (core-v2.md §7.9).

The upstream sub-modules ``consecutive_run`` and ``retry_policy`` are test
classes here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
from restate_core.protocol import REQUIRES_ACK, Version, encode_frame, v2
from restate_core.testing import await_result, encode_input

from .conftest import (
    ack,
    assert_related_entry,
    end,
    error_as_vm_error,
    feed,
    input_entry,
    invocation,
    output,
    start_message,
    suspension,
)

RUN = v2.MessageType.RUN_ENTRY


def run_entry(name: str, value: bytes | None = None, *, failure: tuple[int, str] | None = None) -> v2.RunEntryMessage:
    """``R(name, res)``."""
    if failure is not None:
        return v2.RunEntryMessage(name=name, failure=v2.Failure(code=failure[0], message=failure[1]))
    return v2.RunEntryMessage(name=name, value=value)


def test_run_guard() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert vm.sys_run_enter("") == NotExecuted(EntryRetryInfo())
        with pytest.raises(VMError) as raised:
            vm.sys_state_get("Personaggio")
        assert raised.value == VMError(500, "A syscall was invoked from within a run operation")

    out = invocation().input(start_message(1, partial_state=False), input_entry(b"my-data")).run(handler)

    assert len(out.messages) == 1
    assert error_as_vm_error(out.messages[0]) == VMError(500, "A syscall was invoked from within a run operation")
    # The guard runs after the journal advanced: the ErrorMessage names the would-be get-state entry.
    assert_related_entry(out.messages[0], 2, "", v2.MessageType.GET_STATE_ENTRY)


def test_exit_without_enter() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(VMError) as raised:
            vm.sys_run_exit(Success(bytes([1, 2, 3])), RetryPolicy.infinite())
        assert raised.value == VMError(500, "Invoked sys_run_exit without invoking sys_run_enter before")

    out = invocation().input(start_message(1, partial_state=False), input_entry(b"my-data")).run(handler)

    assert len(out.messages) == 1
    assert error_as_vm_error(out.messages[0]) == VMError(
        500, "Invoked sys_run_exit without invoking sys_run_enter before"
    )


def test_enter_then_exit_then_suspend() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert vm.sys_run_enter("my-side-effect") == NotExecuted(EntryRetryInfo())
        handle = vm.sys_run_exit(Success(b"123"), RetryPolicy.infinite())
        vm.notify_await_point(handle)
        assert vm.take_async_result(handle) is None
        vm.notify_input_closed()
        with pytest.raises(SuspendedError):
            vm.take_async_result(handle)

    out = (
        invocation()
        .input(start_message(1, partial_state=False), input_entry(b"my-data"))
        .run_without_closing_input(handler)
    )

    assert out.messages == [run_entry("my-side-effect", b"123"), suspension(1)]
    assert out.frames[0].flags == REQUIRES_ACK


def test_enter_then_exit_then_ack() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert vm.sys_run_enter("my-side-effect") == NotExecuted(EntryRetryInfo())
        handle = vm.sys_run_exit(Success(b"123"), RetryPolicy.infinite())
        vm.notify_await_point(handle)
        feed(vm, ack(1))
        vm.notify_input_closed()
        value = vm.take_async_result(handle)
        assert value == Success(b"123")
        vm.sys_write_output(value)
        vm.sys_end()

    out = (
        invocation()
        .input(start_message(1, partial_state=False), input_entry(b"my-data"))
        .run_without_closing_input(handler)
    )

    assert out.messages == [run_entry("my-side-effect", b"123"), output(b"123"), end()]
    assert out.frames[0].flags == REQUIRES_ACK


def test_enter_then_exit_then_ack_with_failure() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert vm.sys_run_enter("my-side-effect") == NotExecuted(EntryRetryInfo())
        handle = vm.sys_run_exit(Failure(500, "my-failure"), RetryPolicy.infinite())
        vm.notify_await_point(handle)
        feed(vm, ack(1))
        vm.notify_input_closed()
        value = vm.take_async_result(handle)
        assert value == Failure(500, "my-failure")
        vm.sys_write_output(value)
        vm.sys_end()

    out = (
        invocation()
        .input(start_message(1, partial_state=False), input_entry(b"my-data"))
        .run_without_closing_input(handler)
    )

    assert out.messages == [
        run_entry("my-side-effect", failure=(500, "my-failure")),
        output(failure=(500, "my-failure")),
        end(),
    ]


def test_replay() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        result = vm.sys_run_enter("my-side-effect")
        assert result == Executed(Success(b"123"))
        vm.sys_write_output(result.value)
        vm.sys_end()

    out = (
        invocation().input(start_message(2), input_entry(b"my-data"), run_entry("my-side-effect", b"123")).run(handler)
    )

    assert out.messages == [output(b"123"), end()]


def test_enter_then_notify_error() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert isinstance(vm.sys_run_enter("my-side-effect"), NotExecuted)
        vm.notify_error("my-error", "my-error-description")

    out = invocation().input(start_message(1), input_entry(b"my-data")).run(handler)

    assert len(out.messages) == 1
    assert error_as_vm_error(out.messages[0]) == VMError(500, "my-error", "my-error-description")
    # notify_error names the current journal position: the run that was entered.
    assert_related_entry(out.messages[0], 1, "my-side-effect", RUN)
    assert not out.messages[0].HasField("next_retry_delay")


class TestConsecutiveRun:
    @staticmethod
    def handler(vm: CoreVM) -> None:
        vm.sys_input()

        assert isinstance(vm.sys_run_enter(""), NotExecuted)
        h1 = vm.sys_run_exit(Success(b"Francesco"), RetryPolicy.infinite())
        try:
            value1 = await_result(vm, h1)
        except SuspendedError:
            return
        assert isinstance(value1, Success)

        assert isinstance(vm.sys_run_enter(""), NotExecuted)
        h2 = vm.sys_run_exit(Success(value1.value.upper()), RetryPolicy.infinite())
        try:
            value2 = await_result(vm, h2)
        except SuspendedError:
            return
        assert isinstance(value2, Success)

        vm.sys_write_output(Success(b"Hello " + value2.value))
        vm.sys_end()

    @classmethod
    def run(cls, *acks: v2.EntryAckMessage) -> list[object]:
        out = invocation().input(start_message(1, invocation_id="abc"), input_entry(b"Till"), *acks).run(cls.handler)
        assert all(frame.flags == REQUIRES_ACK for frame in out.frames if frame.type == RUN)
        return list(out.messages)

    def test_without_acks_suspends(self) -> None:
        assert self.run() == [run_entry("", b"Francesco"), suspension(1)]

    def test_ack_on_first_side_effect_will_suspend(self) -> None:
        assert self.run(ack(1)) == [run_entry("", b"Francesco"), run_entry("", b"FRANCESCO"), suspension(2)]

    def test_ack_on_first_and_second_side_effect_will_resume(self) -> None:
        assert self.run(ack(1), ack(2)) == [
            run_entry("", b"Francesco"),
            run_entry("", b"FRANCESCO"),
            output(b"Hello FRANCESCO"),
            end(),
        ]


def _retry_start(retry_count: int, retry_duration: timedelta) -> v2.StartMessage:
    return start_message(1, retry_count=retry_count, retry_duration_ms=int(retry_duration.total_seconds() * 1000))


def should_stop_retrying(
    retry_count: int, retry_duration: timedelta, attempt_duration: timedelta, policy: RetryPolicy
) -> None:
    """The policy gives up: the retryable failure becomes the run's terminal failure."""

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert isinstance(vm.sys_run_enter("my-side-effect"), NotExecuted)
        handle = vm.sys_run_exit(RetryableFailure(Failure(500, "my-error"), attempt_duration), policy)
        value = await_result(vm, handle)
        assert value == Failure(500, "my-error")
        vm.sys_write_output(value)
        vm.sys_end()

    out = (
        invocation()
        # The ack arrives before the handler runs.
        .input(_retry_start(retry_count, retry_duration), input_entry(b"my-data"), ack(1))
        .run(handler)
    )

    assert out.messages == [
        run_entry("my-side-effect", failure=(500, "my-error")),
        output(failure=(500, "my-error")),
        end(),
    ]


def should_continue_retrying(
    retry_count: int,
    retry_duration: timedelta,
    attempt_duration: timedelta,
    policy: RetryPolicy,
    expected_delay_ms: int | None,
) -> None:
    """The policy retries: the attempt fails with the run's error and asks for a delay (or leaves it to the runtime)."""

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert isinstance(vm.sys_run_enter("my-side-effect"), NotExecuted)
        with pytest.raises(VMError) as raised:
            vm.sys_run_exit(RetryableFailure(Failure(500, "my-error"), attempt_duration), policy)
        assert raised.value == VMError(500, "my-error")

    out = invocation().input(_retry_start(retry_count, retry_duration), input_entry(b"my-data")).run(handler)

    assert len(out.messages) == 1
    error = out.messages[0]
    assert error_as_vm_error(error) == VMError(500, "my-error")
    assert_related_entry(error, 1, "my-side-effect", RUN)
    if expected_delay_ms is None:
        assert not error.HasField("next_retry_delay")
    else:
        assert error.HasField("next_retry_delay")
        assert error.next_retry_delay == expected_delay_ms


class TestRetryPolicy:
    def test_exit_with_retryable_error_no_retry_policy(self) -> None:
        should_continue_retrying(0, timedelta(0), timedelta(0), RetryPolicy.infinite(), None)

    def test_exit_with_retryable_error_retry_policy_none(self) -> None:
        should_stop_retrying(0, timedelta(0), timedelta(0), RetryPolicy.none())

    def test_exit_with_retryable_error_retry_policy_fixed(self) -> None:
        should_continue_retrying(0, timedelta(0), timedelta(0), RetryPolicy.fixed_delay(timedelta(seconds=1)), 1000)

    def test_exit_with_retryable_error_retry_policy_exhausted_max_duration(self) -> None:
        # Retry info (2, 2 s): 2 s <= max_duration 2 s, so the policy stops.
        should_stop_retrying(
            1,
            timedelta(seconds=1),
            timedelta(seconds=1),
            RetryPolicy.fixed_delay(timedelta(seconds=1), max_duration=timedelta(seconds=2)),
        )

    def test_exit_with_retryable_error_retry_policy_exhausted_max_attempts(self) -> None:
        # Retry info (10, ...): 10 attempts <= max_attempts 10, so the policy stops.
        should_stop_retrying(
            9,
            timedelta(seconds=1),
            timedelta(seconds=1),
            RetryPolicy.fixed_delay(timedelta(seconds=1), max_attempts=10),
        )

    def test_retry_info_is_zero_when_entry_is_the_one_after_the_first_new_entry(self) -> None:
        def handler(vm: CoreVM) -> None:
            vm.sys_input()
            _, handle = vm.sys_awakeable()
            assert handle == 1
            # The StartMessage's retry counters apply to entry 1 only; this run is entry 2.
            assert vm.sys_run_enter("my-side-effect") == NotExecuted(EntryRetryInfo(0, timedelta(0)))
            policy = RetryPolicy.fixed_delay(
                timedelta(seconds=1), max_attempts=2, max_duration=timedelta(milliseconds=100)
            )
            # Retry info (1, 99 ms): below both bounds, so the policy retries.
            with pytest.raises(VMError) as raised:
                vm.sys_run_exit(RetryableFailure(Failure(500, "my-error"), timedelta(milliseconds=99)), policy)
            assert raised.value == VMError(500, "my-error")

        out = (
            invocation()
            .input(start_message(1, retry_count=10, retry_duration_ms=10_000), input_entry(b"my-data"))
            .run(handler)
        )

        assert len(out.messages) == 2
        assert out.messages[0] == v2.AwakeableEntryMessage()
        error = out.messages[1]
        assert error_as_vm_error(error) == VMError(500, "my-error")
        assert error.next_retry_delay == 1000
        assert_related_entry(error, 2, "my-side-effect", RUN)


@pytest.mark.parametrize(
    ("retry_count", "duration_ms", "expected"),
    [
        pytest.param(10, 10_000, EntryRetryInfo(10, timedelta(seconds=10)), id="retried"),
        # With no retry so far the duration is the time since the last stored entry: reported as 0.
        pytest.param(0, 10_000, EntryRetryInfo(0, timedelta(0)), id="not-retried"),
    ],
)
def test_retry_info_of_the_first_new_entry_comes_from_the_start_message(
    retry_count: int, duration_ms: int, expected: EntryRetryInfo
) -> None:
    # Not an upstream test: the counterpart of the one above (§3.9 infer_entry_retry_info).
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert vm.sys_run_enter("my-side-effect") == NotExecuted(expected)
        vm.notify_error("stop here")

    out = (
        invocation()
        .input(start_message(1, retry_count=retry_count, retry_duration_ms=duration_ms), input_entry(b"my-data"))
        .run(handler)
    )

    assert error_as_vm_error(out.messages[0]) == VMError(500, "stop here")


# ---- replaying runs one after the other (not upstream) ----

run_names = st.one_of(st.sampled_from(["", "a", "ab", "abc", "abcd", "é名"]), st.text(min_size=120, max_size=140))
run_results = st.one_of(
    st.binary(max_size=300).map(Success),
    st.tuples(st.integers(0, 599), st.text(max_size=8)).map(lambda failure: Failure(*failure)),
)


def recorded_run(name: str, result: Success | Failure, unknown_field: bool) -> bytes:
    entry = (
        run_entry(name, result.value)
        if isinstance(result, Success)
        else run_entry(name, failure=(result.code, result.message))
    )
    return encode_frame(RUN, entry.SerializeToString() + (b"\xa0\x01\x07" if unknown_field else b""))  # field 20: 7


def assert_replayed(runs: list[tuple[str, Success | Failure, bool]], frame_per_chunk: bool) -> None:
    """Replaying ``runs`` (name, recorded result, an unknown field behind it) gives each its result."""
    journal = [recorded_run(*run) for run in runs]
    start = encode_input(Version.V2, [start_message(1 + len(runs)), input_entry(b"in")])
    vm = CoreVM([("content-type", Version.V2.content_type)])
    for chunk in [start, *journal] if frame_per_chunk else [start + b"".join(journal)]:
        vm.notify_input(chunk)
    vm.notify_input_closed()
    vm.sys_input()
    for name, result, _ in runs:
        assert vm.sys_run_enter(name) == Executed(result)


@given(st.lists(st.tuples(run_names, run_results, st.booleans()), min_size=1, max_size=6), st.booleans())
def test_replayed_runs_give_their_recorded_results(
    runs: list[tuple[str, Success | Failure, bool]], frame_per_chunk: bool
) -> None:
    # Names that share a prefix, long names and values (two-byte lengths), failures, a field
    # this core does not know: each run replayed gets its own recorded result.
    assert_replayed(runs, frame_per_chunk)


def test_run_names_remembered_are_bounded() -> None:
    from restate_core.vm import _legacy

    for number in range(1500):
        name = f"run {number}"
        assert_replayed([(name, Success(b"v"), False)] * 2, False)
        assert 0 < len(_legacy._RUN_NAMES) <= 1024


def test_a_replayed_run_whose_value_length_is_not_canonical() -> None:
    # The value's length written in two bytes (0x85 0x00: 5), then a field this core does not
    # know: the value is the five bytes, as protobuf reads it.
    recorded = encode_frame(RUN, b"\x62\x01r" + b"\x72\x85\x00" + b"value" + b"\xa2\x01\x7c" + bytes(124))
    vm = CoreVM([("content-type", Version.V2.content_type)])
    vm.notify_input(encode_input(Version.V2, [start_message(3), input_entry(b"in")]) + recorded * 2)
    vm.sys_input()
    assert vm.sys_run_enter("r") == vm.sys_run_enter("r") == Executed(Success(b"value"))
