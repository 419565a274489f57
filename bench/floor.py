"""How fast pure Python can go: three scenarios of bench/run.py, done with nothing else.

``python bench/floor.py`` times each scenario on ``CoreVM``, on the Rust core
of ``bench/run.py`` (when ``tools/refcores.py`` can load it), and on a floor: a
class cut down to what those bytes need when nothing goes wrong. A floor has no
states, no checks, no logging and no error handling, knows only its one input,
and must give what ``CoreVM`` gives (the script stops if it does not). The gap
between the floor and ``CoreVM`` is the price of everything else ``CoreVM``
does; the gap between the floor and the Rust core is about what no
pure-Python VM can close.

- ``empty``: the empty V6 invocation (start + input -> output + end, output
  drained). ``Floor`` reads the StartMessage with the same protobuf class,
  builds the same ``Input`` and writes the same bytes.
- ``sleeps``: a V2 sleep whose completion arrives after the await (sys_sleep,
  notify_await_point, take_async_result, notify_input of the completion,
  take_async_result), per sleep: 100 sleeps after a start, less the start
  alone. ``SleepFloor`` writes the same entries and hands out the same value.
- ``decoding``: ``notify_input`` of a 10 MiB V6 journal cut into 1-byte, 1 KiB
  and 64 KiB chunks. ``DecoderFloor`` cuts the chunks into the same frames and
  keeps them, a ``bytes`` object each, as ``CoreVM``'s replay queue does;
  ``Decoder.feed`` and ``CoreVM.notify_input`` (which also files each frame)
  are timed next to it.

Each side is timed in turn, the sides interleaved so that all see the same
machine; the medians are printed. ``--smoke`` checks the floors against
``CoreVM`` and times each side once, on smaller inputs (for CI).
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
import timeit
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # bench/run.py: the same input bytes

from restate_core import VOID, CoreVM, Success
from restate_core._values import new_input
from restate_core.protocol import Decoder, Version
from restate_core.protocol._wire import _V2_SLEEP_FRAME_START, _epoch_millis
from restate_core.vm._current import CurrentVM

_length = struct.Struct(">I").unpack_from
_header = struct.Struct(">HHI").pack
_OUTPUT, _END = 0x0401, 0x0003  # OutputCommandMessage, EndMessage


class Floor:
    """Only the steps of the usual empty invocation (see the module docstring)."""

    __slots__ = ("_commands", "_output", "_ready", "_start")

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        for name, _ in headers:  # the content type is looked up (and taken to be V6)
            if name.lower() == "content-type":
                break
        self._output: list[bytes] = []
        self._commands: deque[bytes] = deque()
        self._start: Any = None
        self._ready = False

    def notify_input(self, buffer: bytes) -> None:
        end = 8 + _length(buffer, 4)[0]
        self._start = CurrentVM._START_VIEW.FromString(buffer[8:end])
        while end < len(buffer):
            after = end + 8 + _length(buffer, end + 4)[0]
            self._commands.append(buffer[end:after])
            end = after
        self._ready = True

    def notify_input_closed(self) -> None:
        pass

    def is_ready_to_execute(self) -> bool:
        return self._ready

    def sys_input(self) -> Any:
        command = self._commands.popleft()
        start = self._start
        # {value: 14 {content: 1}}, one-byte lengths: the content starts at byte 12.
        return new_input(start.debug_id, start.random_seed, start.key, [], command[12:])

    def sys_write_output(self, value: Success) -> None:
        content = value.value
        # {value: 14 {content: 1}}, one-byte lengths.
        body = b"".join((b"\x72", bytes((len(content) + 2,)), b"\x0a", bytes((len(content),)), content))
        self._output.append(_header(_OUTPUT, 0, len(body)) + body)

    def sys_end(self) -> None:
        self._output.append(_header(_END, 0, 0))

    def take_output(self) -> bytes | None:
        output = self._output
        if not output:
            return None
        data = b"".join(output)
        output.clear()
        return data


class SleepFloor:
    """Only the steps of a V2 sleep awaited before its completion arrives (see the module
    docstring): the entry written, the completion filed, the value handed out."""

    __slots__ = ("_clock", "_index", "_output", "_ready")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._index = 0  # the input entry's
        self._output: list[bytes] = []
        self._ready: dict[int, Any] = {}

    def sys_sleep(self, duration: timedelta) -> int:
        # The same wake-up time as CoreVM's, encoded the fastest way we know: SleepEntryMessage
        # {wake_up_time: 1}, a six-byte varint for today's epoch milliseconds.
        now_us = round(self._clock() * 1_000_000)
        delay_us = (duration.days * 86_400 + duration.seconds) * 1_000_000 + duration.microseconds
        self._output.append(_V2_SLEEP_FRAME_START + _epoch_millis((now_us + delay_us) // 1000))
        self._index = index = self._index + 1
        return index

    def notify_await_point(self, handle: int) -> None:
        pass

    def take_async_result(self, handle: int) -> Any:
        return self._ready.pop(handle, None)

    def notify_input(self, frame: bytes) -> None:
        # One CompletionMessage{entry_index: 1, empty: 13}, its index in one byte.
        self._ready[frame[9]] = VOID


class DecoderFloor:
    """Only the steps of cutting chunks into frames (see the module docstring): no size limit,
    no checks, the pending bytes joined with the chunk that completes them."""

    __slots__ = ("_need", "_pending")

    def __init__(self) -> None:
        self._pending = bytearray()
        self._need = 8

    def feed(self, data: bytes) -> list[bytes]:
        pending = self._pending
        if pending:
            if len(pending) + len(data) < self._need:
                pending += data
                return []
            data = b"".join((pending, data))
            pending.clear()
        frames: list[bytes] = []
        append = frames.append
        size = len(data)
        last = size - 8
        offset = 0
        while offset <= last:
            end = offset + 8 + _length(data, offset + 4)[0]
            if end > size:
                break
            append(data[offset:end])
            offset = end
        if offset < size:
            pending += data[offset:]
            self._need = 8 + _length(pending, 4)[0] if len(pending) >= 8 else 8
        return frames


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def interleaved(runs: dict[str, Callable[[], object]], number: int, samples: int) -> dict[str, float]:
    """The median seconds per call of each function, the functions sampled in turn."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(samples):
        for name, function in runs.items():
            times[name].append(timeit.timeit(function, number=number) / number)
    return {name: sorted(values)[len(values) // 2] for name, values in times.items()}


def rust_core(version: Version) -> tuple[str, Any]:
    """The name and module of the Rust core ``bench/run.py`` compares ``version`` with."""
    sdk = bench.REF_VERSION[version]
    return f"Rust core (restate-sdk {sdk})", bench.refcores.load(sdk)


def report(title: str, results: dict[str, float], unit: float, unit_name: str, rust: str, version: Version) -> None:
    """Print ``results`` in ``unit`` and, if the Rust core ran (as ``rust``), each as a ratio to it."""
    print(title)
    base = results.get(rust)
    for name, seconds in results.items():
        ratio = f"  {seconds / base:.2f}x" if base else ""
        print(f"  {name:44s} {seconds / unit:8,.0f} {unit_name}{ratio}")
    if base is None:
        sdk = bench.REF_VERSION[version]
        print(f"  (the Rust core of restate-sdk {sdk}: {bench.refcores.REASONS.get(sdk, 'not loaded')})")


def check(same: bool, what: str) -> None:
    if not same:
        raise SystemExit(f"the floor and CoreVM differ: {what}")


# ---------------------------------------------------------------------------
# The scenarios
# ---------------------------------------------------------------------------


def empty(smoke: bool) -> None:
    version = Version.V6
    data = bench.encode_input(version, [bench.start(version, 1), bench.input_entry(version, b'"hi"')])
    headers = bench.headers(version)
    output = Success(bench.OUTPUT)

    def invocation(vm_class: Any) -> tuple[Any, bytes]:
        vm = vm_class(headers)
        vm.notify_input(data)
        vm.notify_input_closed()
        vm.is_ready_to_execute()
        value = vm.sys_input()
        vm.sys_write_output(output)
        vm.sys_end()
        parts = []
        while chunk := vm.take_output():
            parts.append(chunk)
        return value, b"".join(parts)

    def rust_invocation(module: Any) -> bytes:
        # bench/run.py's driver of the Rust core 8.2.0, with the value made once as above.
        vm = module.PyVM(headers)
        vm.notify_input(data)
        vm.notify_input_closed()
        vm.is_ready_to_execute()
        vm.sys_input()
        vm.sys_write_output_success(bench.OUTPUT)
        vm.sys_end()
        return bench.rust_drain(vm)

    check(invocation(Floor) == invocation(CoreVM), "the empty invocation's input or output")
    runs: dict[str, Callable[[], object]] = {"Floor": lambda: invocation(Floor), "CoreVM": lambda: invocation(CoreVM)}
    rust, module = rust_core(version)
    if module is not None:
        runs[rust] = lambda: rust_invocation(module)
    number, samples = (1_000, 1) if smoke else (20_000, 15)
    title = f"empty V6 invocation, median of {samples} samples of {number:,}:"
    report(title, interleaved(runs, number, samples), 1e-9, "ns", rust, version)


def sleeps(smoke: bool) -> None:
    version = Version.V2
    count = 100
    data = bench.encode_input(version, [bench.start(version, 1), bench.input_entry(version, b'"hi"')])
    dones = [bench.sleep_done(version, index) for index in range(count)]

    def ours(clock: Callable[[], float] = time.time) -> CoreVM:
        vm = CoreVM(bench.headers(version), clock=clock)
        vm.notify_input(data)
        vm.is_ready_to_execute()
        vm.sys_input()
        return vm

    def fixed() -> float:
        return 1_700_000_000.123456

    vm, floor = ours(fixed), SleepFloor(fixed)
    check(
        bench.awaited_sleeps(vm, dones, bench.SLEEP) == bench.awaited_sleeps(floor, dones, bench.SLEEP),
        "the value of a sleep",
    )
    check(bench.ours_drain(vm) == b"".join(floor._output), "the sleep entries")
    runs: dict[str, Callable[[], object]] = {
        "SleepFloor": lambda: bench.awaited_sleeps(SleepFloor(time.time), dones, bench.SLEEP),
        "CoreVM": lambda: bench.awaited_sleeps(ours(), dones, bench.SLEEP),
    }
    starts: dict[str, Callable[[], object]] = {"SleepFloor": lambda: SleepFloor(time.time), "CoreVM": ours}
    rust, module = rust_core(version)
    if module is not None:
        runs[rust] = lambda: bench.awaited_sleeps(bench.rust_start(module, version, data, close=False), dones, 60_000)
        starts[rust] = lambda: bench.rust_start(module, version, data, close=False)
    number, samples = (10, 1) if smoke else (300, 11)
    loops = interleaved(runs, number, samples)
    alone = interleaved(starts, number, samples)
    per_sleep = {name: (loops[name] - alone[name]) / count for name in runs}
    title = f"V2 sleep awaited, per sleep ({count} sleeps less the start; medians of {samples} samples of {number}):"
    report(title, per_sleep, 1e-9, "ns", rust, version)


def decoding(smoke: bool) -> None:
    version = Version.V6
    stream = bench.decoder_stream(version, 64 * 1024 if smoke else 10 * 1024 * 1024)
    rust, module = rust_core(version)
    for size in (1, 1024, 64 * 1024):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]

        def keep(feed: Callable[[bytes], list[bytes]], chunks: list[bytes] = chunks) -> list[bytes]:
            frames: list[bytes] = []
            for chunk in chunks:
                frames += feed(chunk)
            return frames

        frames = keep(Decoder().feed)
        check(keep(DecoderFloor().feed) == frames, f"the frames of {size}-byte chunks")
        runs: dict[str, Callable[[], object]] = {
            "DecoderFloor": lambda: keep(DecoderFloor().feed),
            "Decoder.feed": lambda: keep(Decoder().feed),
            "CoreVM.notify_input": lambda: bench.ours_notify(version, chunks),  # noqa: B023 (timed here)
        }
        if module is not None:
            runs[rust + " notify_input"] = lambda: bench.rust_notify(module, version, chunks)  # noqa: B023
        samples = 1 if smoke else (3 if size == 1 else 9)
        title = (
            f"{len(stream) / 1024 / 1024:.1f} MiB ({len(frames):,} frames) in {size:,}-byte chunks,"
            f" per frame, median of {samples} samples:"
        )
        report(title, interleaved(runs, 1, samples), len(frames) * 1e-9, "ns", rust + " notify_input", version)


SCENARIOS = {"empty": empty, "sleeps": sleeps, "decoding": decoding}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("scenarios", nargs="*", metavar="scenario", help=f"{', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--smoke", action="store_true", help="check the floors, time each side once")
    arguments = parser.parse_args()
    unknown = [name for name in arguments.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}: choose from {', '.join(SCENARIOS)}")
    for name in arguments.scenarios or SCENARIOS:
        SCENARIOS[name](arguments.smoke)


if __name__ == "__main__":
    main()
