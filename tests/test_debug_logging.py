"""With the ``restate_core`` logger at DEBUG, the VM takes other branches (it logs every state
change and every replayed message). They must leave the VM exactly where the quiet ones do:
same output, same values, same errors; and the log must tell the state changes as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from restate_core import CoreVM, Success, SuspendedError, VMError
from restate_core.protocol import Decoder, Version, v2, v5
from restate_core.retries import RetryPolicy
from restate_core.testing import Frame, decode_output, encode_input, notification

from .test_properties import _chunks, fed_vm, valid_streams

LOGGER = logging.getLogger("restate_core")


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def debug_log() -> Iterator[list[str]]:
    """The ``restate_core`` logger at DEBUG for the block; yields the lines it logs."""
    handler = _Lines()
    level, propagate = LOGGER.level, LOGGER.propagate
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.DEBUG)
    LOGGER.propagate = False
    try:
        yield handler.lines
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(level)
        LOGGER.propagate = propagate


Handler = Callable[[CoreVM], object]


def drive(version: Version, chunks: list[bytes] | list[memoryview], handler: Handler) -> tuple[object, ...]:
    """Feed ``chunks``, close the input, run ``handler``: what came out, errors included."""
    vm = fed_vm(version, chunks)
    observed: object
    try:
        observed = (vm.is_ready_to_execute(), handler(vm))
    except VMError as error:
        observed = ("error", error.code, error.message)
    except SuspendedError:
        observed = "suspended"
    output = b""
    while (chunk := vm.take_output()) is not None:
        output += chunk
    return observed, decode_output(version, output)


def quiet_and_logged(
    version: Version, chunks: list[bytes] | list[memoryview], handler: Handler
) -> tuple[tuple[object, ...], tuple[object, ...], list[str]]:
    quiet = drive(version, chunks, handler)
    with debug_log() as lines:
        logged = drive(version, chunks, handler)
    return quiet, logged, lines


def _handler(vm: CoreVM) -> object:
    """Input, a replayed set, then live: a get, a sleep whose completion comes later, a run."""
    seen: list[object] = [vm.sys_input().input]
    vm.sys_state_set("a", b"1")
    get = vm.sys_state_get("a")
    vm.notify_await_point(get)
    seen.append(vm.take_async_result(get))
    sleep = vm.sys_sleep(timedelta(seconds=1))
    vm.notify_await_point(sleep)
    seen.append(vm.take_async_result(sleep))
    seen.append(vm.sys_run_enter("r"))
    vm.sys_run_exit(Success(b"ran"), RetryPolicy.infinite())
    vm.sys_write_output(Success(b"out"))
    vm.sys_end()
    return seen


def _journal(version: Version, known: int) -> list[Message | Frame]:
    """A StartMessage, the input, with ``known == 2`` the set of ``_handler`` (replayed), and
    the sleep's completion."""
    if version.is_legacy:
        set_entry: list[Message | Frame] = [v2.SetStateEntryMessage(key=b"a", value=b"1")]
        return [
            v2.StartMessage(id=b"inv", debug_id="inv", known_entries=known),
            v2.InputEntryMessage(value=b"in"),
            *set_entry[: known - 1],
            v2.CompletionMessage(entry_index=3, empty=v2.Empty()),
        ]
    set_command: list[Message | Frame] = [v5.SetStateCommandMessage(key=b"a", value=v5.Value(content=b"1"))]
    return [
        v5.StartMessage(id=b"inv", debug_id="inv", known_entries=known),
        v5.InputCommandMessage(value=v5.Value(content=b"in")),
        *set_command[: known - 1],
        notification(0x800C, completion_id=2, void=True),
    ]


@pytest.mark.parametrize("version", [Version.V1, Version.V2, Version.V5, Version.V6])
@pytest.mark.parametrize("how", ["one chunk", "a frame a chunk", "memoryview"])
@pytest.mark.parametrize("known", [1, 2])
def test_debug_logging_changes_nothing_and_tells_the_states(version: Version, how: str, known: int) -> None:
    data = encode_input(version, _journal(version, known))
    frames = Decoder().feed(data)
    chunks: list[bytes] | list[memoryview] = {
        "one chunk": [data],
        "a frame a chunk": frames,
        "memoryview": [memoryview(data)],
    }[how]
    quiet, logged, lines = quiet_and_logged(version, chunks, _handler)
    assert logged == quiet
    observed = quiet[0]
    assert isinstance(observed, tuple) and observed[0] is True, quiet  # it ran to the end
    changes = [line for line in lines if line.startswith("state ")]
    # In one chunk the journal is taken with the StartMessage: no state waits for it.
    waits = how != "one chunk"
    assert changes == [
        *(["state WaitingStart -> WaitingReplayEntries"] if waits else []),
        f"state {'WaitingReplayEntries' if waits else 'WaitingStart'} -> Replaying",
        "state Replaying -> Processing",
        "state Processing -> Ended",
    ]
    assert any(line.startswith(f"start: invocation inv, {known} known entries") for line in lines)
    assert any(line.startswith("replaying ") for line in lines)


@given(valid_streams(), st.lists(st.integers(0, 5000), max_size=30))
def test_any_valid_stream_runs_the_same_with_debug_logging(
    stream: tuple[Version, list[Message | Frame]], cuts: list[int]
) -> None:
    version, messages = stream
    data = encode_input(version, messages)

    def handler(vm: CoreVM) -> object:
        value = vm.sys_input()
        vm.sys_write_output(Success(b"done"))
        vm.sys_end()
        return value

    for chunks in ([data], _chunks(data, cuts), [memoryview(data)]):
        quiet, logged, _ = quiet_and_logged(version, chunks, handler)
        assert logged == quiet
