"""Every example handler, invoked through a real Restate server's ingress.

Each module-scoped ``stack`` is one configuration: HTTP/2 (bidirectional
streaming) or HTTP/1.1 (request-response: the server replays the journal after
every suspension), and the endpoint advertising protocol V6 or at most V5.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter as Tally
from typing import Any

import pytest

from .harness import Stack

pytestmark = pytest.mark.e2e


def _key() -> str:
    return uuid.uuid4().hex[:12]


def _ok(response: Any) -> Any:
    assert response.status == 200, f"{response.status}: {response.body[:500]!r}"
    return response.json()


def _eventually(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def test_greeter_calls_the_counter_object(stack: Stack) -> None:
    name = _key()
    assert _ok(stack.ingress("Greeter/greet", name)) == f"Hello {name}, visit number 1"
    assert _ok(stack.ingress("Greeter/greet", name)) == f"Hello {name}, visit number 2"
    assert _ok(stack.ingress(f"Counter/{name}/get", method="POST")) == 2


def test_counter_state_run_and_sleep_are_journaled(stack: Stack) -> None:
    key = _key()
    response = stack.ingress(f"Counter/{key}/add", 5)
    assert _ok(response) == 5
    assert _ok(stack.ingress(f"Counter/{key}/add", 3)) == 8
    invocation_id = response.headers["x-restate-id"]
    journal = stack.journal(invocation_id)
    kinds = [(row["entry_type"], row.get("name") or "") for row in journal]
    # The first add saw no state (eager state is complete for a new key).
    assert kinds == [
        ("Command: Input", ""),
        ("Command: GetEagerState", ""),
        ("Command: Run", "add"),
        ("Notification: Run", ""),
        ("Command: SetState", ""),
        ("Command: Sleep", ""),
        ("Notification: Sleep", ""),
        ("Command: Output", ""),
    ] or _lazy_variant(kinds), kinds
    pinned = stack.query(
        f"SELECT pinned_service_protocol_version AS v FROM sys_invocation WHERE id = '{invocation_id}'"
    )
    assert pinned == [{"v": stack.config.max_protocol}]


def test_counter_reset_lists_and_clears_state(stack: Stack) -> None:
    key = _key()
    _ok(stack.ingress(f"Counter/{key}/add", 2))
    assert _ok(stack.ingress(f"Counter/{key}/reset", None)) == ["count"]
    assert _ok(stack.ingress(f"Counter/{key}/get", None)) == 0
    assert _ok(stack.ingress(f"Counter/{key}/reset", None)) == []


def test_run_retries_transient_failures_with_its_policy(stack: Stack) -> None:
    key = _key()
    assert _ok(stack.ingress(f"Counter/{key}/add_flaky", 4)) == {"attempts": 3, "count": 4}


def test_run_gives_up_after_max_attempts(stack: Stack) -> None:
    response = stack.ingress(f"Counter/{_key()}/add_or_give_up", 1)
    assert response.status == 500, response
    assert b"never works" in response.body


def test_terminal_error_reaches_the_caller(stack: Stack) -> None:
    response = stack.ingress("Chaos/fail", "out of coffee")
    assert response.status == 418, response
    assert b"out of coffee" in response.body


def test_delayed_one_way_call(stack: Stack) -> None:
    name = _key()
    started = time.monotonic()
    assert _ok(stack.ingress("Greeter/greet_later", name)) == f"{name} will be counted in a second"
    assert _ok(stack.ingress(f"Counter/{name}/get", None)) == 0
    assert _eventually(lambda: _ok(stack.ingress(f"Counter/{name}/get", None)) == 1)
    assert time.monotonic() - started >= 0.9


def test_awakeable_resolved_by_another_handler(stack: Stack) -> None:
    name = _key()
    assert _ok(stack.ingress("Greeter/approval", name)) == f"{name} approved"


def test_workflow_with_a_durable_promise(stack: Stack) -> None:
    email = f"{_key()}@example.com"
    sent = stack.ingress(f"Signup/{email}/run/send", email)
    assert sent.status in (200, 202), sent
    waiting = {"status": "waiting for confirmation", "code": None}
    assert _eventually(lambda: _ok(stack.ingress(f"Signup/{email}/status", None)) == waiting)
    assert _ok(stack.ingress(f"Signup/{email}/confirm", "1234")) == "confirmed"
    output = _eventually(lambda: _finished(stack.ingress(f"restate/workflow/Signup/{email}/output", method="GET")))
    assert output == f"{email} confirmed with code 1234"
    assert _ok(stack.ingress(f"Signup/{email}/status", None)) == {"status": "confirmed", "code": "1234"}


def test_cancelling_an_invocation_cancels_the_call_it_awaits(stack: Stack) -> None:
    # Chaos/caller awaits Chaos/sleeper, which sleeps for ten minutes. Cancelling the caller
    # resolves its await to 409 "cancelled", and the caller passes the cancellation on to the
    # sleeper, whose sleep then ends the same way.
    sent = stack.ingress("Chaos/caller/send", 600_000)
    assert sent.status in (200, 202), sent
    caller = sent.json()["invocationId"]

    def sleeper_id() -> str | None:
        rows = stack.query(f"SELECT id FROM sys_invocation WHERE invoked_by_id = '{caller}'")
        return rows[0]["id"] if rows else None

    sleeper = _eventually(sleeper_id)
    assert sleeper, "the caller never called the sleeper"
    assert _eventually(lambda: _journal_has(stack, sleeper, "Command: Sleep"))
    cancelled = stack.admin("PATCH", f"invocations/{caller}/cancel")
    assert cancelled.status in (200, 202), cancelled
    for invocation in (caller, sleeper):
        path = f"restate/invocation/{invocation}/output"
        output = _eventually(lambda path=path: _ended(stack.ingress(path, method="GET")))
        assert output is not None, f"{invocation} did not end"
        assert output.status == 409, output
        assert b"cancelled" in output.body.lower(), output
    # The caller's VM took the cancel signal and forwarded it (SendSignal) before its output; the
    # sleeper's took it in place of the sleep's completion.
    caller_journal = [row["entry_type"] for row in stack.journal(caller)]
    assert caller_journal[-3:] == ["Notification: Signal", "Command: SendSignal", "Command: Output"], caller_journal
    sleeper_journal = [row["entry_type"] for row in stack.journal(sleeper)]
    assert sleeper_journal == ["Command: Input", "Command: Sleep", "Notification: Signal", "Command: Output"], (
        sleeper_journal
    )


def _journal_has(stack: Stack, invocation: str, entry_type: str) -> bool:
    return any(row["entry_type"] == entry_type for row in stack.journal(invocation))


def _ended(response: Any) -> Any:
    # 470: "the invocation exists but has not completed yet".
    return response if response.status != 470 else None


@pytest.mark.parametrize("size", [200_000, 3_000_000], ids=["200 KB", "3 MB"])
def test_large_values_through_run_state_and_replay(stack: Stack, size: int) -> None:
    # The run's result, the state write, and (in request-response mode) the journal replayed
    # after the sleep carry the value; the next invocation gets it as eager state in its
    # StartMessage. Each arrives in many chunks.
    key = _key()
    assert _ok(stack.ingress(f"Blob/{key}/put", size, timeout=120)) == size
    expected = ("0123456789abcdef" * (size // 16 + 1))[:size]
    digest = {"length": size, "sha256": hashlib.sha256(expected.encode()).hexdigest()}
    response = stack.ingress(f"Blob/{key}/digest", None, timeout=120)
    assert _ok(response) == digest
    kinds = [row["entry_type"] for row in stack.journal(response.headers["x-restate-id"])]
    assert kinds == ["Command: Input", "Command: GetEagerState", "Command: Output"], kinds


def _lazy_variant(kinds: list[tuple[str, str]]) -> bool:
    """The same journal when the server sent no eager state: a lazy get and its completion."""
    return kinds[:3] == [
        ("Command: Input", ""),
        ("Command: GetLazyState", ""),
        ("Notification: GetLazyState", ""),
    ] and [k for k, _ in kinds[3:]] == [
        "Command: Run",
        "Notification: Run",
        "Command: SetState",
        "Command: Sleep",
        "Notification: Sleep",
        "Command: Output",
    ]


def _finished(response: Any) -> Any:
    return response.json() if response.status == 200 else None


def test_every_invocation_used_the_configured_protocol_and_transport(stack: Stack) -> None:
    lines = stack.invocation_log.read_text().splitlines()
    assert lines, "no invocation reached the endpoint"
    seen = Tally(tuple(line.split(" ")[1:]) for line in lines)
    expected_http = "HTTP/2" if stack.config.http_version == "h2" else "HTTP/1.1"
    expected = (f"application/vnd.restate.invocation.v{stack.config.max_protocol}", expected_http)
    assert set(seen) == {expected}, seen
    handlers = {line.split(" ")[0] for line in lines}
    for handler in (
        "/invoke/Greeter/greet",
        "/invoke/Counter/add",
        "/invoke/Counter/add_flaky",
        "/invoke/Greeter/approval",
        "/invoke/Approver/approve",
        "/invoke/Signup/run",
        "/invoke/Signup/confirm",
    ):
        assert handler in handlers, handlers
