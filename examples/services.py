"""Example services, served by ``python -m examples.serve``.

* ``Greeter`` (service): ``greet`` calls the ``Counter`` object; ``greet_later``
  sends a delayed one-way call; ``approval`` waits on an awakeable that the
  ``Approver`` service resolves.
* ``Counter`` (virtual object): state get/set/clear, a ``run`` side effect
  with a retry policy, a durable ``sleep``.
* ``Blob`` (virtual object): megabyte values through a run and state.
* ``Signup`` (workflow): durable promises.
* ``Chaos`` (service): long-running handlers for the fault tests; every run it
  executes is appended to the file named by ``EXAMPLE_RUN_LOG``, if set.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import timedelta

from restate_core import RetryPolicy

from .sdk import Context, TerminalError, service, virtual_object, workflow

# ---- Greeter ----

greeter = service("Greeter")


@greeter.handler()
async def greet(ctx: Context, name: str) -> str:
    count = await ctx.call("Counter", "add", 1, key=name)
    return f"Hello {name}, visit number {count}"


@greeter.handler()
async def greet_later(ctx: Context, name: str) -> str:
    await ctx.send("Counter", "add", 1, key=name, delay=timedelta(seconds=1))
    return f"{name} will be counted in a second"


@greeter.handler()
async def approval(ctx: Context, name: str) -> str:
    awakeable_id, handle = await ctx.awakeable()
    await ctx.send("Approver", "approve", {"awakeable": awakeable_id, "name": name})
    return await ctx.wait(handle)  # type: ignore[no-any-return]


approver = service("Approver")


@approver.handler()
async def approve(ctx: Context, request: dict[str, str]) -> str:
    await ctx.resolve_awakeable(request["awakeable"], f"{request['name']} approved")
    return "done"


# ---- Counter ----

counter = virtual_object("Counter")

_flaky_attempts: dict[str, int] = {}


@counter.handler()
async def add(ctx: Context, delta: int) -> int:
    current = await ctx.get("count") or 0
    new = await ctx.run("add", lambda: current + delta, RetryPolicy.fixed_delay(timedelta(milliseconds=50)))
    await ctx.set("count", new)
    await ctx.sleep(timedelta(milliseconds=10))
    return new  # type: ignore[no-any-return]


@counter.handler(kind="SHARED")
async def get(ctx: Context) -> int:
    return await ctx.get("count") or 0


@counter.handler()
async def reset(ctx: Context) -> list[str]:
    keys = await ctx.state_keys()
    await ctx.clear("count")
    await ctx.clear_all()
    return keys  # type: ignore[no-any-return]


@counter.handler()
async def add_flaky(ctx: Context, delta: int) -> dict[str, int]:
    """The run fails twice (transiently), then succeeds; the runtime retries the attempt."""
    invocation = ctx.request.invocation_id

    def flaky() -> int:
        _flaky_attempts[invocation] = _flaky_attempts.get(invocation, 0) + 1
        if _flaky_attempts[invocation] < 3:
            raise ConnectionError("the database is not there yet")
        return _flaky_attempts[invocation]

    policy = RetryPolicy.exponential(timedelta(milliseconds=20), 2.0, max_attempts=10)
    attempts = await ctx.run("flaky", flaky, policy)
    current = await ctx.get("count") or 0
    await ctx.set("count", current + delta)
    return {"attempts": attempts, "count": current + delta}


@counter.handler()
async def add_or_give_up(ctx: Context, delta: int) -> int:
    """The run always fails; with max_attempts=2 the failure becomes terminal."""

    def broken() -> int:
        raise ConnectionError("never works")

    await ctx.run("broken", broken, RetryPolicy.fixed_delay(timedelta(milliseconds=10), max_attempts=2))
    return delta


# ---- Blob: large values ----

blob = virtual_object("Blob")


@blob.handler()
async def put(ctx: Context, size: int) -> int:
    """A run that returns ``size`` characters, kept as state; the sleep makes a runtime in
    request-response mode replay the journal with the run's result in it."""
    value = await ctx.run("make", lambda: ("0123456789abcdef" * (size // 16 + 1))[:size])
    await ctx.set("blob", value)
    await ctx.sleep(timedelta(milliseconds=10))
    return len(value)  # type: ignore[no-any-return]


@blob.handler(kind="SHARED")
async def digest(ctx: Context) -> dict[str, object]:
    """The state's length and SHA-256: it arrives with the invocation's eager state."""
    value = await ctx.get("blob") or ""
    return {"length": len(value), "sha256": hashlib.sha256(value.encode()).hexdigest()}


# ---- Signup workflow ----

signup = workflow("Signup")


@signup.handler(kind="WORKFLOW")
async def run(ctx: Context, email: str) -> str:
    await ctx.set("status", "waiting for confirmation")
    code = await ctx.promise("confirmation")
    await ctx.set("status", "confirmed")
    return f"{email} confirmed with code {code}"


@signup.handler(kind="SHARED")
async def confirm(ctx: Context, code: str) -> str:
    await ctx.resolve_promise("confirmation", code)
    return "confirmed"


@signup.handler(kind="SHARED")
async def status(ctx: Context) -> dict[str, object]:
    return {"status": await ctx.get("status"), "code": await ctx.peek_promise("confirmation")}


# ---- Chaos: for the fault tests ----

chaos = service("Chaos")


def _log_run(ctx: Context, name: str) -> None:
    path = os.environ.get("EXAMPLE_RUN_LOG")
    if path:
        with open(path, "a") as log:
            log.write(f"{ctx.request.invocation_id} {name}\n")


@chaos.handler()
async def sleeper(ctx: Context, millis: int) -> str:
    await ctx.sleep(timedelta(milliseconds=millis))
    return "awake"


@chaos.handler()
async def two_runs(ctx: Context, millis: int) -> int:
    """A quick run, then a slow one (``millis`` of real time inside the run)."""

    def first() -> int:
        _log_run(ctx, "first")
        return 1

    async def second() -> int:
        _log_run(ctx, "second")
        await asyncio.sleep(millis / 1000)
        return 2

    a = await ctx.run("first", first)
    b = await ctx.run("second", second)
    return a + b  # type: ignore[no-any-return]


@chaos.handler()
async def caller(ctx: Context, millis: int) -> str:
    return await ctx.call("Chaos", "sleeper", millis)  # type: ignore[no-any-return]


@chaos.handler()
async def fail(ctx: Context, message: str) -> None:
    raise TerminalError(message, 418)


ALL = [greeter, approver, counter, blob, signup, chaos]
