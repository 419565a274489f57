"""Upstream ``src/tests/sleep.rs`` (core-v5.md §7, "sleep.rs").

The handler sleeps 1 s, awaits, and writes an empty output. Upstream a take after the suspension
fails with 598 (closed); the old API raises ``SuspendedError`` instead (core-v5.md §4.2).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from restate_core import VOID, CoreVM, Success, SuspendedError
from restate_core.protocol import Version, v5
from restate_core.testing import await_result, notification

from .conftest import (
    NOW_MILLIS,
    SLEEP_COMPLETION,
    both_versions,
    end,
    input_command,
    invocation,
    output_success,
    start_message,
    suspended_waiting_completion,
)


def sleep_handler(vm: CoreVM) -> None:
    vm.sys_input()
    handle = vm.sys_sleep(timedelta(seconds=1))
    try:
        result = await_result(vm, handle)
    except SuspendedError:
        with pytest.raises(SuspendedError):
            vm.take_async_result(handle)
        return
    assert result == VOID
    vm.sys_write_output(Success(b""))
    vm.sys_end()


@both_versions
def test_sleep_suspends(version: Version) -> None:
    out = invocation(version).input(start_message(1, invocation_id=b"abc"), input_command(b"Till")).run(sleep_handler)

    assert out.messages == [
        # wake_up_time is absolute: the clock (1000 s) + 1 s, in ms.
        v5.SleepCommandMessage(wake_up_time=NOW_MILLIS + 1000, result_completion_id=1),
        suspended_waiting_completion(1),
    ]


@both_versions
def test_sleep_completed(version: Version) -> None:
    out = (
        invocation(version)
        .input(
            start_message(3, invocation_id=b"abc"),
            input_command(b"Till"),
            v5.SleepCommandMessage(wake_up_time=1721123699086, result_completion_id=1),
            notification(SLEEP_COMPLETION, completion_id=1, void=True),
        )
        .run(sleep_handler)
    )

    # The recorded wake-up time differs from the one computed now: it is not compared on replay.
    assert out.messages == [output_success(b""), end()]


def test_sleep_still_sleeping() -> None:
    out = (
        invocation()
        .input(
            start_message(2, invocation_id=b"abc"),
            input_command(b"Till"),
            v5.SleepCommandMessage(wake_up_time=1721123699086, result_completion_id=1),
        )
        .run(sleep_handler)
    )

    assert out.messages == [suspended_waiting_completion(1)]
