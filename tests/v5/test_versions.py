"""What differs between V5 and V6, and the identifiers both derive (core-v5.md §3.8, §3.9, §2.3).

V6 over V5 is only ``StartMessage.random_seed`` and ``Failure.metadata``: V6 takes the seed from
the StartMessage, V5 computes it as the first 8 bytes of SHA-256(invocation id), big-endian.
Awakeable ids are the same in both: ``sign_1`` + base64url(id ‖ u32 signal id), unpadded.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from restate_core import CoreVM, Failure, Header, Input, Success
from restate_core.protocol import Version, v5
from restate_core.testing import Frame, await_result

from .conftest import (
    SIGNAL,
    both_versions,
    end,
    input_command,
    invocation,
    output_failure,
    output_success,
    start_message,
)


def echo_seed(vm: CoreVM) -> None:
    input = vm.sys_input()
    vm.sys_write_output(Success(str(input.random_seed).encode()))
    vm.sys_end()


def test_v6_random_seed_comes_from_the_start_message() -> None:
    out = invocation(Version.V6).input(start_message(1, random_seed=42), input_command()).run(echo_seed)

    assert out.messages == [output_success(b"42"), end()]


def test_v6_random_seed_zero_when_the_start_message_has_none() -> None:
    # V6 never falls back to hashing the id: an absent field 9 is seed 0.
    out = invocation(Version.V6).input(start_message(1), input_command()).run(echo_seed)

    assert out.messages == [output_success(b"0"), end()]


@pytest.mark.parametrize(
    ("invocation_id", "seed"),
    [(b"123", 11990170285644066717), (b"abc", 13436514500253700074)],
)
def test_v5_random_seed_is_sha256_of_the_invocation_id(invocation_id: bytes, seed: int) -> None:
    # V5 ignores field 9 even when a (newer) runtime sets it.
    out = (
        invocation(Version.V5)
        .input(start_message(1, invocation_id=invocation_id, random_seed=42), input_command())
        .run(echo_seed)
    )

    assert out.messages == [output_success(str(seed).encode()), end()]


@both_versions
def test_input_fields(version: Version) -> None:
    inv = invocation(version).input(
        start_message(1, invocation_id=b"\x01\x02", debug_id="inv_1abc", key="my-key", random_seed=7),
        input_command(b"data", headers=[("a", "1"), ("b", "2")]),
    )
    inv.vm.notify_input_closed()
    sha256_seed = int.from_bytes(hashlib.sha256(b"\x01\x02").digest()[:8], "big")
    seed = 7 if version is Version.V6 else sha256_seed

    # invocation_id is the debug id; the raw id only feeds awakeable ids and the V5 seed.
    assert inv.vm.sys_input() == Input("inv_1abc", seed, "my-key", [Header("a", "1"), Header("b", "2")], b"data")


@both_versions
@pytest.mark.parametrize(
    ("invocation_id", "expected"),
    [
        (b"123", ["sign_1MTIzAAAAEQ", "sign_1MTIzAAAAEg"]),
        (b"abc", ["sign_1YWJjAAAAEQ", "sign_1YWJjAAAAEg"]),
    ],
)
def test_awakeable_ids(version: Version, invocation_id: bytes, expected: list[str]) -> None:
    # The spec's vectors (§3.8): signal ids 17 and 18 for the first two awakeables.
    ids: list[str] = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        ids.append(vm.sys_awakeable()[0])
        ids.append(vm.sys_awakeable()[0])
        vm.sys_write_output(Success(b""))
        vm.sys_end()

    out = invocation(version).input(start_message(1, invocation_id=invocation_id), input_command()).run(handler)

    assert ids == expected
    # Creating an awakeable writes no command.
    assert out.messages == [output_success(b""), end()]


def test_awakeable_id_of_a_real_invocation_id() -> None:
    # A runtime invocation id has 24 bytes: 24 + 4 bytes in unpadded base64url is 38 characters, 44 with the prefix.
    raw_id = bytes(range(250, 256)) + bytes(range(18))
    ids: list[str] = []

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        ids.append(vm.sys_awakeable()[0])
        vm.sys_end()

    invocation().input(start_message(1, invocation_id=raw_id, debug_id="inv_x"), input_command()).run(handler)

    (awakeable_id,) = ids
    assert len(awakeable_id) == 44
    assert awakeable_id.startswith("sign_1")
    assert "=" not in awakeable_id and "+" not in awakeable_id and "/" not in awakeable_id
    assert base64.urlsafe_b64decode(awakeable_id[6:] + "==") == raw_id + (17).to_bytes(4, "big")


@both_versions
def test_awakeable_completed_by_signal(version: Version) -> None:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        _, handle = vm.sys_awakeable()
        result = await_result(vm, handle)
        assert isinstance(result, Success)
        vm.sys_write_output(result)
        vm.sys_end()

    out = (
        invocation(version)
        .input(
            start_message(1),
            input_command(),
            Frame(SIGNAL, v5.NotificationTemplate(signal_id=17, value=v5.Value(content=b"x"))),
        )
        .run(handler)
    )

    assert out.messages == [output_success(b"x"), end()]


def test_v6_failure_metadata_is_dropped() -> None:
    # The old API's Failure has no metadata (core-v5.md §4.1 leaves it to the port): a V6 failure
    # notification with metadata resolves to Failure(code, message).
    failure = v5.Failure(code=409, message="nope", metadata=[v5.FailureMetadata(key="k", value="v")])

    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        _, handle = vm.sys_awakeable()
        result = await_result(vm, handle)
        assert result == Failure(409, "nope")
        vm.sys_write_output(result)
        vm.sys_end()

    out = (
        invocation(Version.V6)
        .input(start_message(1), input_command(), Frame(SIGNAL, v5.NotificationTemplate(signal_id=17, failure=failure)))
        .run(handler)
    )

    # Nor is metadata written back: the output failure has none.
    assert out.messages == [output_failure(409, "nope"), end()]
