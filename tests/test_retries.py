"""RetryPolicy decisions (core-v2.md §4), including upstream ``retries.rs::test_exponential_policy``.

``decide(EntryRetryInfo(n, d))``: ``n`` counts the attempts made including the one
that just failed (so n >= 1), ``d`` is the time spent in the retry loop
including that attempt. Bounds are inclusive ("reached" means ``<=``).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import tenacity

from restate_core import (
    CoreVM,
    EntryRetryInfo,
    Failure,
    NotExecuted,
    RetryableFailure,
    RetryPolicy,
    VMError,
)
from restate_core.protocol import Version, v2
from restate_core.retries import RetryDecision
from restate_core.testing import Invocation

MS = timedelta(milliseconds=1)
SECOND = timedelta(seconds=1)

DO_NOT_RETRY = RetryDecision(False)
RETRY_RUNTIME_DELAY = RetryDecision(True, None)


def retry_after(delay: timedelta) -> RetryDecision:
    return RetryDecision(True, delay)


def info(n: int, d: timedelta = timedelta(0)) -> EntryRetryInfo:
    return EntryRetryInfo(retry_count=n, retry_loop_duration=d)


def test_exponential_policy() -> None:
    # Upstream retries.rs: initial 100 ms, factor 2, max_interval 500 ms, max_duration 10 s.
    policy = RetryPolicy.exponential(100 * MS, 2.0, max_interval=500 * MS, max_duration=10 * SECOND)

    assert policy.decide(info(2, SECOND)) == retry_after(200 * MS)
    assert policy.decide(info(3, SECOND)) == retry_after(400 * MS)
    assert policy.decide(info(4, SECOND)) == retry_after(500 * MS)  # capped; uncapped it would be 800 ms
    assert policy.decide(info(4, 10 * SECOND)) == DO_NOT_RETRY


@pytest.mark.parametrize(
    ("policy", "retry_info", "decision"),
    [
        # Infinite (the default): always retry, the runtime picks the delay.
        pytest.param(RetryPolicy.infinite(), info(1), RETRY_RUNTIME_DELAY, id="infinite-first"),
        pytest.param(RetryPolicy.infinite(), info(1_000_000, 1000 * SECOND), RETRY_RUNTIME_DELAY, id="infinite-late"),
        # None: never retry.
        pytest.param(RetryPolicy.none(), info(1), DO_NOT_RETRY, id="none"),
        # Fixed delay without bounds.
        pytest.param(RetryPolicy.fixed_delay(SECOND), info(1), retry_after(SECOND), id="fixed"),
        pytest.param(RetryPolicy.fixed_delay(SECOND), info(100, 100 * SECOND), retry_after(SECOND), id="fixed-late"),
        # max_attempts counts every attempt: with 3 the third failure stops.
        pytest.param(RetryPolicy.fixed_delay(SECOND, max_attempts=3), info(2), retry_after(SECOND), id="attempts-2of3"),
        pytest.param(RetryPolicy.fixed_delay(SECOND, max_attempts=3), info(3), DO_NOT_RETRY, id="attempts-3of3"),
        pytest.param(RetryPolicy.fixed_delay(SECOND, max_attempts=3), info(4), DO_NOT_RETRY, id="attempts-4of3"),
        # max_duration is reached at equality.
        pytest.param(
            RetryPolicy.fixed_delay(SECOND, max_duration=2 * SECOND),
            info(5, 2 * SECOND - MS),
            retry_after(SECOND),
            id="duration-below",
        ),
        pytest.param(
            RetryPolicy.fixed_delay(SECOND, max_duration=2 * SECOND),
            info(5, 2 * SECOND),
            DO_NOT_RETRY,
            id="duration-reached",
        ),
        # Either bound stops.
        pytest.param(
            RetryPolicy.fixed_delay(SECOND, max_attempts=10, max_duration=2 * SECOND),
            info(10, timedelta(0)),
            DO_NOT_RETRY,
            id="both-attempts-reached",
        ),
        pytest.param(
            RetryPolicy.fixed_delay(SECOND, max_attempts=10, max_duration=2 * SECOND),
            info(1, 3 * SECOND),
            DO_NOT_RETRY,
            id="both-duration-reached",
        ),
        # Zero bounds: never retry.
        pytest.param(RetryPolicy.fixed_delay(SECOND, max_attempts=0), info(1), DO_NOT_RETRY, id="zero-attempts"),
        pytest.param(
            RetryPolicy.fixed_delay(SECOND, max_duration=timedelta(0)), info(1), DO_NOT_RETRY, id="zero-duration"
        ),
        pytest.param(RetryPolicy.exponential(SECOND, 2, max_attempts=0), info(1), DO_NOT_RETRY, id="exp-zero-attempts"),
        # Exponential: initial * factor ** (n - 1), capped at max_interval.
        pytest.param(RetryPolicy.exponential(100 * MS, 2), info(1), retry_after(100 * MS), id="exp-n1"),
        pytest.param(RetryPolicy.exponential(100 * MS, 2), info(4), retry_after(800 * MS), id="exp-n4-uncapped"),
        pytest.param(RetryPolicy.exponential(100 * MS, 1.5), info(3), retry_after(225 * MS), id="exp-factor-1.5"),
        pytest.param(
            RetryPolicy.exponential(100 * MS, 2, max_interval=500 * MS), info(10), retry_after(500 * MS), id="exp-cap"
        ),
        pytest.param(RetryPolicy.exponential(100 * MS, 2, max_attempts=3), info(3), DO_NOT_RETRY, id="exp-attempts"),
        pytest.param(
            RetryPolicy.exponential(100 * MS, 2, max_duration=SECOND), info(2, SECOND), DO_NOT_RETRY, id="exp-duration"
        ),
    ],
)
def test_retry_policy_table(policy: RetryPolicy, retry_info: EntryRetryInfo, decision: RetryDecision) -> None:
    assert policy.decide(retry_info) == decision


def test_policy_from_tenacity_strategies() -> None:
    policy = RetryPolicy(stop=tenacity.stop_after_attempt(5), wait=tenacity.wait_fixed(2))

    assert policy.decide(info(4)) == retry_after(2 * SECOND)
    assert policy.decide(info(5)) == DO_NOT_RETRY


def test_policy_from_tenacity_stop_only_lets_the_runtime_pick_the_delay() -> None:
    policy = RetryPolicy(stop=tenacity.stop_after_attempt(5))

    assert policy.decide(info(1)) == RETRY_RUNTIME_DELAY


def test_exponential_signature() -> None:
    # (initial_interval, factor, *, max_interval, max_attempts, max_duration): the bounds are keyword-only.
    with pytest.raises(TypeError):
        RetryPolicy.exponential(100 * MS, 2, 500 * MS)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("policy", "expected_ms"),
    [
        pytest.param(RetryPolicy.exponential(100 * MS, 2, max_interval=500 * MS), 200, id="exponential"),
        pytest.param(RetryPolicy.fixed_delay(timedelta(microseconds=1500)), 1, id="fixed-truncated-to-ms"),
        pytest.param(RetryPolicy.fixed_delay(timedelta(milliseconds=570)), 570, id="fixed-570ms"),
    ],
)
def test_next_retry_delay_on_the_wire(policy: RetryPolicy, expected_ms: int) -> None:
    """Through the VM (§3.9): the StartMessage's retry count feeds n, the delay is sent in whole ms."""

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        assert vm.sys_run_enter("my-run") == NotExecuted(EntryRetryInfo(1, SECOND))
        # n = 1 + 1 = 2, d = 1 s + 10 ms.
        with pytest.raises(VMError) as raised:
            vm.sys_run_exit(RetryableFailure(Failure(503, "unavailable"), 10 * MS), policy)
        assert raised.value == VMError(503, "unavailable")

    out = (
        Invocation(Version.V2)
        .input(
            v2.StartMessage(
                id=b"123",
                debug_id="123",
                known_entries=1,
                retry_count_since_last_stored_entry=1,
                duration_since_last_stored_entry=1000,
            ),
            v2.InputEntryMessage(value=b"my-data"),
        )
        .run(handler)
    )

    (error,) = out.messages
    assert isinstance(error, v2.ErrorMessage)
    assert (error.code, error.message, error.description) == (503, "unavailable", "")
    assert (error.related_entry_index, error.related_entry_name, error.related_entry_type) == (1, "my-run", 0x0C05)
    assert error.HasField("next_retry_delay")
    assert error.next_retry_delay == expected_ms
