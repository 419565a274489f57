"""Generated handler programs and runtime behaviours, protocols V5 and V6: the Rust core of
restate-sdk 1.2.0 (driven through the old API, see differential_kit.Ref120) vs ours."""

from __future__ import annotations

from types import ModuleType

import pytest
from differential_gen import attempt_state, cancel_points, programs, start_specs, v5_scenario
from differential_kit import (
    Ours,
    Ref120,
    assert_same,
    avoid_listing_cleared_keys,
    examples,
    execute,
    features,
    known_divergence,
    outcome,
    policy_v120,
    record_v5,
)
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from restate_core.protocol import Version

pytestmark = pytest.mark.differential


@pytest.mark.parametrize("version", [Version.V5, Version.V6], ids=str)
@settings(
    max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_v5_programs(ref120: ModuleType, version: Version, data: st.DataObject) -> None:
    start = data.draw(start_specs(version), label="start")
    program = data.draw(programs(version, "1.2.0"), label="program")
    attempt = data.draw(attempt_state(start), label="attempt state")
    program = avoid_listing_cleared_keys(program, start.partial_state and attempt.partial_state)
    record = record_v5(version, start, program, data.draw(cancel_points(program), label="record cancel"))
    scenario = v5_scenario(data, version, attempt, record)
    reference = execute(Ref120(ref120, version), scenario)
    assume(not reference.unmappable)
    ours = execute(Ours(version, policy_v120), scenario)
    known = known_divergence(reference, ours, scenario)
    if known is not None:
        event(known)
        return
    assert_same(scenario, reference, ours, Ref120.name)
    event(outcome(ours))
    for feature in sorted(features(ours)):
        event(feature)
