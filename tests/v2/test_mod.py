"""Upstream ``src/tests/mod.rs`` (core-v2.md §7.2)."""

from __future__ import annotations

from .conftest import new_vm


def test_take_output_on_newly_initialized_vm() -> None:
    vm = new_vm()
    assert vm.take_output() == b""
