"""Checks of the differential harness itself: that a comparison can fail, that the
normalisations keep what they must, and the reference-core cache location. These need
no reference core."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from differential_kit import (
    End,
    Execution,
    InputOp,
    Ours,
    Scenario,
    Send,
    StartSpec,
    WriteOutput,
    assert_same,
    encode,
    execute,
    f32_tolerance_ms,
    policy_v040,
    policy_v120,
)

from restate_core import Success
from restate_core.protocol import Version

pytestmark = pytest.mark.differential

VERSIONS = [Version.V2, Version.V5, Version.V6]


def _run(version: Version, program: list) -> tuple[Scenario, Execution]:
    start = StartSpec()
    initial = [encode(version, [start.start_message(version, 1), start.input_message(version)])]
    scenario = Scenario(version, program, initial)
    policy = policy_v040 if version.is_legacy else policy_v120
    return scenario, execute(Ours(version, policy), scenario)


@pytest.mark.parametrize("version", VERSIONS, ids=str)
def test_a_different_output_fails_the_comparison(version: Version) -> None:
    scenario, a = _run(version, [InputOp(), WriteOutput(Success(b"a")), End()])
    _, b = _run(version, [InputOp(), WriteOutput(Success(b"b")), End()])
    assert_same(scenario, a, a, "self")
    with pytest.raises(AssertionError, match="the cores differ"):
        assert_same(scenario, a, b, "other")


@pytest.mark.parametrize("version", VERSIONS, ids=str)
def test_send_time_normalisation_keeps_now_apart_from_later(version: Version) -> None:
    # delay None is "now" (invoke time 0); a delay, even 0, is a time: they must differ.
    now = [InputOp(), Send("S", "h", b"", None, None), End()]
    later = [InputOp(), Send("S", "h", b"", None, 0), End()]
    scenario, a = _run(version, now)
    _, b = _run(version, later)
    with pytest.raises(AssertionError, match="the cores differ"):
        assert_same(scenario, a, b, "other")


def test_f32_tolerance() -> None:
    assert f32_tolerance_ms(80) == 1
    assert f32_tolerance_ms(10_000) == 1
    assert f32_tolerance_ms(83_886_080) == 16  # 23 hours: f32 seconds step 7.8 ms


def test_refcores_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import refcores

    monkeypatch.delenv("RESTATE_REFCORES_DIR", raising=False)
    assert refcores.cache_dir("0.4.0") == Path(__file__).resolve().parents[2] / ".cache" / "refcores" / "v0.4.0"
    monkeypatch.setenv("RESTATE_REFCORES_DIR", str(tmp_path))
    assert refcores.cache_dir("1.2.0") == tmp_path / "v1.2.0"


def test_refcores_without_a_wheel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import refcores

    monkeypatch.setenv("RESTATE_REFCORES_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "version_info", (3, 10, 0, "final", 0))
    assert refcores.ensure("0.4.0") is None
    assert "Python 3.10" in refcores.REASONS["0.4.0"]
