"""Upstream ``src/tests/mod.rs`` (core-v5.md §7, "mod.rs")."""

from __future__ import annotations

from restate_core import CoreVM, Header, ResponseHead
from restate_core.protocol import Version

from .conftest import both_versions, new_vm


@both_versions
def test_take_output_on_newly_initialized_vm(version: Version) -> None:
    vm = new_vm(version)
    # The output is open and empty: b"" (not None, which would be EOF).
    assert vm.take_output() == b""
    assert vm.take_output() == b""
    assert vm.is_ready_to_execute() is False


def test_instantiate_core_vm_minimum_supported_version() -> None:
    vm = CoreVM({"content-type": "application/vnd.restate.invocation.v5"})
    assert vm.get_response_head() == ResponseHead(
        200, [Header("content-type", "application/vnd.restate.invocation.v5")]
    )


def test_instantiate_core_vm_maximum_supported_version() -> None:
    # The counterpart on the other end of the range: V6 is the newest version we speak (no V7).
    vm = CoreVM({"Content-Type": "application/vnd.restate.invocation.v6"})
    assert vm.get_response_head() == ResponseHead(
        200, [Header("content-type", "application/vnd.restate.invocation.v6")]
    )
