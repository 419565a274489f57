"""Kill the endpoint mid-flight and check that journaled effects happen once.

Three invocations are in flight when the endpoint process gets SIGKILL: one
sleeping, one inside the second of two runs, one awaiting a call. The endpoint
restarts on the same address; the server retries the attempts, which replay
their journals. Then:

* every invocation completes with the result a crash-free run gives;
* a run whose result the server had stored before the kill is not executed
  again (its result is replayed), counted in the run log the example writes;
* a run interrupted before its result was stored may run again (at least once
  is the protocol's promise for side effects): the journal, read through the
  admin SQL API right after the kill, tells the two cases apart.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from .harness import NetworkNamespace, Response, Stack, StackConfig, running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=[StackConfig("h2", 6), StackConfig("http1.1", 6)], ids=lambda c: c.id)
def fault_stack(
    request: pytest.FixtureRequest, netns: NetworkNamespace, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    config: StackConfig = request.param
    with running_stack(netns, config, tmp_path_factory.mktemp(f"faults-{config.id}")) as stack:
        yield stack


def _runs(log: Path) -> Counter[tuple[str, str]]:
    if not log.exists():
        return Counter()
    return Counter(tuple(line.split(" ", 1)) for line in log.read_text().splitlines())  # type: ignore[misc]


def _in_background(stack: Stack, path: str, body: Any, results: dict[str, Response]) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.__setitem__(path, stack.ingress(path, body, timeout=120)))
    thread.start()
    return thread


def _invocation_id(stack: Stack, target: str) -> str:
    service, handler = target.split("/")
    rows = stack.query(
        "SELECT id FROM sys_invocation "
        f"WHERE target_service_name = '{service}' AND target_handler_name = '{handler}' AND status <> 'completed'"
    )
    assert rows, f"no running invocation of {target}"
    return rows[0]["id"]  # type: ignore[no-any-return]


def test_killed_endpoint_resumes_without_repeating_stored_runs(fault_stack: Stack) -> None:
    stack = fault_stack
    results: dict[str, Response] = {}
    threads = [
        _in_background(stack, "Chaos/sleeper", 2500, results),
        _in_background(stack, "Chaos/two_runs", 4000, results),
        _in_background(stack, "Chaos/caller", 2500, results),
    ]
    # Wait until the slow second run is executing: the first run's result is stored by then.
    deadline = time.monotonic() + 30
    while not any(name == "second" for _, name in _runs(stack.run_log)):
        assert time.monotonic() < deadline, "the second run never started"
        time.sleep(0.05)
    time.sleep(0.3)
    stack.kill_endpoint()

    two_runs_id = _invocation_id(stack, "Chaos/two_runs")
    journal_at_kill = stack.journal(two_runs_id)
    stored_runs = {
        row.get("name")
        for row in journal_at_kill
        if row["entry_type"].startswith("Notification") and "Run" in row["entry_type"]
    }
    run_commands = [row.get("name") for row in journal_at_kill if row["entry_type"] == "Command: Run"]
    assert run_commands[:1] == ["first"], journal_at_kill
    # The first run's result is stored: it must never execute again.
    assert _completion_names(journal_at_kill) >= {"first"}, journal_at_kill
    assert "second" not in stored_runs

    time.sleep(0.5)  # let the server see the endpoint gone and schedule retries
    stack.start_endpoint()
    for thread in threads:
        thread.join(120)
        assert not thread.is_alive()

    assert results["Chaos/sleeper"].status == 200 and results["Chaos/sleeper"].json() == "awake"
    assert results["Chaos/caller"].status == 200 and results["Chaos/caller"].json() == "awake"
    assert results["Chaos/two_runs"].status == 200 and results["Chaos/two_runs"].json() == 3

    runs = _runs(stack.run_log)
    assert runs[(two_runs_id, "first")] == 1, runs
    # Interrupted before its result was stored: executed again after the restart.
    assert runs[(two_runs_id, "second")] >= 2, runs

    journal = stack.journal(two_runs_id)
    assert [row.get("name") for row in journal if row["entry_type"] == "Command: Run"] == ["first", "second"]
    assert _completion_names(journal) >= {"first", "second"}


def _completion_names(journal: list[dict[str, Any]]) -> set[str]:
    """Names of the runs whose completion notification is in the journal."""
    run_by_completion: dict[int, str] = {}
    names = set()
    for row in journal:
        entry = row.get("entry_json") or ""
        if row["entry_type"] == "Command: Run":
            run_by_completion[_completion_id(entry)] = row.get("name")
        elif row["entry_type"].startswith("Notification") and "Run" in row["entry_type"]:
            names.add(run_by_completion.get(_completion_id(entry), row.get("name")))
    return names


def _completion_id(entry_json: str) -> int:
    import json

    def find(node: Any) -> int | None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("completion_id", "result_completion_id") and isinstance(value, int):
                    return value
                found = find(value)
                if found is not None:
                    return found
        elif isinstance(node, list):
            for item in node:
                found = find(item)
                if found is not None:
                    return found
        return None

    found = find(json.loads(entry_json)) if entry_json else None
    return -1 if found is None else found
