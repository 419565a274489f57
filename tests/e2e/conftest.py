"""Fixtures for the end-to-end tests: a network namespace and the running stack."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .harness import NetworkNamespace, Stack, StackConfig, Unavailable, restate_server_binary, running_stack

CONFIGS = [
    StackConfig("h2", 6),
    StackConfig("http1.1", 6),
    StackConfig("h2", 5),
    StackConfig("http1.1", 5),
]


def _require_or_skip(reason: str) -> None:
    # In CI the end-to-end tests must run: a missing prerequisite fails there instead of skipping.
    if os.environ.get("RESTATE_E2E_REQUIRED"):
        pytest.fail(f"end-to-end prerequisites missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def netns() -> Iterator[NetworkNamespace]:
    try:
        restate_server_binary()
        ns = NetworkNamespace()
    except Unavailable as error:
        _require_or_skip(str(error))
    yield ns
    ns.close()


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda c: c.id)
def stack(
    request: pytest.FixtureRequest, netns: NetworkNamespace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    config: StackConfig = request.param
    with running_stack(netns, config, tmp_path_factory.mktemp(config.id)) as stack:
        yield stack
