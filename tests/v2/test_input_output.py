"""Upstream ``src/tests/input_output.rs`` (core-v2.md §7.3)."""

from __future__ import annotations

from restate_core import CoreVM, Header, Success
from restate_core.protocol import v2

from .conftest import end, input_entry, invocation, output, start_message


def echo_handler(vm: CoreVM) -> None:
    input = vm.sys_input().input
    assert input == b"my-data"
    vm.sys_write_output(Success(input))
    vm.sys_end()


def test_echo() -> None:
    out = invocation().input(start_message(1, partial_state=False), input_entry(b"my-data")).run(echo_handler)

    assert out.messages == [output(b"my-data"), end()]


def test_headers() -> None:
    def handler(vm: CoreVM) -> None:
        input = vm.sys_input()
        assert input.headers == [Header("x-my-header", "my-value")]
        vm.sys_write_output(Success(b""))
        vm.sys_end()

    out = (
        invocation()
        .input(start_message(1, partial_state=False), input_entry(b"other-value", [("x-my-header", "my-value")]))
        .run(handler)
    )

    assert out.messages == [output(b""), end()]
    # The empty value is present on the wire, not an unset result.
    assert out.messages[0].WhichOneof("result") == "value"
    assert out.messages[0] != v2.OutputEntryMessage()


def test_replay_output_too() -> None:
    out = (
        invocation()
        .input(start_message(2, partial_state=False), input_entry(b"my-data"), output(b"my-data"))
        .run(echo_handler)
    )

    assert out.messages == [end()]
