"""Upstream ``src/tests/state.rs`` (core-v5.md §7, "state.rs"; §3.5 eager vs lazy state).

The upstream sub-modules ``only_lazy_state``, ``eager`` and ``state_keys`` are test classes here.
Upstream a take after the suspension fails with 598 (closed) or "suspended"; the old API raises
``SuspendedError`` (core-v5.md §4.2).
"""

from __future__ import annotations

import pytest

from restate_core import VOID, CoreVM, StateKeys, Success, SuspendedError, Value
from restate_core.protocol import Version, v5
from restate_core.testing import Frame, await_result, notification

from .conftest import (
    GET_LAZY_STATE_COMPLETION,
    GET_LAZY_STATE_KEYS_COMPLETION,
    both_versions,
    eager_get,
    end,
    input_command,
    invocation,
    output_success,
    start_message,
    suspended_waiting_completion,
)


def lazy_state_completion(completion_id: int, content: bytes | None) -> Frame:
    """``GetLazyStateCompletion{id, value}``, or ``{id, void}`` for ``content=None``."""
    if content is None:
        return notification(GET_LAZY_STATE_COMPLETION, completion_id=completion_id, void=True)
    return notification(GET_LAZY_STATE_COMPLETION, completion_id=completion_id, value=content)


def lazy_get(key: bytes, completion_id: int = 1) -> v5.GetLazyStateCommandMessage:
    return v5.GetLazyStateCommandMessage(key=key, result_completion_id=completion_id)


class _Suspended(Exception):
    pass


def await_or_stop(vm: CoreVM, handle: int) -> Value:
    """Await ``handle``; on suspension check that a take raises too, and stop the handler."""
    try:
        result = await_result(vm, handle)
    except SuspendedError:
        with pytest.raises(SuspendedError):
            vm.take_async_result(handle)
        raise
    assert result is not None, "not ready, yet the input is closed"
    return result


def get_state_handler(vm: CoreVM) -> None:
    vm.sys_input()
    result = await_or_stop(vm, vm.sys_state_get("STATE"))
    if result == VOID:
        text = b"Unknown"
    else:
        assert isinstance(result, Success)
        text = result.value
    vm.sys_write_output(Success(text))
    vm.sys_end()


class TestOnlyLazyState:
    @both_versions
    def test_entry_already_completed(self, version: Version) -> None:
        out = (
            invocation(version)
            .input(
                start_message(3, invocation_id=b"abc"),
                input_command(b"Till"),
                lazy_get(b"STATE"),
                lazy_state_completion(1, b"Francesco"),
            )
            .run(get_state_handler)
        )

        assert out.messages == [output_success(b"Francesco"), end()]

    def test_entry_already_completed_empty(self) -> None:
        out = (
            invocation()
            .input(
                start_message(3, invocation_id=b"abc"),
                input_command(b"Till"),
                lazy_get(b"STATE"),
                lazy_state_completion(1, None),
            )
            .run(get_state_handler)
        )

        assert out.messages == [output_success(b"Unknown"), end()]

    @both_versions
    def test_new_entry(self, version: Version) -> None:
        out = (
            invocation(version)
            .input(start_message(1, invocation_id=b"abc"), input_command(b"Till"))
            .run(get_state_handler)
        )

        assert out.messages == [lazy_get(b"STATE"), suspended_waiting_completion(1)]

    def test_entry_not_completed_on_replay(self) -> None:
        out = (
            invocation()
            .input(start_message(2, invocation_id=b"abc"), input_command(b"Till"), lazy_get(b"STATE"))
            .run(get_state_handler)
        )

        assert out.messages == [suspended_waiting_completion(1)]

    def test_entry_on_replay_completed_later(self) -> None:
        # known_entries is 2: the completion arrives after the journal, while replaying.
        out = (
            invocation()
            .input(
                start_message(2, invocation_id=b"abc"),
                input_command(b"Till"),
                lazy_get(b"STATE"),
                lazy_state_completion(1, b"Francesco"),
            )
            .run(get_state_handler)
        )

        assert out.messages == [output_success(b"Francesco"), end()]

    def test_new_entry_completed_later(self) -> None:
        # The completion is buffered before the command that allocates its id is written.
        out = (
            invocation()
            .input(
                start_message(1, invocation_id=b"abc"),
                input_command(b"Till"),
                lazy_state_completion(1, b"Francesco"),
            )
            .run(get_state_handler)
        )

        assert out.messages == [lazy_get(b"STATE"), output_success(b"Francesco"), end()]


def get_empty_state_handler(vm: CoreVM) -> None:
    vm.sys_input()
    result = await_or_stop(vm, vm.sys_state_get("STATE"))
    if result == VOID:
        text = b"true"
    else:
        assert isinstance(result, Success)
        text = b"false"
    vm.sys_write_output(Success(text))
    vm.sys_end()


def append_state_handler(vm: CoreVM) -> None:
    input = vm.sys_input().input
    first = await_or_stop(vm, vm.sys_state_get("STATE"))
    assert isinstance(first, Success), first
    vm.sys_state_set("STATE", first.value + input)
    second = await_or_stop(vm, vm.sys_state_get("STATE"))
    assert isinstance(second, Success), second
    vm.sys_write_output(second)
    vm.sys_end()


def get_and_clear_state_handler(vm: CoreVM) -> None:
    vm.sys_input()
    first = await_or_stop(vm, vm.sys_state_get("STATE"))
    assert isinstance(first, Success), first
    vm.sys_state_clear("STATE")
    assert await_or_stop(vm, vm.sys_state_get("STATE")) == VOID
    vm.sys_write_output(first)
    vm.sys_end()


def get_and_clear_all_state_handler(vm: CoreVM) -> None:
    vm.sys_input()
    first = await_or_stop(vm, vm.sys_state_get("STATE"))
    assert isinstance(first, Success), first
    vm.sys_state_clear_all()
    assert await_result(vm, vm.sys_state_get("STATE")) == VOID
    assert await_result(vm, vm.sys_state_get("ANOTHER_STATE")) == VOID
    vm.sys_write_output(first)
    vm.sys_end()


def consecutive_get_with_empty_handler(vm: CoreVM) -> None:
    vm.sys_input()
    assert await_result(vm, vm.sys_state_get("key-0")) == VOID
    assert await_result(vm, vm.sys_state_get("key-0")) == VOID
    vm.sys_write_output(Success(b""))
    vm.sys_end()


class TestEager:
    @both_versions
    def test_get_empty_with_complete_state(self, version: Version) -> None:
        out = (
            invocation(version)
            .input(start_message(1, invocation_id=b"abc", partial_state=False), input_command(None))
            .run(get_empty_state_handler)
        )

        assert out.messages == [eager_get(b"STATE", None), output_success(b"true"), end()]

    def test_get_empty_with_partial_state(self) -> None:
        out = (
            invocation().input(start_message(1, invocation_id=b"abc"), input_command(None)).run(get_empty_state_handler)
        )

        assert out.messages == [lazy_get(b"STATE"), suspended_waiting_completion(1)]

    def test_get_empty_resume_with_partial_state(self) -> None:
        # The journal decides: a recorded eager get replays with its recorded result, even though
        # the state is partial now.
        out = (
            invocation()
            .input(start_message(2, invocation_id=b"abc"), input_command(None), eager_get(b"STATE", None))
            .run(get_empty_state_handler)
        )

        assert out.messages == [output_success(b"true"), end()]

    @both_versions
    def test_get_with_complete_state(self, version: Version) -> None:
        out = (
            invocation(version)
            .input(
                start_message(
                    1,
                    invocation_id=b"abc",
                    partial_state=False,
                    state_map={"STATE": b"Francesco"},
                    key="my-greeter",
                ),
                input_command(None),
            )
            .run(get_state_handler)
        )

        assert out.messages == [eager_get(b"STATE", b"Francesco"), output_success(b"Francesco"), end()]

    def test_get_with_partial_state(self) -> None:
        out = (
            invocation()
            .input(
                start_message(1, invocation_id=b"abc", state_map={"STATE": b"Francesco"}, key="my-greeter"),
                input_command(None),
            )
            .run(get_state_handler)
        )

        assert out.messages == [eager_get(b"STATE", b"Francesco"), output_success(b"Francesco"), end()]

    def test_get_with_partial_state_without_the_state_entry(self) -> None:
        out = invocation().input(start_message(1, invocation_id=b"abc"), input_command(None)).run(get_state_handler)

        assert out.messages == [lazy_get(b"STATE"), suspended_waiting_completion(1)]

    @both_versions
    def test_append_with_state_in_the_state_map(self, version: Version) -> None:
        out = (
            invocation(version)
            .input(
                start_message(1, invocation_id=b"abc", state_map={"STATE": b"Francesco"}, key="my-greeter"),
                input_command(b"Till"),
            )
            .run(append_state_handler)
        )

        assert out.messages == [
            eager_get(b"STATE", b"Francesco"),
            v5.SetStateCommandMessage(key=b"STATE", value=v5.Value(content=b"FrancescoTill")),
            eager_get(b"STATE", b"FrancescoTill"),
            output_success(b"FrancescoTill"),
            end(),
        ]

    def test_append_with_partial_state_on_the_first_get(self) -> None:
        out = (
            invocation()
            .input(
                start_message(1, invocation_id=b"abc"),
                input_command(b"Till"),
                lazy_state_completion(1, b"Francesco"),
            )
            .run(append_state_handler)
        )

        assert out.messages == [
            lazy_get(b"STATE"),
            v5.SetStateCommandMessage(key=b"STATE", value=v5.Value(content=b"FrancescoTill")),
            # The set made the key known: the second get is eager (completion id 2, not on the wire).
            eager_get(b"STATE", b"FrancescoTill"),
            output_success(b"FrancescoTill"),
            end(),
        ]

    def test_get_and_clear_state_with_state_in_the_state_map(self) -> None:
        out = (
            invocation()
            .input(
                start_message(1, invocation_id=b"abc", state_map={"STATE": b"Francesco"}, key="my-greeter"),
                input_command(b"Till"),
            )
            .run(get_and_clear_state_handler)
        )

        assert out.messages == [
            eager_get(b"STATE", b"Francesco"),
            v5.ClearStateCommandMessage(key=b"STATE"),
            eager_get(b"STATE", None),
            output_success(b"Francesco"),
            end(),
        ]

    def test_get_and_clear_state_with_partial_state_on_the_first_get(self) -> None:
        out = (
            invocation()
            .input(
                start_message(1, invocation_id=b"abc"),
                input_command(b"Till"),
                lazy_state_completion(1, b"Francesco"),
            )
            .run(get_and_clear_state_handler)
        )

        assert out.messages == [
            lazy_get(b"STATE"),
            v5.ClearStateCommandMessage(key=b"STATE"),
            eager_get(b"STATE", None),
            output_success(b"Francesco"),
            end(),
        ]

    def test_get_clear_all_with_state_in_the_state_map(self) -> None:
        out = (
            invocation()
            .input(
                start_message(
                    1,
                    invocation_id=b"abc",
                    state_map={"STATE": b"Francesco", "ANOTHER_STATE": b"Francesco"},
                    key="my-greeter",
                ),
                input_command(b"Till"),
            )
            .run(get_and_clear_all_state_handler)
        )

        assert out.messages == [
            eager_get(b"STATE", b"Francesco"),
            v5.ClearAllStateCommandMessage(),
            eager_get(b"STATE", None),
            eager_get(b"ANOTHER_STATE", None),
            output_success(b"Francesco"),
            end(),
        ]

    def test_get_clear_all_with_partial_state_on_the_first_get(self) -> None:
        out = (
            invocation()
            .input(
                start_message(1, invocation_id=b"abc"),
                input_command(b"Till"),
                lazy_state_completion(1, b"Francesco"),
            )
            .run(get_and_clear_all_state_handler)
        )

        assert out.messages == [
            lazy_get(b"STATE"),
            v5.ClearAllStateCommandMessage(),
            # clear_all makes the state complete: every key is known to be empty.
            eager_get(b"STATE", None),
            eager_get(b"ANOTHER_STATE", None),
            output_success(b"Francesco"),
            end(),
        ]

    def test_consecutive_get_with_empty(self) -> None:
        out = (
            invocation()
            .input(start_message(1, invocation_id=b"abc", partial_state=False), input_command(None))
            .run(consecutive_get_with_empty_handler)
        )

        assert out.messages == [eager_get(b"key-0", None), eager_get(b"key-0", None), output_success(b""), end()]

    @both_versions
    def test_consecutive_get_with_empty_run_with_replay_of_the_first_get(self, version: Version) -> None:
        out = (
            invocation(version)
            .input(
                start_message(2, invocation_id=b"abc", partial_state=False),
                input_command(None),
                eager_get(b"key-0", None),
            )
            .run(consecutive_get_with_empty_handler)
        )

        assert out.messages == [eager_get(b"key-0", None), output_success(b""), end()]


def get_state_keys_handler(vm: CoreVM) -> None:
    vm.sys_input()
    result = await_or_stop(vm, vm.sys_state_get_keys())
    assert isinstance(result, StateKeys), result
    vm.sys_write_output(Success(",".join(result.keys).encode()))
    vm.sys_end()


def eager_keys(*keys: bytes) -> v5.GetEagerStateKeysCommandMessage:
    return v5.GetEagerStateKeysCommandMessage(value=v5.StateKeys(keys=list(keys)))


class TestStateKeys:
    def test_entry_already_completed(self) -> None:
        out = (
            invocation()
            .input(
                start_message(2, invocation_id=b"abc"),
                input_command(b"Till"),
                eager_keys(b"ANOTHER-STATE", b"MY-STATE"),
            )
            .run(get_state_keys_handler)
        )

        assert out.messages == [output_success(b"ANOTHER-STATE,MY-STATE"), end()]

    @both_versions
    def test_new_entry(self, version: Version) -> None:
        out = (
            invocation(version)
            .input(start_message(1, invocation_id=b"abc"), input_command(b"Till"))
            .run(get_state_keys_handler)
        )

        assert out.messages == [
            v5.GetLazyStateKeysCommandMessage(result_completion_id=1),
            suspended_waiting_completion(1),
        ]

    def test_new_entry_completed_later(self) -> None:
        out = (
            invocation()
            .input(
                start_message(1, invocation_id=b"abc"),
                input_command(b"Till"),
                notification(
                    GET_LAZY_STATE_KEYS_COMPLETION, completion_id=1, state_keys=[b"MY-STATE", b"ANOTHER-STATE"]
                ),
            )
            .run(get_state_keys_handler)
        )

        # Lazily fetched keys keep the runtime's order.
        assert out.messages == [
            v5.GetLazyStateKeysCommandMessage(result_completion_id=1),
            output_success(b"MY-STATE,ANOTHER-STATE"),
            end(),
        ]

    def test_entry_on_replay_completed_later(self) -> None:
        out = (
            invocation()
            .input(
                start_message(2, invocation_id=b"abc"),
                input_command(b"Till"),
                v5.GetLazyStateKeysCommandMessage(result_completion_id=1),
                notification(
                    GET_LAZY_STATE_KEYS_COMPLETION, completion_id=1, state_keys=[b"MY-STATE", b"ANOTHER-STATE"]
                ),
            )
            .run(get_state_keys_handler)
        )

        assert out.messages == [output_success(b"MY-STATE,ANOTHER-STATE"), end()]

    @both_versions
    def test_new_entry_completed_with_eager_state(self, version: Version) -> None:
        out = (
            invocation(version)
            .input(
                start_message(
                    1,
                    invocation_id=b"abc",
                    partial_state=False,
                    state_map={"MY-STATE": b"Francesco", "ANOTHER-STATE": b"Till"},
                ),
                input_command(b"Till"),
            )
            .run(get_state_keys_handler)
        )

        # Eager keys are sorted.
        assert out.messages == [
            eager_keys(b"ANOTHER-STATE", b"MY-STATE"),
            output_success(b"ANOTHER-STATE,MY-STATE"),
            end(),
        ]
