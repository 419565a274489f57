"""CPU time spent inside a VM's methods, in a serving process (for ``bench/e2e_share.py``).

A launcher wraps each method of the VM it serves with ``timed``, then calls
``report_on_signal``: on SIGUSR1 the process writes, to the file named by
``VM_TIMING_FILE``, a JSON object: ``vm_ns`` (time inside the VM so far), ``calls``,
``cpu_ns`` (the process's CPU time so far), ``by_method`` (name -> [ns, calls]), and
what one wrapped call adds, measured at start-up: ``timer_inside_ns`` within the timed
part, ``timer_total_ns`` in all.

No import of ``restate_core`` here: the Rust core's launcher runs where it is absent.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# CPU time of the thread, not wall time: the server and the clients share the machine's cores,
# and a call the scheduler interrupts must not count the time it waited.
clock = time.thread_time_ns
_totals = [0, 0]  # ns inside the VM, calls
_by_method: dict[str, list[int]] = {}  # name -> [ns, calls]


def timed(method: Callable[..., Any], name: str = "") -> Callable[..., Any]:
    """``method``, adding the CPU time of each call to the totals (and to ``name``'s)."""
    own = _by_method.setdefault(name, [0, 0])

    def timed_call(*args: Any, **kwargs: Any) -> Any:
        started = clock()
        try:
            return method(*args, **kwargs)
        finally:
            elapsed = clock() - started
            _totals[0] += elapsed
            _totals[1] += 1
            own[0] += elapsed
            own[1] += 1

    return timed_call


def overhead(wrapped: Callable[[], Any], bare: Callable[[], Any]) -> tuple[int, int]:
    """What wrapping adds per call, in ns, inside the timed part and in all: ``wrapped`` is
    ``bare`` (something that does next to nothing) wrapped the way the VM's methods are."""
    rounds = 20_000
    inside_best = total_best = 10**9
    for _ in range(7):
        before = list(_totals)
        started = clock()
        for _ in range(rounds):
            wrapped()
        elapsed = clock() - started
        inside = _totals[0] - before[0]
        _totals[:] = before
        started = clock()
        for _ in range(rounds):
            bare()
        plain = clock() - started
        inside_best = min(inside_best, (inside - plain) // rounds)
        total_best = min(total_best, (elapsed - plain) // rounds)
    return max(inside_best, 0), max(total_best, 0)


def report_on_signal(inside: int, total: int) -> None:
    """Write the counters to ``$VM_TIMING_FILE`` on every SIGUSR1."""
    target = Path(os.environ["VM_TIMING_FILE"])

    def report(signum: int, frame: object) -> None:
        data = {
            "vm_ns": _totals[0],
            "calls": _totals[1],
            "cpu_ns": time.process_time_ns(),
            "timer_inside_ns": inside,
            "timer_total_ns": total,
            "by_method": {name: list(value) for name, value in _by_method.items() if name},
        }
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps(data))
        partial.replace(target)

    signal.signal(signal.SIGUSR1, report)
