"""Bad arguments: a clear TypeError or ValueError, and the VM as if the call never happened.

Each bad call is made on a VM in Processing; then the same valid calls run on
it and on a VM that never saw the bad call, and both must write the same
bytes. So a rejected call neither fails the VM nor leaves a trace in the
journal (no entry, no completion or signal id used up).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from restate_core import CoreVM, Failure, RetryableFailure, RetryPolicy, Success, Target, VMError
from restate_core.protocol import Version, v2, v5
from restate_core.testing import decode_output, encode_input

VERSIONS = [Version.V1, Version.V2, Version.V5, Version.V6]


def processing(version: Version) -> CoreVM:
    proto = v2 if version.is_legacy else v5
    start = proto.StartMessage(id=b"inv", debug_id="inv", known_entries=1, partial_state=False)
    entry = v2.InputEntryMessage() if version.is_legacy else v5.InputCommandMessage()
    vm = CoreVM([("content-type", version.content_type)], clock=lambda: 1000.0)
    vm.notify_input(encode_input(version, [start, entry]))
    vm.sys_input()
    return vm


def valid_calls(vm: CoreVM) -> bytes:
    vm.sys_state_set("k", b"v")
    vm.sys_sleep(timedelta(seconds=1))
    vm.sys_call(Target("S", "h", "key"), b"{}")
    vm.sys_awakeable()
    vm.sys_run_enter("r")
    vm.sys_run_exit(Success(b"1"), RetryPolicy.infinite())
    vm.sys_write_output(Success(b"out"))
    vm.sys_end()
    out = b""
    while chunk := vm.take_output():
        out += chunk
    return out


BAD_CALLS: dict[str, tuple[type[Exception], Callable[[CoreVM], Any]]] = {
    "state get key not str": (TypeError, lambda vm: vm.sys_state_get(b"k")),
    "state set key not str": (TypeError, lambda vm: vm.sys_state_set(1, b"v")),
    "state set value not bytes": (TypeError, lambda vm: vm.sys_state_set("k", "v")),
    "state clear key not str": (TypeError, lambda vm: vm.sys_state_clear(None)),
    "sleep not a timedelta": (TypeError, lambda vm: vm.sys_sleep(5)),
    "sleep negative": (ValueError, lambda vm: vm.sys_sleep(timedelta(seconds=-1))),
    "call target not a Target": (TypeError, lambda vm: vm.sys_call(("S", "h"), b"")),
    "call service not str": (TypeError, lambda vm: vm.sys_call(Target(1, "h"), b"")),  # type: ignore[arg-type]
    "call handler not str": (TypeError, lambda vm: vm.sys_call(Target("S", None), b"")),  # type: ignore[arg-type]
    "call key not str": (TypeError, lambda vm: vm.sys_call(Target("S", "h", 5), b"")),  # type: ignore[arg-type]
    "call input not bytes": (TypeError, lambda vm: vm.sys_call(Target("S", "h"), "{}")),
    "send delay not a timedelta": (TypeError, lambda vm: vm.sys_send(Target("S", "h"), b"", 5)),
    "send service not str": (TypeError, lambda vm: vm.sys_send(Target(b"S", "h"), b"")),  # type: ignore[arg-type]
    "run name not str": (TypeError, lambda vm: vm.sys_run_enter(7)),
    "promise key not str": (TypeError, lambda vm: vm.sys_get_promise(7)),
    "complete awakeable id not str": (TypeError, lambda vm: vm.sys_complete_awakeable(7, Success(b""))),
    "complete awakeable value": (TypeError, lambda vm: vm.sys_complete_awakeable("id", b"")),
    "complete promise key not str": (TypeError, lambda vm: vm.sys_complete_promise(7, Success(b""))),
    "complete promise value not bytes": (TypeError, lambda vm: vm.sys_complete_promise("p", Success("x"))),
    "complete awakeable value not bytes": (TypeError, lambda vm: vm.sys_complete_awakeable("id", Success("x"))),
    "peek promise key not str": (TypeError, lambda vm: vm.sys_peek_promise(7)),
    "output not a value": (TypeError, lambda vm: vm.sys_write_output(b"out")),
    "output value not bytes": (TypeError, lambda vm: vm.sys_write_output(Success("out"))),
    "output failure code": (ValueError, lambda vm: vm.sys_write_output(Failure(70000, "x"))),
    "await handle not int": (TypeError, lambda vm: vm.notify_await_point("1")),
    "await handle None": (TypeError, lambda vm: vm.notify_await_point(None)),
    "take handle not int": (TypeError, lambda vm: vm.take_async_result(1.0)),
    "take handle None": (TypeError, lambda vm: vm.take_async_result(None)),
    # A str with a lone surrogate has no UTF-8 form: UnicodeEncodeError, a ValueError.
    "run name not UTF-8": (ValueError, lambda vm: vm.sys_run_enter("r\ud800")),
    "send service not UTF-8": (ValueError, lambda vm: vm.sys_send(Target("S\ud800", "h"), b"")),
    "send key not UTF-8": (ValueError, lambda vm: vm.sys_send(Target("S", "h", "k\ud800"), b"")),
    "call handler not UTF-8": (ValueError, lambda vm: vm.sys_call(Target("S", "h\ud800"), b"")),
    "state key not UTF-8": (ValueError, lambda vm: vm.sys_state_set("k\ud800", b"")),
    "output failure not UTF-8": (ValueError, lambda vm: vm.sys_write_output(Failure(500, "x\ud800"))),
}

#: Promises exist from V5 on: on V1/V2 these fail the VM whatever the arguments.
BAD_PROMISE_CALLS: dict[str, tuple[type[Exception], Callable[[CoreVM], Any]]] = {
    "promise key not UTF-8": (ValueError, lambda vm: vm.sys_get_promise("p\ud800")),
    "peek promise key not UTF-8": (ValueError, lambda vm: vm.sys_peek_promise("p\ud800")),
    "complete promise key not UTF-8": (ValueError, lambda vm: vm.sys_complete_promise("p\ud800", Success(b""))),
    "complete promise failure not UTF-8": (
        ValueError,
        lambda vm: vm.sys_complete_promise("p", Failure(500, "x\ud800")),
    ),
}


def assert_rejected_without_trace(version: Version, error: type[Exception], call: Callable[[CoreVM], Any]) -> None:
    vm = processing(version)
    with pytest.raises(error):
        call(vm)
    assert valid_calls(vm) == valid_calls(processing(version))


@pytest.mark.parametrize("version", VERSIONS, ids=str)
@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_a_rejected_call_leaves_no_trace(version: Version, case: str) -> None:
    assert_rejected_without_trace(version, *BAD_CALLS[case])


@pytest.mark.parametrize("version", [Version.V5, Version.V6], ids=str)
@pytest.mark.parametrize("case", sorted(BAD_PROMISE_CALLS))
def test_a_rejected_promise_call_leaves_no_trace(version: Version, case: str) -> None:
    assert_rejected_without_trace(version, *BAD_PROMISE_CALLS[case])


@pytest.mark.parametrize("version", VERSIONS, ids=str)
def test_run_exit_rejects_a_policy_that_is_not_one(version: Version) -> None:
    vm = processing(version)
    vm.sys_run_enter("r")
    with pytest.raises(TypeError, match="retry_policy must be a RetryPolicy"):
        vm.sys_run_exit(Success(b"1"), "three times")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Success\.value must be bytes-like"):
        vm.sys_run_exit(Success("1"), RetryPolicy.infinite())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        vm.sys_run_exit(RetryableFailure(Failure(500, "x"), 3), RetryPolicy.infinite())  # type: ignore[arg-type]
    # Still inside the run: a valid exit works and is the only thing written.
    vm.sys_run_exit(Success(b"1"), RetryPolicy.infinite())
    assert vm.take_output()


@pytest.mark.parametrize("version", VERSIONS, ids=str)
def test_call_target_error_names_the_fields(version: Version) -> None:
    with pytest.raises(TypeError, match=r"service=int, handler=str, key=NoneType"):
        processing(version).sys_call(Target(1, "h"), b"")  # type: ignore[arg-type]


@pytest.mark.parametrize("version", VERSIONS, ids=str)
@pytest.mark.parametrize("kind", [bytearray, memoryview], ids=lambda kind: kind.__name__)
def test_bytes_like_values_write_what_bytes_write(version: Version, kind: type) -> None:
    def run(payload: Any) -> bytes:
        vm = processing(version)
        vm.sys_run_enter("r")
        vm.sys_run_exit(Success(payload), RetryPolicy.infinite())
        vm.sys_write_output(Success(payload))
        vm.sys_state_set("k", payload)
        vm.sys_call(Target("S", "h"), payload)
        return vm.take_output() or b""

    long = b"x" * 300  # also the paths for lengths over one varint byte
    for value in (b"1", long):
        assert run(kind(value)) == run(value)


# ---- notify_input: a chunk must be bytes-like ----

NOT_BYTES_LIKE = [5, 0, [1, 2, 3], [], "abc", "", None, 3.5, object()]

#: Where the bad chunk comes in the input (start + input entry): before it, after all of it,
#: with the end of the entry pending as the tail of a chunk, or pending as bytes collected
#: from several chunks.
WHEN = ["before the start", "after the input", "with a tail pending", "with pieces pending"]


@pytest.mark.parametrize("version", VERSIONS, ids=str)
@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("bad", NOT_BYTES_LIKE, ids=repr)
def test_notify_input_rejects_a_chunk_that_is_not_bytes_like(version: Version, when: str, bad: object) -> None:
    proto = v2 if version.is_legacy else v5
    start = proto.StartMessage(id=b"inv", debug_id="inv", known_entries=1, partial_state=False)
    entry = v2.InputEntryMessage(value=b"in") if version.is_legacy else v5.InputCommandMessage()
    data = encode_input(version, [start, entry])
    pieces = {
        "before the start": [data],
        "after the input": [data, b""],
        "with a tail pending": [data[:-3], data[-3:]],
        "with pieces pending": [data[:-3], data[-3:-2], data[-2:]],
    }[when]

    def run(reject: bool) -> bytes:
        # The bad chunk goes in before the last piece; the VM must then be as if it never came.
        vm = CoreVM([("content-type", version.content_type)], clock=lambda: 1000.0)
        for piece in pieces[:-1]:
            vm.notify_input(piece)
        if reject:
            with pytest.raises(TypeError, match=rf"notify_input takes a bytes-like buffer, not {type(bad).__name__}$"):
                vm.notify_input(bad)  # type: ignore[arg-type]
        vm.notify_input(pieces[-1])
        vm.sys_input()
        return valid_calls(vm)

    assert run(reject=True) == run(reject=False)


@pytest.mark.parametrize("bad", NOT_BYTES_LIKE, ids=repr)
def test_notify_input_rejects_a_chunk_that_is_not_bytes_like_once_failed(bad: object) -> None:
    vm = CoreVM([("content-type", Version.V6.content_type)])
    vm.notify_input(b"\xff" * 8)  # not a StartMessage: the VM fails
    with pytest.raises(TypeError, match="bytes-like"):
        vm.notify_input(bad)  # type: ignore[arg-type]
    vm.notify_input(b"more")  # (bytes are still taken, and ignored)


# ---- a handle that no call returned ----


@pytest.mark.parametrize("version", VERSIONS, ids=str)
@pytest.mark.parametrize("handle", [-1, 99, 2**40, 2**70])
@pytest.mark.parametrize("closed_first", [True, False], ids=["input closed first", "awaited first"])
def test_awaiting_a_handle_never_created_fails_instead_of_suspending(
    version: Version, handle: int, closed_first: bool
) -> None:
    # A suspension naming it would be a message no runtime can act on (and past 2**32 not even
    # a valid one): the VM fails with an ErrorMessage instead.
    vm = processing(version)
    if closed_first:
        vm.notify_input_closed()
    vm.notify_await_point(handle)
    if not closed_first:
        vm.notify_input_closed()
    with pytest.raises(VMError) as raised:
        vm.take_async_result(handle)
    assert raised.value.code == 500
    assert f"Awaiting handle {handle}, which was never created" in raised.value.message
    messages = decode_output(version, vm.take_output() or b"")
    assert [type(message).__name__ for message in messages] == ["ErrorMessage"]
