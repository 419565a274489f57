"""The official Python SDK (restate-sdk 1.2.0, Rust core 8.2.0) serving a ``Counter`` like the
example one, with every call into its Rust core timed. For ``bench/e2e_share.py --rust-python``.

Runs in an environment of its own, with ``restate-sdk==1.2.0`` and ``hypercorn`` (the SDK
installs the package ``restate``; ``restate_core`` is not used here). Takes the example
endpoint's arguments (``--port``, ``--max-protocol`` (ignored: the SDK offers V5-V7, the
server picks V6), ``--log-level``).

The SDK wraps ``restate._internal.PyVM`` in its Python class ``VMWrapper``; the ``PyVM``
that class builds is replaced by a proxy whose methods time the calls into the core. The
proxy's own cost (a Python call and an attribute lookup per call) is measured at start-up,
on a proxy of the same shape around a C method that does nothing, and taken out.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import restate
from hypercorn.asyncio import serve
from hypercorn.config import Config
from restate import vm as sdk_vm

from examples._hypercorn import tolerate_late_http2_data

from ._vm_timing import overhead, report_on_signal, timed

counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: restate.ObjectContext, delta: int) -> int:
    # What examples/services.py's Counter.add does: a state read, a run, a state write, a sleep.
    current = await ctx.get("count", type_hint=int) or 0
    new = await ctx.run_typed("add", lambda: current + delta)
    ctx.set("count", new)
    await ctx.sleep(timedelta(milliseconds=10))
    return new


@counter.handler(kind="shared")
async def get(ctx: restate.ObjectSharedContext) -> int:
    return await ctx.get("count", type_hint=int) or 0


def _forward(name: str) -> Callable[..., Any]:
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._vm, name)(*args, **kwargs)

    return call


def _proxy_class(real: type, names: list[str]) -> type:
    """A class whose instances hold a ``real`` object in ``_vm`` and time calls of ``names``."""
    namespace: dict[str, Any] = {"__slots__": ("_vm",)}
    for name in names:
        namespace[name] = timed(_forward(name), name)
    return type(f"Timed{real.__name__}", (), namespace)


def _instrument() -> None:
    real = sdk_vm.PyVM
    names = [name for name in dir(real) if not name.startswith("_") and callable(getattr(real, name))]
    proxy = _proxy_class(real, names)
    construct = timed(real, "PyVM()")

    def build(*args: Any) -> Any:
        instance = object.__new__(proxy)
        instance._vm = construct(*args)
        return instance

    sdk_vm.PyVM = build


def _calibrate() -> tuple[int, int]:
    probe = _proxy_class(deque, ["clear"])()
    probe._vm = deque()  # type: ignore[attr-defined]
    return overhead(probe.clear, deque().clear)  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9080)
    parser.add_argument("--max-protocol", type=int, default=6)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level)
    report_on_signal(*_calibrate())
    _instrument()
    tolerate_late_http2_data()
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    config.keep_alive_timeout = 600
    config.h2_max_concurrent_streams = 10_000
    asyncio.run(serve(restate.app(services=[counter]), config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
