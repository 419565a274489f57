"""Eager state from the StartMessage, small and large (a large one is parsed without a copy), the
StartMessage view it is read through, and what the handler writes over it."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.internal import api_implementation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from restate_core import VOID, CoreVM, StateKeys, Success, VMError
from restate_core.protocol import Version, encode_frame, v2, v5
from restate_core.protocol import _wire as wire
from restate_core.protocol._start_view import START_VIEW_V2, START_VIEW_V5
from restate_core.testing import await_result, encode_input
from restate_core.vm._core import PARSE_ERRORS
from restate_core.vm._eager import UNKNOWN, EagerState

VERSIONS = [Version.V1, Version.V2, Version.V5, Version.V6]


def start_message(version: Version, state: dict[str, bytes], partial: bool, known_entries: int = 1) -> Any:
    proto = v2 if version.is_legacy else v5
    return proto.StartMessage(
        id=b"inv",
        debug_id="inv",
        known_entries=known_entries,
        partial_state=partial,
        state_map=[proto.StartMessage.StateEntry(key=k.encode(), value=v) for k, v in state.items()],
    )


def start_with_state(version: Version, state: dict[str, bytes], partial: bool) -> CoreVM:
    start = start_message(version, state, partial)
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


@pytest.mark.parametrize("version", VERSIONS, ids=str)
def test_a_state_map_tag_written_in_two_bytes_is_read(version: Version) -> None:
    # Field 4's tag as the overlong varint 0xA2 0x00: the body holds no 0x22 byte, and still a
    # state entry {key: "k", value: "v"} for upb, which reads such a tag as 0x22. (protobuf's
    # pure-Python runtime keeps it as an unknown field: then the state is empty.)
    body = b"\x18\x01" + b"\xa2\x00\x06" + b"\x0a\x01k\x12\x01v"
    assert 0x22 not in body
    proto = v2 if version.is_legacy else v5
    expected = {entry.key: entry.value for entry in proto.StartMessage.FromString(body).state_map}
    if api_implementation.Type() == "upb":
        assert expected == {b"k": b"v"}
    entry = v2.InputEntryMessage() if version.is_legacy else v5.InputCommandMessage()
    vm = CoreVM([("content-type", version.content_type)])
    vm.notify_input(encode_frame(proto.MessageType.START, body) + encode_input(version, [entry]))
    vm.notify_input_closed()
    vm.sys_input()
    assert await_result(vm, vm.sys_state_get("k")) == (Success(b"v") if expected else VOID)


# ---- the StartMessage view (protocol/_start_view.py) ----

state_entries = st.lists(
    st.tuples(st.text(max_size=12), st.binary(max_size=40)), max_size=12
)  # (duplicates included: the last one counts, as in the declared message read entry by entry)


@pytest.mark.parametrize("proto", [v2, v5], ids=["v2", "v5"])
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    entries=state_entries,
    ids=st.tuples(st.binary(max_size=20), st.text(max_size=10), st.text(max_size=10)),
    counters=st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1)),
    partial=st.booleans(),
)
def test_the_view_reads_what_the_declared_message_reads(
    proto: Any, entries: list[tuple[str, bytes]], ids: tuple[bytes, str, str], counters: tuple[int, int, int],
    partial: bool,
) -> None:  # fmt: skip
    start = proto.StartMessage(
        id=ids[0],
        debug_id=ids[1],
        key=ids[2],
        known_entries=counters[0],
        retry_count_since_last_stored_entry=counters[1],
        duration_since_last_stored_entry=counters[2],
        partial_state=partial,
        state_map=[proto.StartMessage.StateEntry(key=key.encode(), value=value) for key, value in entries],
    )
    data = start.SerializeToString()
    view = (START_VIEW_V2 if proto is v2 else START_VIEW_V5).FromString(data)
    declared = proto.StartMessage.FromString(data)
    for field in declared.DESCRIPTOR.fields:
        if field.name != "state_map":
            assert getattr(view, field.name) == getattr(declared, field.name), field.name
    assert dict(view.state_map) == {entry.key.decode(): entry.value for entry in declared.state_map}


@pytest.mark.parametrize("proto", [v2, v5], ids=["v2", "v5"])
def test_the_view_refuses_a_key_that_is_not_utf8(proto: Any) -> None:
    start = proto.StartMessage(known_entries=1, state_map=[proto.StartMessage.StateEntry(key=b"\xff", value=b"v")])
    with pytest.raises(PARSE_ERRORS):  # (upb: DecodeError; the pure-Python runtime: UnicodeDecodeError)
        (START_VIEW_V2 if proto is v2 else START_VIEW_V5).FromString(start.SerializeToString())
    assert proto.StartMessage.FromString(start.SerializeToString()).state_map[0].key == b"\xff"


# ---- what the handler writes over the runtime's values ----


def test_written_values_take_precedence_over_the_runtime_values() -> None:
    state = EagerState()
    state.use({"a": b"1", "b": b"2", "c": b"3"}, partial=False)
    state.set("a", b"new")
    state.clear("b")
    state.set("d", b"4")
    assert [state.get(key) for key in "abcde"] == [b"new", None, b"3", b"4", None]
    assert state.keys() == ["a", "c", "d"]
    state.clear_all()
    assert [state.get(key) for key in "abcd"] == [None, None, None, None]
    assert state.keys() == []
    state.set("c", b"again")
    assert state.keys() == ["c"]


def test_partial_runtime_values() -> None:
    state = EagerState()
    state.use({"a": b"1"}, partial=True)
    assert state.get("a") == b"1"
    assert state.get("b") is UNKNOWN
    assert state.keys() is None
    state.clear_all()  # afterwards the whole state is known: empty
    assert state.get("a") is None
    assert state.keys() == []


@pytest.mark.parametrize("version", VERSIONS, ids=str)
def test_state_keys_merge_the_runtime_values_with_what_was_written(version: Version) -> None:
    vm = start_with_state(version, {"b": b"2", "a": b"1", "c": b"3"}, partial=False)
    vm.sys_state_set("d", b"4")
    vm.sys_state_clear("a")
    vm.sys_state_set("c", b"new")
    assert await_result(vm, vm.sys_state_get_keys()) == StateKeys(["b", "c", "d"])
    assert await_result(vm, vm.sys_state_get("c")) == Success(b"new")
    assert await_result(vm, vm.sys_state_get("a")) == VOID


def _field(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + wire.varint(len(payload)) + payload


# One StateEntry as any writer may put it on the wire: fields in either order, repeated (the last
# one counts), missing, with the wrong wire type, or next to fields the message does not declare.
entry_parts = st.lists(
    st.one_of(
        st.builds(lambda key: _field(0x0A, key.encode()), st.text(max_size=8)),  # key
        st.builds(lambda value: _field(0x12, value), st.binary(max_size=8)),  # value
        st.builds(lambda other: _field(0x1A, other), st.binary(max_size=4)),  # field 3: not declared
        st.builds(lambda number: b"\x20" + wire.varint(number), st.integers(0, 300)),  # field 4 varint: not declared
        st.builds(lambda number: b"\x08" + wire.varint(number), st.integers(0, 300)),  # key, but as a varint
        st.builds(lambda number: b"\x10" + wire.varint(number), st.integers(0, 300)),  # value, but as a varint
    ),
    max_size=5,
)


@pytest.mark.parametrize("version", VERSIONS, ids=str)
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(entry_parts, max_size=6))
def test_state_entries_in_any_encoding_reach_the_eager_state(version: Version, entries: list[list[bytes]]) -> None:
    # known_entries: 1, partial_state: false (omitted), then the entries. (upb drops an entry with
    # fields StateEntry does not declare from the view's map: the VM must notice and read them all.)
    body = b"\x18\x01" + b"".join(_field(0x22, b"".join(parts)) for parts in entries)
    proto = v2 if version.is_legacy else v5
    expected = {entry.key.decode(): entry.value for entry in proto.StartMessage.FromString(body).state_map}
    entry = v2.InputEntryMessage() if version.is_legacy else v5.InputCommandMessage()
    vm = CoreVM([("content-type", version.content_type)])
    vm.notify_input(encode_frame(proto.MessageType.START, body) + encode_input(version, [entry]))
    vm.notify_input_closed()
    vm.sys_input()
    assert await_result(vm, vm.sys_state_get_keys()) == StateKeys(sorted(expected))
    for key, value in expected.items():
        assert await_result(vm, vm.sys_state_get(key)) == Success(value)


@pytest.mark.parametrize("version", VERSIONS, ids=str)
@pytest.mark.parametrize("split", ["whole", "start alone", "1 KiB chunks", "cut in the start"])
def test_a_large_start_message_read_in_its_chunk_or_copied_gives_the_same(version: Version, split: str) -> None:
    # A StartMessage over 4 KiB at the start of a chunk is decoded where it lies (a memoryview
    # into the chunk); otherwise from its own copy. Both must give the same invocation.
    state = {f"key-{i:04d}": b"value-%d" % i for i in range(400)}
    start = start_message(version, state, partial=False, known_entries=3)
    if version.is_legacy:
        journal = [v2.InputEntryMessage(value=b"in"), v2.SetStateEntryMessage(key=b"key-0001", value=b"x")]
        journal.append(v2.GetStateEntryMessage(key=b"key-0001", value=b"x"))
    else:
        journal = [v5.InputCommandMessage(value=v5.Value(content=b"in"))]
        journal.append(v5.SetStateCommandMessage(key=b"key-0001", value=v5.Value(content=b"x")))
        journal.append(v5.GetEagerStateCommandMessage(key=b"key-0001", value=v5.Value(content=b"x")))
    head = encode_input(version, [start])
    data = head + encode_input(version, journal)
    assert len(head) > 4096
    chunks = {
        "whole": [data],
        "start alone": [head, data[len(head) :]],
        "1 KiB chunks": [data[i : i + 1024] for i in range(0, len(data), 1024)],
        "cut in the start": [data[:100], data[100:]],
    }[split]
    vm = CoreVM([("content-type", version.content_type)])
    for chunk in chunks:
        vm.notify_input(chunk)
    vm.notify_input_closed()
    assert vm.sys_input().input == b"in"
    vm.sys_state_set("key-0001", b"x")
    assert await_result(vm, vm.sys_state_get("key-0001")) == Success(b"x")
    assert await_result(vm, vm.sys_state_get("key-0399")) == Success(b"value-399")
    assert await_result(vm, vm.sys_state_get_keys()) == StateKeys(sorted(state))
    vm.sys_end()
    assert vm.take_output() is not None


@pytest.mark.parametrize("version", VERSIONS, ids=str)
def test_a_large_malformed_start_message_fails_in_its_chunk_as_when_copied(version: Version) -> None:
    # 5,000 bytes of a length-delimited field 4 (state map) that ends short: malformed.
    body = b"\x22" + wire.varint(5000) + b"\x00" * 4000
    errors = []
    for chunks in ([encode_frame(0, body)], [encode_frame(0, body)[:10], encode_frame(0, body)[10:]]):
        vm = CoreVM([("content-type", version.content_type)])
        for chunk in chunks:
            vm.notify_input(chunk)
        with pytest.raises(VMError) as info:
            vm.is_ready_to_execute()
        errors.append((info.value.code, info.value.message))
    assert errors[0] == errors[1]
