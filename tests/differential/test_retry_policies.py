"""The retry policy a reference SDK builds from ``PyExponentialRetryConfig``, probed through
its core, against the ``RetryPolicy`` we build for it (``policy_v040`` / ``policy_v120``).

A run fails with a retryable error as the first new journal entry after a replay, so the
StartMessage's retry counters apply: the attempt number is ``retry_count + 1`` and the
retry loop took ``duration + attempt``. The core then either fails the attempt with an
ErrorMessage carrying ``next_retry_delay`` (retry), or turns the failure into the run's
terminal result (give up). Both must decide the same, and the delays must agree within
1 ms (deviation (d): Rust computes the exponential delay in f32 and truncates to ms).

What the probes confirm (see also the pyo3 sources of restate-sdk 0.4.0 / 1.2.0):

* 0.4.0: ``Exponential{initial_interval or 10 ms, factor 2.0, max_interval None,
  max_attempts, max_duration}``;
* 1.2.0: all fields unset -> ``Infinite`` (retry, no delay: the runtime decides); else
  ``Exponential{initial_interval or 50 ms, factor or 2.0, max_interval or 10 s,
  max_attempts, max_duration}``.
"""

from __future__ import annotations

from types import ModuleType

import pytest
from differential_kit import (
    InputOp,
    Ours,
    Ref040,
    Ref120,
    Retryable,
    RetryConfig,
    Run,
    Scenario,
    StartSpec,
    assert_same,
    encode,
    examples,
    execute,
    f32_tolerance_ms,
    policy_v040,
    policy_v120,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from restate_core import Failure
from restate_core.protocol import Version, v2, v5

pytestmark = pytest.mark.differential

SETTINGS = settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])

COUNTS = st.integers(0, 40)
MILLIS = st.integers(0, 200_000)
OPTIONAL_MILLIS = st.none() | st.integers(0, 120_000)
OPTIONAL_ATTEMPTS = st.none() | st.integers(0, 50)


def _run_scenario(version: Version, retry_count: int, duration: int, attempt: int, config: RetryConfig) -> Scenario:
    start = StartSpec(retry_count=retry_count, retry_duration_ms=duration)
    program = [InputOp(), Run("probe", Retryable(Failure(503, "transient"), attempt), config)]
    if version.is_legacy:
        journal = [start.start_message(version, 1), start.input_message(version)]
    else:
        # The Run command is the last replayed command: the counters apply to it.
        journal = [
            start.start_message(version, 2),
            start.input_message(version),
            v5.RunCommandMessage(result_completion_id=1, name="probe"),
        ]
    return Scenario(version, program, [encode(version, journal)], close_at_start=True)


def _decision(scenario: Scenario, frames: list) -> str:
    errors = [f for f in frames if f.type == (v2.MessageType.ERROR if scenario.version.is_legacy else 0x0002)]
    return "retry" if errors else "give up"


@SETTINGS
@given(
    retry_count=COUNTS,
    duration=MILLIS,
    attempt=st.integers(0, 5000),
    config=st.builds(RetryConfig, st.none() | st.integers(0, 20_000), OPTIONAL_ATTEMPTS, OPTIONAL_MILLIS),
)
def test_v040_retry_config(
    ref040: ModuleType, retry_count: int, duration: int, attempt: int, config: RetryConfig
) -> None:
    scenario = _run_scenario(Version.V2, retry_count, duration, attempt, config)
    reference = execute(Ref040(ref040), scenario)
    ours = execute(Ours(Version.V2, policy_v040), scenario)
    assert_same(scenario, reference, ours, Ref040.name)
    event(_decision(scenario, ours.frames))


@pytest.mark.parametrize("version", [Version.V5, Version.V6], ids=str)
@SETTINGS
@given(
    retry_count=COUNTS,
    duration=MILLIS,
    attempt=st.integers(0, 5000),
    config=st.builds(
        RetryConfig,
        st.none() | st.integers(0, 20_000),
        OPTIONAL_ATTEMPTS,
        OPTIONAL_MILLIS,
        OPTIONAL_MILLIS,
        st.none() | st.floats(1.0, 5.0, allow_nan=False) | st.sampled_from([1.0, 1.1, 1.5, 2.0, 3.0]),
    ),
)
def test_v120_retry_config(
    ref120: ModuleType, version: Version, retry_count: int, duration: int, attempt: int, config: RetryConfig
) -> None:
    scenario = _run_scenario(version, retry_count, duration, attempt, config)
    reference = execute(Ref120(ref120, version), scenario)
    ours = execute(Ours(version, policy_v120), scenario)
    assert_same(scenario, reference, ours, Ref120.name)
    event(_decision(scenario, ours.frames))


@pytest.mark.parametrize(
    ("config", "retry_count", "expected_delay"),
    [
        (RetryConfig(), 0, 10),  # 0.4.0 default initial interval 10 ms
        (RetryConfig(), 3, 80),  # factor 2: 10 * 2^3
        (RetryConfig(initial_interval=100), 4, 1600),  # no cap
        (RetryConfig(initial_interval=1000), 10, 1_024_000),
    ],
)
def test_v040_retry_delays(ref040: ModuleType, config: RetryConfig, retry_count: int, expected_delay: int) -> None:
    scenario = _run_scenario(Version.V2, retry_count, 0, 0, config)
    rust = v2.ErrorMessage.FromString(execute(Ref040(ref040), scenario).frames[-1].body).next_retry_delay
    ours = v2.ErrorMessage.FromString(execute(Ours(Version.V2, policy_v040), scenario).frames[-1].body).next_retry_delay
    assert ours == expected_delay
    # Deviation (d): e.g. 10 ms * 2^3 is 79 ms in f32 seconds, truncated.
    assert abs(rust - expected_delay) <= f32_tolerance_ms(expected_delay)


@pytest.mark.parametrize(
    ("config", "retry_count", "expected_delay"),
    [
        (RetryConfig(), 0, None),  # Infinite: the runtime decides
        (RetryConfig(max_attempts=100), 0, 50),  # default initial interval 50 ms
        (RetryConfig(max_attempts=100), 3, 400),  # factor 2
        (RetryConfig(max_attempts=100), 20, 10_000),  # capped at 10 s by default
        (RetryConfig(initial_interval=100, factor=3.0, max_interval=1000), 2, 900),
    ],
)
def test_v120_retry_delays(
    ref120: ModuleType, config: RetryConfig, retry_count: int, expected_delay: int | None
) -> None:
    scenario = _run_scenario(Version.V6, retry_count, 0, 0, config)
    delays = []
    for execution in (execute(Ref120(ref120, Version.V6), scenario), execute(Ours(Version.V6, policy_v120), scenario)):
        error = v5.ErrorMessage.FromString(execution.frames[-1].body)
        delays.append(error.next_retry_delay if error.HasField("next_retry_delay") else None)
    rust, ours = delays
    assert ours == expected_delay
    if expected_delay is None:
        assert rust is None
    else:
        assert rust is not None and abs(rust - expected_delay) <= f32_tolerance_ms(expected_delay)
