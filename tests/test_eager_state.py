"""Eager state from the StartMessage, small and large (a large one is parsed without a copy)."""

from __future__ import annotations

import pytest

from restate_core import VOID, CoreVM, StateKeys, Success
from restate_core.protocol import Version, v2, v5
from restate_core.testing import await_result, encode_input

VERSIONS = [Version.V1, Version.V2, Version.V5, Version.V6]


def start_with_state(version: Version, state: dict[str, bytes], partial: bool) -> CoreVM:
    proto = v2 if version.is_legacy else v5
    start = proto.StartMessage(
        id=b"inv",
        debug_id="inv",
        known_entries=1,
        partial_state=partial,
        state_map=[proto.StartMessage.StateEntry(key=k.encode(), value=v) for k, v in state.items()],
    )
    entry = v2.InputEntryMessage() if version.is_legacy else v5.InputCommandMessage()
    vm = CoreVM([("content-type", version.content_type)])
    vm.notify_input(encode_input(version, [start, entry]))
    vm.notify_input_closed()
    vm.sys_input()
    return vm


@pytest.mark.parametrize("version", VERSIONS, ids=str)
@pytest.mark.parametrize("size", [1, 3_000], ids=["one key", "3000 keys"])
def test_every_eager_value_is_read_back(version: Version, size: int) -> None:
    state = {f"key-{i:05d}": b"value-%d" % i for i in range(size)}
    vm = start_with_state(version, state, partial=False)
    for key in (next(iter(state)), f"key-{size - 1:05d}", f"key-{size // 2:05d}"):
        assert await_result(vm, vm.sys_state_get(key)) == Success(state[key])
    assert await_result(vm, vm.sys_state_get("absent")) == VOID
    assert await_result(vm, vm.sys_state_get_keys()) == StateKeys(sorted(state))


@pytest.mark.parametrize("version", VERSIONS, ids=str)
def test_a_body_with_the_state_map_tag_byte_but_no_state(version: Version) -> None:
    # 0x22 ('"') in the invocation id makes the body look as if it could hold a state map: the
    # map is then read, and found empty. Complete state: an unknown key is empty.
    proto = v2 if version.is_legacy else v5
    start = proto.StartMessage(id=b'"inv"\xa2', debug_id='"inv"', known_entries=1, partial_state=False)
    entry = v2.InputEntryMessage() if version.is_legacy else v5.InputCommandMessage()
    vm = CoreVM([("content-type", version.content_type)])
    vm.notify_input(encode_input(version, [start, entry]))
    vm.notify_input_closed()
    vm.sys_input()
    assert await_result(vm, vm.sys_state_get("k")) == VOID
