"""How much of a real invocation's time on the service side is the VM's.

Starts the Restate server and the example endpoint (hypercorn, the example SDK) in a
private network namespace, as the end-to-end tests do, with every ``CoreVM`` call in the
endpoint timed (bench/_timed_serve.py). Then sends ``Counter.add`` invocations (state get,
a run, state set, a 10 ms sleep) from concurrent clients and reports, for the invocations
of the measured round only: the endpoint's CPU time per invocation, the time inside the
VM per invocation, and the VM's share of the CPU time. The wrapper's own cost, measured on
a function that does nothing, is taken out of both.

    python bench/e2e_share.py [--invocations 2000] [--concurrency 20] [--http h2|http1.1|both]
                              [--methods] [--rust-python PYTHON]

``--rust-python`` measures the official SDK on the Rust core the same way, serving the same
handler (bench/_timed_sdk_serve.py), with an interpreter that has ``restate-sdk==1.2.0``
and ``hypercorn`` (e.g. ``python -m venv /tmp/sdk && /tmp/sdk/bin/pip install
restate-sdk==1.2.0 hypercorn``).

Over HTTP/2 the server streams each invocation's journal and completions; over HTTP/1.1 it
uses request-response mode, so every suspension (the sleep) ends the request and the
invocation is replayed from its journal in a new one. Needs what the end-to-end tests need
(``unshare``, ``nsenter``, ``ip``, npm for the server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import INGRESS, NetworkNamespace, StackConfig, running_stack  # noqa: E402


def snapshot(process: Any, path: Path) -> dict[str, Any]:
    """The endpoint's counters now (it writes them on SIGUSR1)."""
    path.unlink(missing_ok=True)
    os.kill(process.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text())
            return data
        time.sleep(0.01)
    raise RuntimeError("the endpoint did not report its counters")


async def load(invocations: int, concurrency: int, prefix: str) -> int:
    """``invocations`` Counter.add calls over ``concurrency`` clients; the number that succeeded."""
    keys = max(1, concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=INGRESS, timeout=120, limits=limits) as client:
        semaphore = asyncio.Semaphore(concurrency)

        async def one(number: int) -> bool:
            async with semaphore:
                response = await client.post(f"/Counter/{prefix}-{number % keys}/add", json=1)
                return response.status_code == 200

        results = await asyncio.gather(*(one(number) for number in range(invocations)))
    return sum(results)


def measure(
    ns: NetworkNamespace, http_version: str, invocations: int, concurrency: int, rust_python: str | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="e2e-share-") as work:
        timing = Path(work) / "vm-timing.json"
        config = StackConfig(http_version, 6)
        endpoint: dict[str, Any] = {"endpoint_env": {"VM_TIMING_FILE": str(timing)}}
        if rust_python is None:
            endpoint["endpoint_module"] = "bench._timed_serve"
        else:
            endpoint["endpoint_module"] = "bench._timed_sdk_serve"
            endpoint["endpoint_python"] = rust_python
        with running_stack(ns, config, Path(work), **endpoint) as stack:
            # Warm up (imports, connections, the server's caches), then measure a round of its own.
            warm = ns.run_async(lambda: load(max(100, invocations // 10), concurrency, "warm"))
            if warm == 0:
                raise RuntimeError("no warm-up invocation succeeded")
            before = snapshot(stack.endpoint, timing)
            started = time.monotonic()
            done = ns.run_async(lambda: load(invocations, concurrency, "measured"))
            elapsed = time.monotonic() - started
            after = snapshot(stack.endpoint, timing)
    calls = after["calls"] - before["calls"]
    vm_ns = after["vm_ns"] - before["vm_ns"] - calls * after["timer_inside_ns"]
    cpu_ns = after["cpu_ns"] - before["cpu_ns"] - calls * after["timer_total_ns"]
    methods = {
        name: (ns_ - before["by_method"].get(name, [0, 0])[0], count - before["by_method"].get(name, [0, 0])[1])
        for name, (ns_, count) in after["by_method"].items()
    }
    return {
        "methods": methods,
        "http": http_version,
        "invocations": done,
        "failed": invocations - done,
        "seconds": elapsed,
        "vm_calls_per_invocation": calls / done,
        "cpu_us_per_invocation": cpu_ns / done / 1000,
        "vm_us_per_invocation": vm_ns / done / 1000,
        "vm_share": vm_ns / cpu_ns,
        "timer_inside_ns": after["timer_inside_ns"],
        "timer_total_ns": after["timer_total_ns"],
    }


def print_methods(row: dict[str, Any]) -> None:
    for name, (spent, count) in sorted(row["methods"].items(), key=lambda item: -item[1][0]):
        if count:
            per_call = spent / count - row["timer_inside_ns"]
            print(f"    {name}: {count / row['invocations']:.1f} calls each, {per_call:,.0f} ns per call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--http", choices=("h2", "http1.1", "both"), default="both")
    parser.add_argument("--methods", action="store_true", help="also the time per call of each VM method")
    parser.add_argument(
        "--rust-python",
        metavar="PYTHON",
        help="also measure the official SDK on the Rust core: an interpreter with restate-sdk==1.2.0 and hypercorn",
    )
    args = parser.parse_args()
    versions = ("h2", "http1.1") if args.http == "both" else (args.http,)
    cores: list[tuple[str, str | None]] = [("ours (example SDK)", None)]
    if args.rust_python:
        cores.append(("Rust 8.2.0 (restate-sdk 1.2.0)", args.rust_python))
    ns = NetworkNamespace(client_threads=4)
    try:
        print(f"Counter.add x {args.invocations}, {args.concurrency} concurrent clients, protocol V6")
        print("| HTTP | core | invocations/s | endpoint CPU per invocation | in the VM | VM share | VM calls each |")
        print("|---|---|---:|---:|---:|---:|---:|")
        notes = []
        failed = 0
        for version in versions:
            in_vm = []
            for core, python in cores:
                row = measure(ns, version, args.invocations, args.concurrency, python)
                if row["failed"]:
                    print(f"error: {row['failed']} invocations failed", file=sys.stderr)
                    failed += row["failed"]
                print(
                    f"| {row['http']} | {core} | {row['invocations'] / row['seconds']:,.0f} "
                    f"| {row['cpu_us_per_invocation']:,.0f} us | {row['vm_us_per_invocation']:,.1f} us "
                    f"| {row['vm_share']:.1%} | {row['vm_calls_per_invocation']:.1f} |"
                )
                if args.methods:
                    print_methods(row)
                in_vm.append(row["vm_us_per_invocation"])
                notes.append(
                    f"{version}, {core}: timer cost taken out per call: {row['timer_inside_ns']} ns inside the "
                    f"timed part, {row['timer_total_ns']} ns in all"
                )
            if len(in_vm) == 2:
                notes.append(f"{version}: time in the VM per invocation, ours/Rust: {in_vm[0] / in_vm[1]:.2f}x")
        print("\n".join(notes))
    finally:
        ns.close()
    if failed:
        sys.exit(1)  # (the figures stand, but something is broken)


if __name__ == "__main__":
    main()
