"""Upstream ``src/tests/get_state.rs`` (core-v2.md §7.5)."""

from __future__ import annotations

import pytest

from restate_core import CoreVM, Success, SuspendedError
from restate_core.protocol import COMPLETED, v2
from restate_core.testing import await_result

from .conftest import completion, end, input_entry, invocation, output, start_message, suspension


def test_just_replay() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_state_get("Personaggio")
        # The replayed entry carries its result: it is ready without an await point.
        value = vm.take_async_result(handle)
        assert value == Success(b"Pippo")
        vm.sys_write_output(value)
        vm.sys_end()

    out = (
        invocation()
        .input(
            start_message(2, partial_state=False),
            input_entry(b"my-data"),
            v2.GetStateEntryMessage(key=b"Personaggio", value=b"Pippo"),
        )
        .run(handler)
    )

    assert out.messages == [output(b"Pippo"), end()]


def test_suspend() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_state_get("Personaggio")
        vm.notify_await_point(handle)
        with pytest.raises(SuspendedError):
            vm.take_async_result(handle)

    out = invocation().input(start_message(1), input_entry(b"my-data")).run(handler)

    assert out.messages == [v2.GetStateEntryMessage(key=b"Personaggio"), suspension(1)]


def test_completed() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_state_get("Personaggio")
        value = await_result(vm, handle)
        assert value == Success(b"Pippo")
        vm.sys_write_output(value)
        vm.sys_end()

    out = invocation().input(start_message(1), input_entry(b"my-data"), completion(1, value=b"Pippo")).run(handler)

    assert out.messages == [v2.GetStateEntryMessage(key=b"Personaggio"), output(b"Pippo"), end()]
    assert out.frames[0].flags == 0


def test_completed_with_eager_state() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_state_get("Personaggio")
        value = await_result(vm, handle)
        assert value == Success(b"Francesco")
        vm.sys_write_output(value)
        vm.sys_end()

    out = (
        invocation()
        .input(
            start_message(1, partial_state=False, state_map={"Personaggio": b"Francesco"}),
            input_entry(b"my-data"),
        )
        .run(handler)
    )

    assert out.messages == [
        v2.GetStateEntryMessage(key=b"Personaggio", value=b"Francesco"),
        output(b"Francesco"),
        end(),
    ]
    assert out.frames[0].flags == COMPLETED
