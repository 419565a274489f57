"""Shared fixtures: the Rust reference cores (differential tests, identity comparison).

Each fixture is session-scoped and skips its tests, with the reason, when the
reference wheel cannot be obtained (no network, another platform or Python;
see tools/refcores.py). Nothing here is needed at runtime by restate_core.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

_TOOLS = Path(__file__).resolve().parents[1] / "tools"
if str(_TOOLS) not in sys.path:
    sys.path.insert(0, str(_TOOLS))

import refcores  # noqa: E402


def _reference(version: str) -> ModuleType:
    module = refcores.load(version)
    if module is None:
        reason = refcores.REASONS.get(version, "unknown reason")
        pytest.skip(f"no Rust reference core from restate-sdk=={version}: {reason}")
    return module


@pytest.fixture(scope="session")
def ref040() -> ModuleType:
    """sdk-shared-core 0.1.0 (protocol V2), from restate-sdk 0.4.0."""
    return _reference("0.4.0")


@pytest.fixture(scope="session")
def ref120() -> ModuleType:
    """sdk-shared-core 8.2.0 (protocols V5-V7), from restate-sdk 1.2.0."""
    return _reference("1.2.0")
