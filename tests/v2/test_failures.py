"""Upstream ``src/tests/failures.rs`` (core-v2.md §7.4)."""

from __future__ import annotations

import pytest

from restate_core import CoreVM, Target, VMError
from restate_core.protocol import Version, v2
from restate_core.testing import decode_output, encode_input

from .conftest import (
    NO_ENTRY,
    assert_journal_mismatch,
    assert_related_entry,
    error_as_vm_error,
    input_entry,
    invocation,
    new_vm,
    start_message,
)

INPUT_CLOSED_WHILE_WAITING_ENTRIES = "The input was closed while still waiting to receive all the `known_entries`"


def test_got_closed_stream_before_end_of_replay() -> None:
    vm = new_vm()
    vm.notify_input(encode_input(Version.V2, [start_message(2, partial_state=False)]))
    vm.notify_input(encode_input(Version.V2, [input_entry()]))
    vm.notify_input_closed()

    with pytest.raises(VMError) as raised:
        vm.is_ready_to_execute()
    assert raised.value == VMError(571, INPUT_CLOSED_WHILE_WAITING_ENTRIES)

    data = vm.take_output()
    assert data is not None
    messages = decode_output(Version.V2, data)
    assert len(messages) == 1
    assert error_as_vm_error(messages[0]) == VMError(571, INPUT_CLOSED_WHILE_WAITING_ENTRIES)
    # No syscall created an entry yet: the ErrorMessage names no entry (§3.3).
    assert_related_entry(messages[0], NO_ENTRY, "", 0)
    assert vm.take_output() is None


def test_get_state_entry_mismatch() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(VMError) as raised:
            vm.sys_state_get("another-key")
        assert_journal_mismatch(raised.value, 1, "key", "my-key", "another-key")

    out = (
        invocation()
        .input(start_message(2), input_entry(b"my-data"), v2.GetStateEntryMessage(key=b"my-key"))
        .run(handler)
    )

    assert len(out.messages) == 1
    error = error_as_vm_error(out.messages[0])
    assert (error.code, error.description) == (570, "")
    assert_related_entry(out.messages[0], 1, "", v2.MessageType.GET_STATE_ENTRY)


def test_one_way_call_entry_mismatch() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        with pytest.raises(VMError) as raised:
            vm.sys_send(Target("greeter", "greet", "my-key"), b"456")
        assert_journal_mismatch(raised.value, 1, "parameter", "123", "456")

    out = (
        invocation()
        .input(
            start_message(2),
            input_entry(b"my-data"),
            v2.OneWayCallEntryMessage(service_name="greeter", handler_name="greet", key="my-key", parameter=b"123"),
        )
        .run(handler)
    )

    assert len(out.messages) == 1
    error = error_as_vm_error(out.messages[0])
    assert (error.code, error.description) == (570, "")
    assert_related_entry(out.messages[0], 1, "", v2.MessageType.ONE_WAY_CALL_ENTRY)
