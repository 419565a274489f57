"""Upstream ``src/tests/sleep.rs`` (core-v2.md §7.6).

Upstream only checks that some ``wake_up_time`` is present; the VM's clock is
injected here, so the exact value is asserted: clock (1000 s) + 1 s, in ms.
"""

from __future__ import annotations

from datetime import timedelta

from restate_core import VOID, CoreVM, Success, SuspendedError
from restate_core.protocol import v2
from restate_core.testing import await_result

from .conftest import NOW_MILLIS, end, input_entry, invocation, output, start_message, suspension

RECORDED_WAKE_UP_TIME = 1721123699086


def sleep_handler(vm: CoreVM) -> None:
    vm.sys_input()
    handle = vm.sys_sleep(timedelta(seconds=1))
    try:
        value = await_result(vm, handle)
    except SuspendedError:
        return
    assert value == VOID
    vm.sys_write_output(Success(b""))
    vm.sys_end()


def test_sleep_suspends() -> None:
    out = invocation().input(start_message(1, invocation_id="abc"), input_entry(b"Till")).run(sleep_handler)

    assert out.messages == [v2.SleepEntryMessage(wake_up_time=NOW_MILLIS + 1000), suspension(1)]
    assert out.frames[0].flags == 0


def test_sleep_completed() -> None:
    out = (
        invocation()
        .input(
            start_message(2, invocation_id="abc"),
            input_entry(b"Till"),
            # A wake-up time other than the one the code computes now: not compared on replay.
            v2.SleepEntryMessage(wake_up_time=RECORDED_WAKE_UP_TIME, empty=v2.Empty()),
        )
        .run(sleep_handler)
    )

    assert out.messages == [output(b""), end()]


def test_sleep_still_sleeping() -> None:
    out = (
        invocation()
        .input(
            start_message(2, invocation_id="abc"),
            input_entry(b"Till"),
            v2.SleepEntryMessage(wake_up_time=RECORDED_WAKE_UP_TIME),
        )
        .run(sleep_handler)
    )

    assert out.messages == [suspension(1)]
