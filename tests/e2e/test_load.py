"""A modest load: 200 concurrent Counter invocations over HTTP/2, nothing lost."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from .harness import INGRESS, NetworkNamespace, StackConfig, running_stack

pytestmark = pytest.mark.e2e

KEYS = 20
ADDS_PER_KEY = 10


def test_200_concurrent_counter_invocations(netns: NetworkNamespace, tmp_path_factory: pytest.TempPathFactory) -> None:
    config = StackConfig("h2", 6)
    with running_stack(netns, config, tmp_path_factory.mktemp("load")) as stack:

        async def load() -> tuple[list[Any], float]:
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with httpx.AsyncClient(base_url=INGRESS, timeout=120, limits=limits) as client:
                started = time.monotonic()
                responses = await asyncio.gather(
                    *(
                        client.post(f"/Counter/load-{key}/add", json=delta)
                        for key in range(KEYS)
                        for delta in range(1, ADDS_PER_KEY + 1)
                    )
                )
                elapsed = time.monotonic() - started
                return [(r.status_code, r.json()) for r in responses], elapsed

        results, elapsed = netns.run_async(load)
        assert all(status == 200 for status, _ in results), [r for r in results if r[0] != 200][:5]
        expected_total = sum(range(1, ADDS_PER_KEY + 1))
        for key in range(KEYS):
            final = stack.ingress(f"Counter/load-{key}/get", None).json()
            assert final == expected_total, (key, final)
            # Each add returned the running total after it: all distinct, the largest is the final count.
            totals = [value for _, value in results[key * ADDS_PER_KEY : (key + 1) * ADDS_PER_KEY]]
            assert len(set(totals)) == ADDS_PER_KEY and max(totals) == expected_total
        print(f"\n200 Counter.add invocations over HTTP/2: {elapsed:.2f} s, {len(results) / elapsed:.0f} invocations/s")
