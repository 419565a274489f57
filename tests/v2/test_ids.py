"""Awakeable ids and random seeds (core-v2.md §3.11), through the VM.

Awakeable id: ``"prom_1"`` + unpadded URL-safe base64 of StartMessage.id and the
entry index as a big-endian u32. Random seed: the first 8 bytes of
SHA-256(StartMessage.id), big-endian.
"""

from __future__ import annotations

import pytest

from restate_core import CoreVM
from restate_core.protocol import v2

from .conftest import end, input_entry, invocation, start_message

# The spec's example id, decoded from its awakeable id: 24 raw bytes.
SPEC_EXAMPLE_ID = bytes.fromhex("34cc8e02f0cad827018d41f84666fb786069d0334d0e79ac")


def awakeable_ids(start: v2.StartMessage, count: int) -> list[tuple[str, int]]:
    """The ``(id, handle)`` of ``count`` awakeables created after the input."""
    ids: list[tuple[str, int]] = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        ids.extend(vm.sys_awakeable() for _ in range(count))
        vm.sys_end()

    out = invocation().input(start, input_entry()).run(handler)
    assert out.messages == [v2.AwakeableEntryMessage()] * count + [end()]
    return ids


def test_awakeable_id_of_123_at_index_1() -> None:
    assert awakeable_ids(start_message(1, invocation_id="123"), 1) == [("prom_1MTIzAAAAAQ", 1)]


def test_awakeable_id_of_abc_at_index_2() -> None:
    ids = awakeable_ids(start_message(1, invocation_id="abc"), 2)

    assert ids[1] == ("prom_1YWJjAAAAAg", 2)


def test_awakeable_id_spec_example() -> None:
    start = v2.StartMessage(id=SPEC_EXAMPLE_ID, debug_id="spec", known_entries=1)

    assert awakeable_ids(start, 1) == [("prom_1NMyOAvDK2CcBjUH4Rmb7eGBp0DNNDnmsAAAAAQ", 1)]


def test_awakeable_id_during_replay_uses_the_replayed_index() -> None:
    # The awakeable entry is replayed at index 1: same id as when it was first created.
    ids: list[tuple[str, int]] = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        ids.append(vm.sys_awakeable())
        vm.sys_end()

    out = (
        invocation()
        .input(start_message(2, invocation_id="123"), input_entry(), v2.AwakeableEntryMessage(value=b"done"))
        .run(handler)
    )

    assert ids == [("prom_1MTIzAAAAAQ", 1)]
    assert out.messages == [end()]


@pytest.mark.parametrize(
    ("invocation_id", "seed"),
    [
        pytest.param("123", 0xA665A45920422F9D, id="123"),  # 11990170285644066717
        pytest.param("abc", 13436514500253700074, id="abc"),
    ],
)
def test_random_seed(invocation_id: str, seed: int) -> None:
    seeds: list[int] = []

    def handler(vm: CoreVM) -> None:
        seeds.append(vm.sys_input().random_seed)
        vm.sys_end()

    invocation().input(start_message(1, invocation_id=invocation_id), input_entry()).run(handler)

    assert seeds == [seed]


def test_input_carries_the_invocation_identity() -> None:
    inputs = []

    def handler(vm: CoreVM) -> None:
        inputs.append(vm.sys_input())
        vm.sys_end()

    invocation().input(start_message(1, invocation_id="abc", key="my-key"), input_entry(b"payload", [("h", "v")])).run(
        handler
    )

    (input,) = inputs
    assert (input.invocation_id, input.key, input.input) == ("abc", "my-key", b"payload")
    assert [(h.key, h.value) for h in input.headers] == [("h", "v")]
