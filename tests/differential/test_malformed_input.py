"""Generated programs with one thing wrong in the runtime's input: the known-entries count
(0, or more than sent), an entry beyond the journal, a control message, an undecodable
body, a completion/notification without result (or id), an unknown or custom message
type, a non-UTF-8 eager state key, a journaled run without result, an eager state command
without result. Both cores must fail the same way (code, related entry) at the same point."""

from __future__ import annotations

from types import ModuleType

import pytest
from differential_gen import cancel_points, programs, start_specs, v2_scenario, v5_scenario
from differential_kit import (
    Ours,
    Ref040,
    Ref120,
    assert_same,
    avoid_listing_cleared_keys,
    examples,
    execute,
    known_divergence,
    outcome,
    policy_v040,
    policy_v120,
    record_v2,
    record_v5,
)
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from restate_core.protocol import Version

pytestmark = pytest.mark.differential

SETTINGS = settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@SETTINGS
@given(data=st.data())
def test_v2_malformed_input(ref040: ModuleType, data: st.DataObject) -> None:
    version = Version.V2
    start = data.draw(start_specs(version), label="start")
    program = avoid_listing_cleared_keys(data.draw(programs(version, "0.4.0", max_ops=6)), start.partial_state)
    scenario = v2_scenario(data, start, record_v2(start, program), malformed=True)
    reference = execute(Ref040(ref040), scenario)
    ours = execute(Ours(version, policy_v040), scenario)
    assert_same(scenario, reference, ours, Ref040.name)
    event(outcome(ours))
    event(next(note for note in scenario.notes if note.startswith("malformed")))


@pytest.mark.parametrize("version", [Version.V5, Version.V6], ids=str)
@SETTINGS
@given(data=st.data())
def test_v5_malformed_input(ref120: ModuleType, version: Version, data: st.DataObject) -> None:
    start = data.draw(start_specs(version), label="start")
    program = avoid_listing_cleared_keys(data.draw(programs(version, "1.2.0", max_ops=6)), start.partial_state)
    record = record_v5(version, start, program, data.draw(cancel_points(program), label="record cancel"))
    scenario = v5_scenario(data, version, start, record, malformed=True)
    reference = execute(Ref120(ref120, version), scenario)
    assume(not reference.unmappable)
    ours = execute(Ours(version, policy_v120), scenario)
    known = known_divergence(reference, ours, scenario)
    if known is not None:
        event(known)
        return
    assert_same(scenario, reference, ours, Ref120.name)
    event(outcome(ours))
    event(next(note for note in scenario.notes if note.startswith("malformed")))
