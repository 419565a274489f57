"""Upstream ``src/tests/input_output.rs`` (core-v5.md §7, "input_output.rs")."""

from __future__ import annotations

from restate_core import CoreVM, Header, Input, Success
from restate_core.protocol import Version, encode_frame, v5

from .conftest import both_versions, end, input_command, invocation, output_success, start_message


def echo_handler(vm: CoreVM) -> None:
    input = vm.sys_input()
    assert input.input == b"my-data"
    vm.sys_write_output(Success(input.input))
    vm.sys_end()


@both_versions
def test_echo(version: Version) -> None:
    out = invocation(version).input(start_message(1, partial_state=False), input_command(b"my-data")).run(echo_handler)

    assert out.messages == [output_success(b"my-data"), end()]


def test_headers() -> None:
    def handler(vm: CoreVM) -> None:
        input = vm.sys_input()
        assert input.headers == [Header("x-my-header", "my-value")]
        assert input.input == b"other-value"
        vm.sys_write_output(Success(b""))
        vm.sys_end()

    out = (
        invocation()
        .input(
            start_message(1, partial_state=False),
            input_command(b"other-value", headers=[("x-my-header", "my-value")]),
        )
        .run(handler)
    )

    assert out.messages == [output_success(b""), end()]


def test_start_message_v7_fields_dropped_on_v6() -> None:
    # [V6] The V7 fields scope:10, limit_key:11, idempotency_key:12 are not in the V6 proto; a
    # StartMessage that carries them still works and they surface nowhere (Input has no such fields).
    start = start_message(1, partial_state=False).SerializeToString()
    v7_fields = b"\x52\x08tenant-a" + b"\x5a\x07user-42" + b"\x62\x06idem-7"
    inv = invocation(Version.V6)
    inv.vm.notify_input(encode_frame(v5.MessageType.START, start + v7_fields))
    inv.input(input_command(b"my-data"))

    def handler(vm: CoreVM) -> None:
        assert vm.sys_input() == Input("123", 0, "", [], b"my-data")
        vm.sys_write_output(Success(b""))
        vm.sys_end()

    assert inv.run(handler).messages == [output_success(b""), end()]


@both_versions
def test_replay_output_too(version: Version) -> None:
    out = (
        invocation(version)
        .input(
            start_message(2, partial_state=False),
            input_command(b"my-data"),
            v5.OutputCommandMessage(value=v5.Value(content=b"my-data")),
        )
        .run(echo_handler)
    )

    # The output command was replayed (and matched): only End is new.
    assert out.messages == [end()]
