"""What an empty invocation costs in Python with nothing but its unavoidable steps.

``python bench/floor.py`` times the empty V6 invocation of ``bench/run.py``
(start + input -> output + end, output drained) on ``CoreVM``, on the Rust
core 8.2.0 (when ``tools/refcores.py`` can load it) and on ``Floor``: a VM
cut down to what those bytes need when nothing goes wrong. ``Floor`` has no
states, no checks, no logging, no error handling, and knows only this one
input; it reads the StartMessage with the same protobuf class, builds the
same ``Input`` and must write the same bytes as ``CoreVM``. The gap between
the two is the price of everything else ``CoreVM`` does; the floor is about
what no pure-Python VM goes below.
"""

from __future__ import annotations

import struct
import sys
import timeit
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # bench/run.py: the same input bytes

from restate_core import CoreVM, Success
from restate_core._values import new_input
from restate_core.protocol import Version
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


def main() -> None:
    version = Version.V6
    data = bench.encode_input(version, [bench.start(version, 1), bench.input_entry(version, b'"hi"')])
    headers = bench.headers(version)
    output = Success(bench.OUTPUT)

    def invocation(vm_class: Any) -> bytes:
        vm = vm_class(headers)
        vm.notify_input(data)
        vm.notify_input_closed()
        vm.is_ready_to_execute()
        vm.sys_input()
        vm.sys_write_output(output)
        vm.sys_end()
        parts = []
        while chunk := vm.take_output():
            parts.append(chunk)
        return b"".join(parts)

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

    if invocation(Floor) != invocation(CoreVM):
        raise SystemExit("Floor and CoreVM wrote different bytes")
    runs: dict[str, Any] = {
        "Floor": lambda: invocation(Floor),
        "CoreVM": lambda: invocation(CoreVM),
    }
    rust = bench.refcores.load(bench.REF_VERSION[version])
    if rust is not None:
        runs[f"Rust core (restate-sdk {bench.REF_VERSION[version]})"] = lambda: rust_invocation(rust)
    number, samples = 20_000, 15
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(samples):  # interleaved, so all see the same machine
        for name, function in runs.items():
            times[name].append(timeit.timeit(function, number=number) / number)
    print(f"empty V6 invocation, median of {samples} samples of {number:,}:")
    for name, values in times.items():
        print(f"  {name:34s} {sorted(values)[samples // 2] * 1e9:6,.0f} ns")
    if rust is None:
        print(f"  (the Rust core: {bench.refcores.REASONS.get(bench.REF_VERSION[version], 'not loaded')})")


if __name__ == "__main__":
    main()
