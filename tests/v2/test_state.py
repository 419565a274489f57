"""Upstream ``src/tests/state.rs`` (core-v2.md §7.10).

The upstream sub-modules ``only_lazy_state``, ``eager`` and ``state_keys`` are
test classes here.
"""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.message import Message

from restate_core import VOID, CoreVM, Failure, StateKeys, Success, SuspendedError
from restate_core.protocol import COMPLETED, v2
from restate_core.testing import Output, await_result

from .conftest import completion, end, input_entry, invocation, output, start_message, suspension


def get_state(key: str, value: bytes | None = None, *, empty: bool = False) -> v2.GetStateEntryMessage:
    """``GS(key[, res])``."""
    entry = v2.GetStateEntryMessage(key=key.encode())
    if value is not None:
        entry.value = value
    elif empty:
        entry.empty.SetInParent()
    return entry


def get_state_handler(vm: CoreVM) -> None:
    vm.sys_input()
    handle = vm.sys_state_get("STATE")
    try:
        value = await_result(vm, handle)
    except SuspendedError:
        return
    if value == VOID:
        vm.sys_write_output(Success(b"Unknown"))
    else:
        assert isinstance(value, (Success, Failure)), value
        vm.sys_write_output(value)
    vm.sys_end()


def run(handler: Callable[[CoreVM], None], *messages: Message) -> Output:
    return invocation().input(*messages).run(handler)


class TestOnlyLazyState:
    """S(abc, k, partial), I("Till"), closed."""

    @staticmethod
    def start(known_entries: int) -> list[Message]:
        return [start_message(known_entries, invocation_id="abc"), input_entry(b"Till")]

    def test_entry_already_completed(self) -> None:
        out = run(get_state_handler, *self.start(2), get_state("STATE", b"Francesco"))

        assert out.messages == [output(b"Francesco"), end()]

    def test_entry_already_completed_empty(self) -> None:
        out = run(get_state_handler, *self.start(2), get_state("STATE", empty=True))

        assert out.messages == [output(b"Unknown"), end()]

    def test_new_entry(self) -> None:
        out = run(get_state_handler, *self.start(1))

        assert out.messages == [get_state("STATE"), suspension(1)]

    def test_entry_not_completed_on_replay(self) -> None:
        out = run(get_state_handler, *self.start(2), get_state("STATE"))

        assert out.messages == [suspension(1)]

    def test_entry_on_replay_completed_later(self) -> None:
        out = run(get_state_handler, *self.start(2), get_state("STATE"), completion(1, value=b"Francesco"))

        assert out.messages == [output(b"Francesco"), end()]

    def test_new_entry_completed_later(self) -> None:
        out = run(get_state_handler, *self.start(1), completion(1, value=b"Francesco"))

        assert out.messages == [get_state("STATE"), output(b"Francesco"), end()]

    def test_replay_failed_get_state_entry(self) -> None:
        failed = v2.GetStateEntryMessage(key=b"STATE", failure=v2.Failure(code=409, message=""))
        out = run(get_state_handler, *self.start(2), failed)

        assert out.messages == [output(failure=(409, "")), end()]

    def test_complete_failing_get_state_entry(self) -> None:
        out = run(get_state_handler, *self.start(1), completion(1, failure=(409, "")))

        assert out.messages == [get_state("STATE"), output(failure=(409, "")), end()]


# ---- eager state handlers ----


def get_empty_state_handler(vm: CoreVM) -> None:
    vm.sys_input()
    handle = vm.sys_state_get("STATE")
    try:
        value = await_result(vm, handle)
    except SuspendedError:
        return
    if value == VOID:
        vm.sys_write_output(Success(b"true"))
    elif isinstance(value, Success):
        vm.sys_write_output(Success(b"false"))
    else:
        assert isinstance(value, Failure), value
        vm.sys_write_output(value)
    vm.sys_end()


def _get_bytes(vm: CoreVM, key: str) -> bytes | None:
    """Get ``key`` and await it: its bytes, or ``None`` once suspended."""
    handle = vm.sys_state_get(key)
    try:
        value = await_result(vm, handle)
    except SuspendedError:
        return None
    assert isinstance(value, Success), value
    return value.value


def append_state_handler(vm: CoreVM) -> None:
    input = vm.sys_input().input
    state = _get_bytes(vm, "STATE")
    if state is None:
        return
    vm.sys_state_set("STATE", state + input)
    appended = _get_bytes(vm, "STATE")
    if appended is None:
        return
    vm.sys_write_output(Success(appended))
    vm.sys_end()


def get_and_clear_state_handler(vm: CoreVM) -> None:
    vm.sys_input()
    state = _get_bytes(vm, "STATE")
    if state is None:
        return
    vm.sys_state_clear("STATE")
    handle = vm.sys_state_get("STATE")
    try:
        assert await_result(vm, handle) == VOID
    except SuspendedError:
        return
    vm.sys_write_output(Success(state))
    vm.sys_end()


def get_and_clear_all_state_handler(vm: CoreVM) -> None:
    vm.sys_input()
    state = _get_bytes(vm, "STATE")
    if state is None:
        return
    vm.sys_state_clear_all()
    # Known empty after clear all: no suspension possible.
    assert await_result(vm, vm.sys_state_get("STATE")) == VOID
    assert await_result(vm, vm.sys_state_get("ANOTHER_STATE")) == VOID
    vm.sys_write_output(Success(state))
    vm.sys_end()


def consecutive_get_with_empty_handler(vm: CoreVM) -> None:
    vm.sys_input()
    assert await_result(vm, vm.sys_state_get("key-0")) == VOID
    assert await_result(vm, vm.sys_state_get("key-0")) == VOID
    vm.sys_write_output(Success(b""))
    vm.sys_end()


def completed_flags(out: Output) -> list[bool]:
    """Whether each GetState frame carries the COMPLETED flag (it does iff it has a result)."""
    return [bool(f.flags & COMPLETED) for f in out.frames if f.type == v2.MessageType.GET_STATE_ENTRY]


class TestEager:
    def test_get_empty_with_complete_state(self) -> None:
        out = run(get_empty_state_handler, start_message(1, invocation_id="abc", partial_state=False), input_entry())

        assert out.messages == [get_state("STATE", empty=True), output(b"true"), end()]
        assert completed_flags(out) == [True]

    def test_get_empty_with_partial_state(self) -> None:
        out = run(get_empty_state_handler, start_message(1, invocation_id="abc"), input_entry())

        assert out.messages == [get_state("STATE"), suspension(1)]
        assert completed_flags(out) == [False]

    def test_get_empty_resume_with_partial_state(self) -> None:
        out = run(
            get_empty_state_handler,
            start_message(2, invocation_id="abc"),
            input_entry(),
            get_state("STATE", empty=True),
        )

        assert out.messages == [output(b"true"), end()]

    def test_get_with_complete_state(self) -> None:
        out = run(
            get_state_handler,
            start_message(
                1, invocation_id="abc", partial_state=False, state_map={"STATE": b"Francesco"}, key="my-greeter"
            ),
            input_entry(),
        )

        assert out.messages == [get_state("STATE", b"Francesco"), output(b"Francesco"), end()]
        assert completed_flags(out) == [True]

    def test_get_with_partial_state(self) -> None:
        out = run(
            get_state_handler,
            start_message(1, invocation_id="abc", state_map={"STATE": b"Francesco"}, key="my-greeter"),
            input_entry(),
        )

        assert out.messages == [get_state("STATE", b"Francesco"), output(b"Francesco"), end()]
        assert completed_flags(out) == [True]

    def test_get_with_partial_state_without_the_state_entry(self) -> None:
        out = run(get_state_handler, start_message(1, invocation_id="abc", key="my-greeter"), input_entry())

        assert out.messages == [get_state("STATE"), suspension(1)]

    def test_append_with_state_in_the_state_map(self) -> None:
        out = run(
            append_state_handler,
            start_message(1, invocation_id="abc", state_map={"STATE": b"Francesco"}),
            input_entry(b"Till"),
        )

        assert out.messages == [
            get_state("STATE", b"Francesco"),
            v2.SetStateEntryMessage(key=b"STATE", value=b"FrancescoTill"),
            get_state("STATE", b"FrancescoTill"),
            output(b"FrancescoTill"),
            end(),
        ]

    def test_append_with_partial_state_on_the_first_get(self) -> None:
        out = run(
            append_state_handler,
            start_message(1, invocation_id="abc"),
            input_entry(b"Till"),
            completion(1, value=b"Francesco"),
        )

        # The completion does not feed the eager state, the set does.
        assert out.messages == [
            get_state("STATE"),
            v2.SetStateEntryMessage(key=b"STATE", value=b"FrancescoTill"),
            get_state("STATE", b"FrancescoTill"),
            output(b"FrancescoTill"),
            end(),
        ]
        assert completed_flags(out) == [False, True]

    def test_get_and_clear_state_with_state_in_the_state_map(self) -> None:
        out = run(
            get_and_clear_state_handler,
            start_message(1, invocation_id="abc", state_map={"STATE": b"Francesco"}),
            input_entry(),
        )

        assert out.messages == [
            get_state("STATE", b"Francesco"),
            v2.ClearStateEntryMessage(key=b"STATE"),
            get_state("STATE", empty=True),
            output(b"Francesco"),
            end(),
        ]

    def test_get_and_clear_state_with_partial_state_on_the_first_get(self) -> None:
        out = run(
            get_and_clear_state_handler,
            start_message(1, invocation_id="abc"),
            input_entry(),
            completion(1, value=b"Francesco"),
        )

        assert out.messages == [
            get_state("STATE"),
            v2.ClearStateEntryMessage(key=b"STATE"),
            get_state("STATE", empty=True),
            output(b"Francesco"),
            end(),
        ]

    def test_get_clear_all_with_state_in_the_state_map(self) -> None:
        out = run(
            get_and_clear_all_state_handler,
            start_message(1, invocation_id="abc", state_map={"STATE": b"Francesco", "ANOTHER_STATE": b"Francesco"}),
            input_entry(),
        )

        assert out.messages == [
            get_state("STATE", b"Francesco"),
            v2.ClearAllStateEntryMessage(),
            get_state("STATE", empty=True),
            get_state("ANOTHER_STATE", empty=True),
            output(b"Francesco"),
            end(),
        ]

    def test_get_clear_all_with_partial_state_on_the_first_get(self) -> None:
        out = run(
            get_and_clear_all_state_handler,
            start_message(1, invocation_id="abc"),
            input_entry(),
            completion(1, value=b"Francesco"),
        )

        assert out.messages == [
            get_state("STATE"),
            v2.ClearAllStateEntryMessage(),
            get_state("STATE", empty=True),
            get_state("ANOTHER_STATE", empty=True),
            output(b"Francesco"),
            end(),
        ]

    def test_consecutive_get_with_empty(self) -> None:
        out = run(
            consecutive_get_with_empty_handler,
            start_message(1, invocation_id="abc", partial_state=False),
            input_entry(),
        )

        assert out.messages == [get_state("key-0", empty=True), get_state("key-0", empty=True), output(b""), end()]

    def test_consecutive_get_with_empty_run_with_replay_of_the_first_get(self) -> None:
        out = run(
            consecutive_get_with_empty_handler,
            start_message(2, invocation_id="abc", partial_state=False),
            input_entry(),
            get_state("key-0", empty=True),
        )

        assert out.messages == [get_state("key-0", empty=True), output(b""), end()]


# ---- state keys ----


def state_keys_handler(vm: CoreVM) -> None:
    vm.sys_input()
    handle = vm.sys_state_get_keys()
    try:
        value = await_result(vm, handle)
    except SuspendedError:
        return
    if isinstance(value, Failure):
        vm.sys_write_output(value)
    else:
        assert isinstance(value, StateKeys), value
        vm.sys_write_output(Success(",".join(value.keys).encode()))
    vm.sys_end()


def state_keys(*keys: str) -> v2.GetStateKeysEntryMessage.StateKeys:
    return v2.GetStateKeysEntryMessage.StateKeys(keys=[k.encode() for k in keys])


class TestStateKeys:
    """S(abc, k, partial unless noted), I("Till"), closed."""

    def test_entry_already_completed(self) -> None:
        out = run(
            state_keys_handler,
            start_message(2, invocation_id="abc"),
            input_entry(b"Till"),
            v2.GetStateKeysEntryMessage(value=state_keys("MY-STATE", "ANOTHER-STATE")),
        )

        assert out.messages == [output(b"ANOTHER-STATE,MY-STATE"), end()]

    def test_new_entry(self) -> None:
        out = run(state_keys_handler, start_message(1, invocation_id="abc"), input_entry(b"Till"))

        assert out.messages == [v2.GetStateKeysEntryMessage(), suspension(1)]
        assert out.frames[0].flags == 0

    def test_new_entry_completed_later(self) -> None:
        out = run(
            state_keys_handler,
            start_message(1, invocation_id="abc"),
            input_entry(b"Till"),
            completion(1, value=state_keys("MY-STATE", "ANOTHER-STATE").SerializeToString()),
        )

        assert out.messages == [v2.GetStateKeysEntryMessage(), output(b"ANOTHER-STATE,MY-STATE"), end()]

    def test_entry_on_replay_completed_later(self) -> None:
        out = run(
            state_keys_handler,
            start_message(2, invocation_id="abc"),
            input_entry(b"Till"),
            v2.GetStateKeysEntryMessage(),
            completion(1, value=state_keys("MY-STATE", "ANOTHER-STATE").SerializeToString()),
        )

        assert out.messages == [output(b"ANOTHER-STATE,MY-STATE"), end()]

    def test_new_entry_completed_with_eager_state(self) -> None:
        out = run(
            state_keys_handler,
            start_message(
                1,
                invocation_id="abc",
                partial_state=False,
                state_map={"ANOTHER-STATE": b"Till", "MY-STATE": b"Francesco"},
            ),
            input_entry(b"Till"),
        )

        assert len(out.messages) == 3
        entry = out.messages[0]
        assert isinstance(entry, v2.GetStateKeysEntryMessage)
        assert entry.WhichOneof("result") == "value"
        # Any order on the wire.
        assert sorted(entry.value.keys) == [b"ANOTHER-STATE", b"MY-STATE"]
        assert out.frames[0].flags == COMPLETED
        assert out.messages[1:] == [output(b"ANOTHER-STATE,MY-STATE"), end()]
