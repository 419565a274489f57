"""Times derived from the injected clock (core-v2.md §3.5, §3.11): not upstream tests.

Upstream uses the wall clock and never checks these values; the port takes a
``clock`` (seconds since the UNIX epoch) so they are exact here. The invocation
clock is 1000 s, i.e. 1 000 000 ms.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from restate_core import CoreVM, Target
from restate_core.protocol import v2

from .conftest import NOW_MILLIS, end, input_entry, invocation, start_message

GREETER = Target("Greeter", "greet", "my-key")


@pytest.mark.parametrize(
    ("duration", "wake_up_time"),
    [
        pytest.param(timedelta(0), NOW_MILLIS, id="zero"),
        pytest.param(timedelta(seconds=1), NOW_MILLIS + 1000, id="1s"),
        pytest.param(timedelta(milliseconds=1, microseconds=999), NOW_MILLIS + 1, id="truncated-to-ms"),
        pytest.param(timedelta(days=1), NOW_MILLIS + 86_400_000, id="1day"),
    ],
)
def test_sleep_wake_up_time(duration: timedelta, wake_up_time: int) -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_sleep(duration)
        vm.sys_end()

    out = invocation().input(start_message(1), input_entry()).run(handler)

    assert out.messages == [v2.SleepEntryMessage(wake_up_time=wake_up_time), end()]


def test_sleep_wake_up_time_with_a_fractional_clock() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_sleep(timedelta(milliseconds=10))
        vm.sys_end()

    out = invocation(clock=1721123699.0865).input(start_message(1), input_entry()).run(handler)

    assert out.messages == [v2.SleepEntryMessage(wake_up_time=1721123699096), end()]


@pytest.mark.parametrize(
    ("delay", "invoke_time"),
    [
        pytest.param(None, 0, id="none-means-now"),
        pytest.param(timedelta(0), NOW_MILLIS, id="zero-is-clock-plus-zero"),
        pytest.param(timedelta(seconds=5), NOW_MILLIS + 5000, id="5s"),
    ],
)
def test_send_invoke_time(delay: timedelta | None, invoke_time: int) -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_send(GREETER, b"Till", delay)
        vm.sys_end()

    out = invocation().input(start_message(1), input_entry()).run(handler)

    assert out.messages == [
        v2.OneWayCallEntryMessage(
            service_name="Greeter", handler_name="greet", key="my-key", parameter=b"Till", invoke_time=invoke_time
        ),
        end(),
    ]


def test_send_invoke_time_is_not_compared_on_replay() -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        vm.sys_send(GREETER, b"Till", timedelta(seconds=5))
        vm.sys_end()

    recorded = v2.OneWayCallEntryMessage(
        service_name="Greeter", handler_name="greet", key="my-key", parameter=b"Till", invoke_time=42
    )
    out = invocation().input(start_message(2), input_entry(), recorded).run(handler)

    assert out.messages == [end()]
