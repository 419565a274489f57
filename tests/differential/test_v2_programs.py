"""Generated handler programs and runtime behaviours, protocol V2: sdk-shared-core 0.1.0 vs ours."""

from __future__ import annotations

from types import ModuleType

import pytest
from differential_gen import attempt_state, programs, start_specs, v2_scenario
from differential_kit import (
    Ours,
    Ref040,
    assert_same,
    avoid_listing_cleared_keys,
    examples,
    execute,
    features,
    outcome,
    policy_v040,
    record_v2,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from restate_core.protocol import Version

pytestmark = pytest.mark.differential


@settings(
    max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_v2_programs(ref040: ModuleType, data: st.DataObject) -> None:
    version = Version.V2
    start = data.draw(start_specs(version), label="start")
    program = data.draw(programs(version, "0.4.0"), label="program")
    attempt = data.draw(attempt_state(start), label="attempt state")
    program = avoid_listing_cleared_keys(program, start.partial_state and attempt.partial_state)
    record = record_v2(start, program)
    scenario = v2_scenario(data, attempt, record)
    reference = execute(Ref040(ref040), scenario)
    ours = execute(Ours(version, policy_v040), scenario)
    assert_same(scenario, reference, ours, Ref040.name)
    event(outcome(ours))
    for feature in sorted(features(ours)):
        event(feature)
