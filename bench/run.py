"""Benchmark: restate_core against the Rust core, in one process, on the same input bytes.

Run from the project root::

    python bench/run.py                  # the full table (markdown), median of --repeat 7
    python bench/run.py --smoke          # CI: every scenario once, tiny sizes (no timing claims)
    python bench/run.py --only 'replay'  # scenarios whose label matches a regex
    python bench/run.py --repeat 15

The Rust cores are the compiled extensions of restate-sdk 0.4.0 (sdk-shared-core
0.1.0, protocol V2) and restate-sdk 1.2.0 (sdk-shared-core 8.2.0, here with
protocol V6), loaded by ``tools/refcores.py`` (downloaded with pip on first use).
Where one cannot be had (other Python or platform, no network) its column says
"n/a"; the benchmark still runs ours.

Scenarios (each for V2 and V6). Every input is encoded once, before timing; a
timed call creates a VM, feeds the bytes with one ``notify_input``, drives the
handler and drains the output, the way an SDK does (an await is
``notify_await_point`` + ``take_async_result`` in our API and in 0.4.0's,
``do_progress`` + ``take_notification`` in 1.2.0's):

* ``empty``: start + input -> output + end.
* ``get+set fresh n``: n eager state gets (the values are in the StartMessage) each
  awaited, each followed by a set, on a fresh invocation.
* ``get+set replay n``: the same n pairs, replayed from a journal that holds all of
  them (known entries = everything), then output + end.
* ``run fresh 100``: enter + exit (success), the runtime's ack (V2) or run
  completion notification (V6) fed right away, then awaited.
* ``run replay 100``: the 100 runs replayed from the journal with their results.
* ``sleep 100`` / ``call 100``: each awaited; the completion arrives after the
  await point (the first take returns "not ready", then the bytes are fed).
* ``1 MiB values``: a 1 MiB input, an eager get of a 1 MiB state value, a set of a
  1 MiB value, a 1 MiB output; throughput = (input bytes + output bytes) / time.
  (With 0.4.0 the handler does not read ``PyInput.input``, which makes a list of
  ints of the payload: 8 ms for 1 MiB, 25 times the core's time.)
* ``decoder 10 MiB, <n> chunks``: a 10 MiB stream (StartMessage, input, then
  about 85,000 set-state journal entries of ~120 bytes to replay), fed in 1 B,
  1 KiB or 64 KiB chunks. Ours: ``restate_core.protocol.Decoder.push`` after
  each chunk, then taking every whole frame (with the batch method named in the
  label, else the iterator): framing only. Rust: ``PyVM.notify_input`` of the same
  chunks, which frames them and hands each message to its state machine (the
  StartMessage is decoded, the entries are queued for replay), so the Rust side
  does a little more than ours. The ``notify_input`` rows run the same stream
  through our ``CoreVM.notify_input`` instead: VM against VM, same end state
  (ready to execute).

Before timing, each scenario runs once on both cores: our output must have the
message types the scenario expects, and both outputs must decode to the same
messages (sleep wake-up times zeroed). A failure stops the run with exit status 1.

Reading the table: "ours" and "Rust" are the median time of one invocation over
``--repeat`` samples; a sample times enough back-to-back invocations to last about
50 ms (ours and Rust alternate, A/B/A/B), with the garbage collector off as in
timeit. "ours/Rust" is the ratio of the medians; "(!)" marks a ratio above the
1.5x target. "per op" divides by n (a get+set pair, a run, a sleep, a call) or
shows the throughput (MiB/s). Below the table: the marginal cost per get+set pair,
(time - empty invocation time) / n, at the smallest and the largest n (target:
flat), and the peak memory of a 10,000-entry replay against the journal's size on
the wire (target <= 2x; how it is measured is printed with it).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

import google.protobuf  # noqa: E402
import refcores  # noqa: E402
from google.protobuf.internal import api_implementation  # noqa: E402

from restate_core import VOID, CoreVM, Executed, NotExecuted, RetryPolicy, Success, Target  # noqa: E402
from restate_core.protocol import Decoder, Version, v2, v5  # noqa: E402
from restate_core.testing import decode_output, encode_input, notification  # noqa: E402

V2, V6 = Version.V2, Version.V6
REF_VERSION = {V2: "0.4.0", V6: "1.2.0"}
SAMPLE_NS = 50_000_000  # a timed sample lasts about this long (full mode)
KiB, MiB = 1024, 1024 * 1024

# ---------------------------------------------------------------------------
# Encoding the runtime's side
# ---------------------------------------------------------------------------


def start(version: Version, known: int, state: Sequence[tuple[str, bytes]] = ()) -> Any:
    proto = v2 if version.is_legacy else v5
    entries = [proto.StartMessage.StateEntry(key=k.encode(), value=v) for k, v in state]
    return proto.StartMessage(id=b"inv-1", debug_id="inv-1", known_entries=known, state_map=entries, key="k")


def input_entry(version: Version, payload: bytes) -> Any:
    if version.is_legacy:
        return v2.InputEntryMessage(value=payload)
    return v5.InputCommandMessage(value=v5.Value(content=payload))


def get_entry(version: Version, key: str, value: bytes) -> Any:
    if version.is_legacy:
        return v2.GetStateEntryMessage(key=key.encode(), value=value)
    return v5.GetEagerStateCommandMessage(key=key.encode(), value=v5.Value(content=value))


def set_entry(version: Version, key: str, value: bytes) -> Any:
    if version.is_legacy:
        return v2.SetStateEntryMessage(key=key.encode(), value=value)
    return v5.SetStateCommandMessage(key=key.encode(), value=v5.Value(content=value))


def run_entries(version: Version, index: int, name: str, value: bytes) -> list[Any]:
    """The journal of the ``index``-th run (from 0), with its result."""
    if version.is_legacy:
        return [v2.RunEntryMessage(name=name, value=value)]
    return [v5.RunCommandMessage(name=name, result_completion_id=index + 1), run_done(index, value)]


def run_done(index: int, value: bytes) -> Any:
    """V6: the runtime's run completion notification for the ``index``-th run."""
    return notification(v5.MessageType.RUN_COMPLETION_NOTIFICATION, completion_id=index + 1, value=value)


# V2 entry index = position in the journal (the input is 0); V6 completion ids count from 1.
def run_ack(version: Version, index: int, value: bytes) -> bytes:
    if version.is_legacy:
        return encode_input(version, [v2.EntryAckMessage(entry_index=index + 1)])
    return encode_input(version, [run_done(index, value)])


def sleep_done(version: Version, index: int) -> bytes:
    if version.is_legacy:
        return encode_input(version, [v2.CompletionMessage(entry_index=index + 1, empty=v2.Empty())])
    return encode_input(
        version, [notification(v5.MessageType.SLEEP_COMPLETION_NOTIFICATION, completion_id=index + 1, void=True)]
    )


def call_done(version: Version, index: int, value: bytes) -> bytes:
    if version.is_legacy:
        return encode_input(version, [v2.CompletionMessage(entry_index=index + 1, value=value)])
    t = v5.MessageType
    return encode_input(
        version,
        [
            notification(
                t.CALL_INVOCATION_ID_COMPLETION_NOTIFICATION, completion_id=2 * index + 1, invocation_id=f"inv-{index}"
            ),
            notification(t.CALL_COMPLETION_NOTIFICATION, completion_id=2 * index + 2, value=value),
        ],
    )


def headers(version: Version) -> list[tuple[str, str]]:
    return [("content-type", version.content_type)]


# ---------------------------------------------------------------------------
# Drivers: ours (same code for V2 and V6), Rust 0.4.0 (V2), Rust 1.2.0 (V6).
# Each returns (output bytes, the last value the handler got) for the check.
# ---------------------------------------------------------------------------

OUTPUT = b'"done"'
POLICY = RetryPolicy.infinite()
SLEEP = timedelta(seconds=60)
TARGET = Target("Greeter", "greet", None)


def ours_drain(vm: Any) -> bytes:
    parts = []
    while chunk := vm.take_output():
        parts.append(chunk)
    return b"".join(parts)


def rust_drain(vm: Any) -> bytes:
    parts = []
    while chunk := vm.take_output():
        parts.append(bytes(chunk))
    return b"".join(parts)


def ours_start(version: Version, data: bytes, close: bool = True) -> Any:
    vm = CoreVM(headers(version))
    vm.notify_input(data)
    if close:
        vm.notify_input_closed()
    vm.is_ready_to_execute()
    vm.sys_input()
    return vm


def rust_start(m: Any, version: Version, data: bytes, close: bool = True) -> Any:
    vm = m.PyVM(headers(version))
    vm.notify_input(data)
    if close:
        vm.notify_input_closed()
    vm.is_ready_to_execute()
    vm.sys_input()
    return vm


def ours_end(vm: Any) -> bytes:
    vm.sys_write_output(Success(OUTPUT))
    vm.sys_end()
    return ours_drain(vm)


def rust_end(vm: Any) -> bytes:
    vm.sys_write_output_success(OUTPUT)
    vm.sys_end()
    return rust_drain(vm)


def ours_empty(version: Version, data: bytes) -> tuple[bytes, Any]:
    return ours_end(ours_start(version, data)), None


def r040_empty(m: Any, data: bytes) -> tuple[bytes, Any]:
    return rust_end(rust_start(m, V2, data)), None


def r120_empty(m: Any, data: bytes) -> tuple[bytes, Any]:
    return rust_end(rust_start(m, V6, data)), None


def ours_getset(version: Version, data: bytes, pairs: list[tuple[str, bytes]]) -> tuple[bytes, Any]:
    vm = ours_start(version, data)
    value = None
    for key, new in pairs:
        h = vm.sys_state_get(key)
        vm.notify_await_point(h)
        value = vm.take_async_result(h)
        vm.sys_state_set(key, new)
    return ours_end(vm), value


def r040_getset(m: Any, data: bytes, pairs: list[tuple[str, bytes]]) -> tuple[bytes, Any]:
    vm = rust_start(m, V2, data)
    value = None
    for key, new in pairs:
        h = vm.sys_get_state(key)
        vm.notify_await_point(h)
        value = vm.take_async_result(h)
        vm.sys_set_state(key, new)
    return rust_end(vm), value


def r120_getset(m: Any, data: bytes, pairs: list[tuple[str, bytes]]) -> tuple[bytes, Any]:
    vm = rust_start(m, V6, data)
    single = m.PyUnresolvedFuture.single
    value = None
    for key, new in pairs:
        h = vm.sys_get_state(key)
        vm.do_progress(single(h))
        value = vm.take_notification(h)
        vm.sys_set_state(key, new)
    return rust_end(vm), value


def ours_runs(version: Version, data: bytes, runs: list[tuple[str, bytes, bytes]]) -> tuple[bytes, Any]:
    vm = ours_start(version, data, close=False)
    value = None
    for name, result, ack in runs:
        value = vm.sys_run_enter(name)
        if value.__class__ is NotExecuted:
            h = vm.sys_run_exit(Success(result), POLICY)
            vm.notify_input(ack)
            vm.notify_await_point(h)
            value = vm.take_async_result(h)
    return ours_end(vm), value


def r040_runs(m: Any, data: bytes, runs: list[tuple[str, bytes, bytes]]) -> tuple[bytes, Any]:
    vm = rust_start(m, V2, data, close=False)
    value = None
    for name, result, ack in runs:
        value = vm.sys_run_enter(name)
        if value is None:
            h = vm.sys_run_exit_success(result)
            vm.notify_input(ack)
            vm.notify_await_point(h)
            value = vm.take_async_result(h)
    return rust_end(vm), value


def r120_runs(m: Any, data: bytes, runs: list[tuple[str, bytes, bytes]]) -> tuple[bytes, Any]:
    vm = rust_start(m, V6, data, close=False)
    single = m.PyUnresolvedFuture.single
    value = None
    for name, result, ack in runs:
        run = vm.sys_run(name)
        h = run.handle
        if not run.replayed:
            # As the 1.2.0 SDK does once do_progress said ExecuteRun (in Processing the
            # core takes the proposal without it; the differential tests do the same).
            vm.propose_run_completion_success(h, result)
            vm.notify_input(ack)
        vm.do_progress(single(h))  # a replayed run's value too is handed out by an await only
        value = vm.take_notification(h)
    return rust_end(vm), value


def awaited_sleeps(vm: Any, dones: list[bytes], duration: Any) -> Any:
    """Sleeps awaited before their completions arrive, through ``CoreVM``'s API (also the Rust
    core 0.4.0's): the value of the last."""
    value = None
    for done in dones:
        h = vm.sys_sleep(duration)
        vm.notify_await_point(h)
        vm.take_async_result(h)  # not ready
        vm.notify_input(done)
        value = vm.take_async_result(h)
    return value


def ours_sleeps(version: Version, data: bytes, dones: list[bytes]) -> tuple[bytes, Any]:
    vm = ours_start(version, data, close=False)
    value = awaited_sleeps(vm, dones, SLEEP)
    return ours_end(vm), value


def r040_sleeps(m: Any, data: bytes, dones: list[bytes]) -> tuple[bytes, Any]:
    vm = rust_start(m, V2, data, close=False)
    value = awaited_sleeps(vm, dones, 60_000)  # milliseconds
    return rust_end(vm), value


def r120_sleeps(m: Any, data: bytes, dones: list[bytes]) -> tuple[bytes, Any]:
    vm = rust_start(m, V6, data, close=False)
    single = m.PyUnresolvedFuture.single
    value = None
    for done in dones:
        h = vm.sys_sleep(60_000, None)
        vm.do_progress(single(h))  # WaitExternalProgress
        vm.notify_input(done)
        vm.do_progress(single(h))
        value = vm.take_notification(h)
    return rust_end(vm), value


def ours_calls(version: Version, data: bytes, dones: list[bytes]) -> tuple[bytes, Any]:
    vm = ours_start(version, data, close=False)
    value = None
    for done in dones:
        h = vm.sys_call(TARGET, b"{}")
        vm.notify_await_point(h)
        vm.take_async_result(h)
        vm.notify_input(done)
        value = vm.take_async_result(h)
    return ours_end(vm), value


def r040_calls(m: Any, data: bytes, dones: list[bytes]) -> tuple[bytes, Any]:
    vm = rust_start(m, V2, data, close=False)
    value = None
    for done in dones:
        h = vm.sys_call("Greeter", "greet", b"{}", None)
        vm.notify_await_point(h)
        vm.take_async_result(h)
        vm.notify_input(done)
        value = vm.take_async_result(h)
    return rust_end(vm), value


def r120_calls(m: Any, data: bytes, dones: list[bytes]) -> tuple[bytes, Any]:
    vm = rust_start(m, V6, data, close=False)
    single = m.PyUnresolvedFuture.single
    value = None
    for done in dones:
        h = vm.sys_call("Greeter", "greet", b"{}", None).result_handle
        vm.do_progress(single(h))
        vm.notify_input(done)
        vm.do_progress(single(h))
        value = vm.take_notification(h)
    return rust_end(vm), value


def ours_big(version: Version, data: bytes) -> tuple[bytes, Any]:
    vm = CoreVM(headers(version))
    vm.notify_input(data)
    vm.notify_input_closed()
    vm.is_ready_to_execute()
    payload = vm.sys_input().input
    h = vm.sys_state_get("big")
    vm.notify_await_point(h)
    value = vm.take_async_result(h)
    vm.sys_state_set("big", payload)
    vm.sys_write_output(value)
    vm.sys_end()
    return ours_drain(vm), len(value.value)


def rust_big(m: Any, version: Version, data: bytes, known_payload: bytes) -> tuple[bytes, Any]:
    vm = m.PyVM(headers(version))
    vm.notify_input(data)
    vm.notify_input_closed()
    vm.is_ready_to_execute()
    payload = vm.sys_input()
    # restate-sdk 0.4.0's PyInput.input makes a list of ints on every access (about 8 ms for
    # 1 MiB, a binding artefact that would hide the core's time): use the known payload.
    payload = known_payload if version.is_legacy else payload.input
    h = vm.sys_get_state("big")
    if version.is_legacy:
        vm.notify_await_point(h)
        value = vm.take_async_result(h)
    else:
        vm.do_progress(m.PyUnresolvedFuture.single(h))
        value = vm.take_notification(h)
    vm.sys_set_state("big", payload)
    vm.sys_write_output_success(value)
    vm.sys_end()
    return rust_drain(vm), len(value)


def ours_decoder(chunks: list[bytes]) -> tuple[bytes, Any]:
    # Decoder.feed(chunk): push the chunk and take every whole frame so far (what CoreVM uses).
    feed = Decoder().feed
    frames: list[Any] = []
    for chunk in chunks:
        frames += feed(chunk)
    return b"", len(frames)


def ours_notify(version: Version, chunks: list[bytes]) -> tuple[bytes, Any]:
    vm = CoreVM(headers(version))
    feed = vm.notify_input
    for chunk in chunks:
        feed(chunk)
    return b"", vm.is_ready_to_execute()


def rust_notify(m: Any, version: Version, chunks: list[bytes]) -> tuple[bytes, Any]:
    vm = m.PyVM(headers(version))
    feed = vm.notify_input
    for chunk in chunks:
        feed(chunk)
    return b"", vm.is_ready_to_execute()


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------

Driver = Callable[[], tuple[bytes, Any]]


@dataclass
class Case:
    label: str
    version: Version
    ours: Driver
    rust: Driver | None  # None: this core is not available
    #: The message types our output must have, and the last value the handler must get.
    expect_types: list[int] | None = None
    expect_value: Any = None
    #: How to turn the time into a rate: ops per invocation, or bytes per invocation.
    ops: int | None = None
    nbytes: int | None = None
    group: str = ""  # cases whose per-op cost must stay flat across n
    compare_outputs: bool = True
    result: dict[str, Any] = field(default_factory=dict)


def expected(version: Version, *steps: str) -> list[int]:
    """The output message types of a sequence of handler steps."""
    if version.is_legacy:
        t2 = v2.MessageType
        table = {
            "get": t2.GET_STATE_ENTRY,
            "set": t2.SET_STATE_ENTRY,
            "run": t2.RUN_ENTRY,
            "sleep": t2.SLEEP_ENTRY,
            "call": t2.CALL_ENTRY,
            "output": t2.OUTPUT_ENTRY,
            "end": t2.END,
        }
    else:
        t5 = v5.MessageType
        table = {
            "get": t5.GET_EAGER_STATE_COMMAND,
            "set": t5.SET_STATE_COMMAND,
            "run": t5.RUN_COMMAND,
            "propose": t5.PROPOSE_RUN_COMPLETION,
            "sleep": t5.SLEEP_COMMAND,
            "call": t5.CALL_COMMAND,
            "output": t5.OUTPUT_COMMAND,
            "end": t5.END,
        }
    return [int(table[step]) for step in steps]


def state_pairs(n: int) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """n keys with their 32-byte stored values, and the new values the handler sets."""
    keys = [f"key-{i:05d}" for i in range(n)]
    return [(k, b'"stored-value-%016d"' % i) for i, k in enumerate(keys)], [
        (k, b'"the-new-value-%016d"' % i) for i, k in enumerate(keys)
    ]


def getset_input(version: Version, n: int, replay: bool) -> bytes:
    stored, new = state_pairs(n)
    journal = [input_entry(version, b'"hi"')]
    if replay:
        for (key, value), (_, new_value) in zip(stored, new):
            journal += [get_entry(version, key, value), set_entry(version, key, new_value)]
    return encode_input(version, [start(version, len(journal), stored), *journal])


def getset_case(version: Version, n: int, replay: bool, ref: Any) -> Case:
    data = getset_input(version, n, replay)
    stored, new = state_pairs(n)
    rust = None
    if ref is not None:
        rust = partial(r040_getset if version.is_legacy else r120_getset, ref, data, new)
    value = stored[-1][1] if n else None
    return Case(
        f"get+set {'replay' if replay else 'fresh'} n={n:,}",
        version,
        partial(ours_getset, version, data, new),
        rust,
        expect_types=expected(version, *(["get", "set"] * n if not replay else []), "output", "end"),
        expect_value=Success(value),
        ops=n,
        group=f"get+set {'replay' if replay else 'fresh'}",
    )


def run_case(version: Version, n: int, replay: bool, ref: Any) -> Case:
    runs = [(f"run-{i}", b'"result-%d"' % i, run_ack(version, i, b'"result-%d"' % i)) for i in range(n)]
    journal = [input_entry(version, b'"hi"')]
    if replay:
        for i, (name, result, _) in enumerate(runs):
            journal += run_entries(version, i, name, result)
    data = encode_input(version, [start(version, len(journal)), *journal])
    rust = None
    if ref is not None:
        rust = partial(r040_runs if version.is_legacy else r120_runs, ref, data, runs)
    fresh_steps = ["run"] if version.is_legacy else ["run", "propose"]
    return Case(
        f"run {'replay' if replay else 'fresh'} n={n}",
        version,
        partial(ours_runs, version, data, runs),
        rust,
        expect_types=expected(version, *([] if replay else fresh_steps * n), "output", "end"),
        expect_value=Executed(Success(runs[-1][1])) if replay else Success(runs[-1][1]),
        ops=n,
    )


def await_case(version: Version, n: int, kind: str, ref: Any) -> Case:
    data = encode_input(version, [start(version, 1), input_entry(version, b'"hi"')])
    if kind == "sleep":
        dones = [sleep_done(version, i) for i in range(n)]
        ours, rust_fns, last = ours_sleeps, (r040_sleeps, r120_sleeps), VOID
    else:
        dones = [call_done(version, i, b'"reply-%d"' % i) for i in range(n)]
        ours, rust_fns, last = ours_calls, (r040_calls, r120_calls), Success(b'"reply-%d"' % (n - 1))
    rust = None
    if ref is not None:
        rust = partial(rust_fns[0] if version.is_legacy else rust_fns[1], ref, data, dones)
    return Case(
        f"{kind} awaited n={n}",
        version,
        partial(ours, version, data, dones),
        rust,
        expect_types=expected(version, *[kind] * n, "output", "end"),
        expect_value=last,
        ops=n,
    )


def empty_case(version: Version, ref: Any) -> Case:
    data = encode_input(version, [start(version, 1), input_entry(version, b'"hi"')])
    rust = None if ref is None else partial(r040_empty if version.is_legacy else r120_empty, ref, data)
    return Case(
        "empty invocation",
        version,
        partial(ours_empty, version, data),
        rust,
        expect_types=expected(version, "output", "end"),
    )


def big_case(version: Version, size: int, ref: Any) -> Case:
    value = bytes(range(256)) * (size // 256)
    data = encode_input(version, [start(version, 1, [("big", value)]), input_entry(version, value[::-1])])
    rust = None if ref is None else partial(rust_big, ref, version, data, value[::-1])
    out_size = len(ours_big(version, data)[0])
    return Case(
        f"{size // MiB} MiB values" if size >= MiB else f"{size // KiB} KiB values",
        version,
        partial(ours_big, version, data),
        rust,
        expect_types=expected(version, "get", "set", "output", "end"),
        expect_value=len(value),
        nbytes=len(data) + out_size,
    )


def decoder_stream(version: Version, size: int) -> bytes:
    """About ``size`` bytes: StartMessage, input, then set-state entries to replay."""
    entry = set_entry(version, "key-000000", b"x" * 100)
    count = max(1, size // len(encode_input(version, [entry])))
    journal = [input_entry(version, b'"hi"')]
    journal += [set_entry(version, f"key-{i:06d}", b"x" * 100) for i in range(count)]
    return encode_input(version, [start(version, len(journal)), *journal])


def decoder_cases(version: Version, size: int, ref: Any) -> list[Case]:
    stream = decoder_stream(version, size)
    frames = len(list(_frames(stream)))
    cases = []
    for chunk in (1, KiB, 64 * KiB):
        chunks = [stream[i : i + chunk] for i in range(0, len(stream), chunk)]
        unit = "1 B" if chunk == 1 else f"{chunk // KiB} KiB"
        rust = None if ref is None else partial(rust_notify, ref, version, chunks)
        common = {"nbytes": len(stream), "compare_outputs": False}
        mib = f"{len(stream) / MiB:.0f} MiB" if len(stream) >= MiB else f"{len(stream) // KiB} KiB"
        cases.append(
            Case(
                f"decoder (feed) {mib}, {unit} chunks",
                version,
                partial(ours_decoder, chunks),
                rust,
                expect_value=frames,
                **common,
            )
        )
        cases.append(
            Case(
                f"notify_input {mib}, {unit} chunks",
                version,
                partial(ours_notify, version, chunks),
                rust,
                expect_value=True,
                **common,
            )
        )
    return cases


def _frames(data: bytes) -> list[Any]:
    decoder = Decoder()
    decoder.push(data)
    return list(decoder)


def build_cases(smoke: bool, refs: dict[Version, Any], only: str | None) -> list[Case]:
    ns = (10, 100) if smoke else (10, 100, 1_000, 10_000)
    few = 5 if smoke else 100
    big = 16 * KiB if smoke else MiB
    stream = 64 * KiB if smoke else 10 * MiB
    pattern = re.compile(only, re.IGNORECASE) if only else None
    cases: list[Case] = []
    for version in (V2, V6):
        ref = refs.get(version)
        builders: list[Callable[[], Case | list[Case]]] = [partial(empty_case, version, ref)]
        builders += [partial(getset_case, version, n, False, ref) for n in ns]
        builders += [partial(getset_case, version, n, True, ref) for n in ns]
        builders += [partial(run_case, version, few, replay, ref) for replay in (False, True)]
        builders += [partial(await_case, version, few, kind, ref) for kind in ("sleep", "call")]
        builders += [partial(big_case, version, big, ref), partial(decoder_cases, version, stream, ref)]
        for build in builders:
            built = build()
            for case in built if isinstance(built, list) else [built]:
                if pattern is None or pattern.search(f"{case.label} {case.version}"):
                    cases.append(case)
    return cases


# ---------------------------------------------------------------------------
# Checking and timing
# ---------------------------------------------------------------------------


def normalised(version: Version, data: bytes) -> list[Any]:
    """(type, flags, message) of each output frame; clock-dependent fields zeroed."""
    frames = _frames(data)
    messages = decode_output(version, data)
    for message in messages:
        if message.DESCRIPTOR.name in ("SleepEntryMessage", "SleepCommandMessage"):
            message.wake_up_time = 0
    return [(f.type, f.flags, m) for f, m in zip(frames, messages)]


def check(case: Case) -> list[str]:
    """Problems with the case's output (ours against expectations, ours against Rust)."""
    try:
        out, value = case.ours()
    except Exception as error:
        return [f"ours raised {error!r}"]
    problems = []
    if case.expect_types is not None:
        got = [f.type for f in _frames(out)]
        if got != case.expect_types:
            problems.append(f"ours wrote {_hex(got)}, expected {_hex(case.expect_types)}")
    if case.expect_value is not None and value != case.expect_value:
        problems.append(f"ours: the handler got {_short(value)}, expected {_short(case.expect_value)}")
    if case.rust is None:
        return problems
    try:
        rust_out, rust_value = case.rust()
    except Exception as error:
        return [*problems, f"Rust raised {error!r}"]
    if not case.compare_outputs:  # the input-stream rows: the Rust VM must be ready to execute
        if rust_value is not True:
            problems.append(f"Rust: is_ready_to_execute() = {rust_value!r}")
    elif (ours_msgs := normalised(case.version, out)) != (rust_msgs := normalised(case.version, rust_out)):
        at = next(
            (i for i, (a, b) in enumerate(zip(ours_msgs, rust_msgs)) if a != b), min(len(ours_msgs), len(rust_msgs))
        )
        ours_at = ours_msgs[at] if at < len(ours_msgs) else "nothing"
        rust_at = rust_msgs[at] if at < len(rust_msgs) else "nothing"
        problems.append(
            f"outputs differ ({len(ours_msgs)} vs {len(rust_msgs)} messages); message {at}:"
            f"\n    ours {_short(ours_at)}\n    Rust {_short(rust_at)}"
        )
    elif case.expect_value is not None and rust_value is None:
        problems.append("Rust: the last await got no value")
    return problems


def _hex(types: list[int]) -> str:
    text = " ".join(f"{t:04X}" for t in types[:12])
    return f"[{text}{' ...' if len(types) > 12 else ''}] ({len(types)})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 200 else text[:197] + "..."


def sample(fn: Driver, number: int) -> float:
    """Nanoseconds per call, over ``number`` back-to-back calls (GC off, as timeit)."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter_ns()
        for _ in range(number):
            fn()
        return (time.perf_counter_ns() - t0) / number
    finally:
        gc.enable()


def measure(case: Case, repeat: int, smoke: bool) -> None:
    first = sample(case.ours, 1)
    rust_first = sample(case.rust, 1) if case.rust is not None else 0.0
    number = 1 if smoke else max(1, math.ceil(SAMPLE_NS / max(first, rust_first, 1.0)))
    ours, rust = [], []
    for _ in range(repeat):
        ours.append(sample(case.ours, number))
        if case.rust is not None:
            rust.append(sample(case.rust, number))
    case.result = {
        "ours": statistics.median(ours),
        "rust": statistics.median(rust) if rust else None,
        "number": number,
    }


# ---------------------------------------------------------------------------
# Memory: a 10,000-entry replay
# ---------------------------------------------------------------------------


def memory_report(refs: dict[Version, Any], smoke: bool) -> list[str]:
    n = 50 if smoke else 5_000  # get + set pairs: 2n replayed entries
    lines = [
        f"Peak memory while replaying {2 * n:,} journal entries ({n:,} eager get + set pairs, 32-byte values),"
        " then output + end:",
        "",
        "| proto | journal on the wire | ours, tracemalloc peak | ours, RSS peak delta | Rust, RSS peak delta |",
        "|---|---:|---:|---:|---:|",
    ]
    for version in (V2, V6):
        data = getset_input(version, n, replay=True)
        _, new = state_pairs(n)
        gc.collect()
        tracemalloc.start()
        tracemalloc.reset_peak()
        ours_getset(version, data, new)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        ours_rss = rss_delta("ours", version, data, n)
        rust_rss = rss_delta("rust", version, data, n) if refs.get(version) is not None else None
        lines.append(
            f"| {version} | {_bytes(len(data))} | {_bytes(peak)} ({peak / len(data):.1f}x) "
            f"| {_rss(ours_rss, len(data))} | {_rss(rust_rss, len(data))} |"
        )
    lines += [
        "",
        "tracemalloc sees Python allocations only: not the protobuf runtime's (upb arenas), not the Rust core's."
        " Our eager state stays in the StartMessage's protobuf map, so tracemalloc does not count it either:"
        " compare the RSS columns."
        " RSS peak delta: in a fresh subprocess (warmed up, the journal read from a file, freed heap trimmed),"
        " the kernel's high-water mark of the resident set during the run minus the resident set before it"
        " (Linux only); median of 3 subprocesses, granular to pages and to pymalloc's arenas, so read it"
        " to about +-0.5 MiB.",
    ]
    return lines


def _bytes(n: float) -> str:
    return f"{n / MiB:.2f} MiB" if n >= MiB else f"{n / KiB:.0f} KiB"


def _rss(delta: int | None, wire: int) -> str:
    return "n/a" if delta is None else f"{_bytes(delta)} ({delta / wire:.1f}x)"


def rss_delta(side: str, version: Version, data: bytes, n: int) -> int | None:
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as file:
        file.write(data)
    try:
        results = []
        for _ in range(3):
            command = [sys.executable, __file__, "--_rss", side, str(int(version)), file.name, str(n)]
            done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
            if done.returncode != 0:
                print(f"RSS measurement failed ({side} {version}): {done.stderr.strip()}", file=sys.stderr)
                return None
            results.append(int(done.stdout.split()[-1]))
        return int(statistics.median(results))
    finally:
        os.unlink(file.name)


def rss_child(side: str, version: Version, path: str, n: int) -> None:
    """In a subprocess: how far a replay raises the resident set size above where it was (bytes).

    Freed heap memory is returned to the OS first (malloc_trim) and the kernel's
    high-water mark reset (/proc/self/clear_refs), so the peak is the run's own.
    """
    _, new = state_pairs(n)
    _, small = state_pairs(10)
    if side == "rust":
        module = refcores.load(REF_VERSION[version])
        assert module is not None, "no Rust core"
        run = partial(r040_getset if version.is_legacy else r120_getset, module)
    else:
        run = partial(ours_getset, version)
    run(getset_input(version, 10, replay=True), small)  # warm up (lazy imports, caches)
    data = Path(path).read_bytes()
    gc.collect()
    ctypes.CDLL(None).malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    run(data, new)
    print((_status_kib("VmHWM") - before) * 1024)


def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise LookupError(field_name)


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def fmt_time(ns: float | None) -> str:
    if ns is None:
        return "n/a"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}" if ns / scale < 100 else f"{ns / scale:.0f} {unit}"
    return f"{ns:.0f} ns"


def per_op(case: Case, ns: float | None) -> str:
    if ns is None:
        return "n/a"
    if case.nbytes:
        return f"{case.nbytes / MiB / (ns / 1e9):,.1f} MiB/s"
    if case.ops:
        return fmt_time(ns / case.ops)
    return ""


def table(cases: list[Case]) -> list[str]:
    lines = [
        "| scenario | proto | ours | Rust | ours/Rust | ours per op | Rust per op |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for case in cases:
        ours, rust = case.result["ours"], case.result["rust"]
        ratio = "n/a" if rust is None else f"{ours / rust:.2f}x" + ("" if ours / rust <= 1.5 else " (!)")
        lines.append(
            f"| {case.label} | {case.version} | {fmt_time(ours)} | {fmt_time(rust)} | {ratio} "
            f"| {per_op(case, ours)} | {per_op(case, rust)} |"
        )
    return lines


def flatness(cases: list[Case]) -> list[str]:
    """Marginal cost per op, (time - empty invocation time) / n, at the largest n over the smallest."""
    lines = []
    empty = {case.version: case.result for case in cases if case.label == "empty invocation"}
    groups: dict[tuple[str, Version], list[Case]] = {}
    for case in cases:
        if case.group and case.ops:
            groups.setdefault((case.group, case.version), []).append(case)
    for (group, version), members in groups.items():
        if len(members) < 2 or version not in empty:
            continue
        lo, hi = members[0], members[-1]
        parts = []
        for side, name in (("ours", "ours"), ("rust", "Rust")):
            base, a, b = empty[version][side], lo.result[side], hi.result[side]
            if base is not None and a is not None and b is not None and a > base:
                per_lo, per_hi = (a - base) / lo.ops, (b - base) / hi.ops
                parts.append(f"{name} {fmt_time(per_lo)} -> {fmt_time(per_hi)} ({per_hi / per_lo:.2f}x)")
        lines.append(f"- {group} {version}, n={lo.ops:,} -> n={hi.ops:,}: {'; '.join(parts)}")
    return lines


def header(repeat: int, smoke: bool, refs: dict[Version, Any]) -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rust = []
    for version, sdk in REF_VERSION.items():
        if refs.get(version) is not None:
            rust.append(f"{version}: restate-sdk {sdk}")
        else:
            rust.append(f"{version}: n/a ({refcores.REASONS.get(sdk, 'not loaded')})")
    mode = "smoke run: tiny sizes, 1 sample, timings meaningless" if smoke else f"median of {repeat} samples"
    return [
        "## restate_core vs the Rust core",
        "",
        f"- machine: {platform.platform()}, {cpu}, {os.cpu_count()} CPUs",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), protobuf "
        f"{google.protobuf.__version__} ({api_implementation.Type()})",
        f"- Rust cores: {'; '.join(rust)}",
        f"- {mode}; each sample times about {SAMPLE_NS // 1_000_000} ms of back-to-back invocations"
        if not smoke
        else f"- {mode}",
        "",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one sample: a quick check that all runs")
    parser.add_argument("--repeat", type=int, default=7, help="samples per scenario (the median is reported)")
    parser.add_argument(
        "--only", metavar="PATTERN", help="only the scenarios whose 'label proto' matches this regex ('memory': memory)"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    parser.add_argument("--_rss", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._rss:
        side, version, path, n = args._rss
        rss_child(side, Version(int(version)), path, int(n))
        return 0
    repeat = 1 if args.smoke else args.repeat
    began = time.perf_counter()
    refs = {version: refcores.load(sdk) for version, sdk in REF_VERSION.items()}
    cases = build_cases(args.smoke, refs, args.only)
    failed = False
    for case in cases:
        problems = check(case)
        if problems:
            failed = True
            print(f"FAILED: {case.label} {case.version}:", *problems, sep="\n  ", file=sys.stderr)
    if failed:
        return 1
    for case in cases:
        if sys.stderr.isatty():
            print(f"\r\033[K{case.label} {case.version} ...", end="", file=sys.stderr, flush=True)
        measure(case, repeat, args.smoke)
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    lines = header(repeat, args.smoke, refs) + table(cases)
    flat = flatness(cases)
    if flat:
        lines += ["", "Marginal cost per pair, (time - empty invocation) / n (target: flat, about 1x):", "", *flat]
    if not args.no_memory and (not args.only or re.search(args.only, "memory", re.IGNORECASE)):
        lines += ["", *memory_report(refs, args.smoke)]
    lines += ["", f"(took {time.perf_counter() - began:.0f} s)"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
